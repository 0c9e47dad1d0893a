"""`python -m bench.metrics [--quick] [--requests N] [--out FILE]`: what counting costs.

Two copies of the app in this process, built the same way on the tiny kit, one with `SHOWCASE_METRICS=true`
(every endpoint counted, the bench's echo too) and one with it off, hit by one client each, one request at a
time and alternating between the two (the order flips every pair), so drift on a shared machine hits both
alike. Per endpoint — the empty echo (`/bench_echo`: one API round trip with nothing inside, so the counting
is the largest share it can be) and `/similarity` on its reference request — the throughput with metrics on ÷
off, from the median request of each side (target ≥ 0.97: within 3 %). It also times the counting seam itself
in-process (a wrapped echo function against the bare one) and gives the ratio that cost alone implies for the
echo's round trip. Prints a table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.server import ECHO_API, ROOT, add_probes, new_client, settings_for  # sets the offline environment
from bench.stats import interleaved

TARGET = 0.97  # throughput with metrics on ÷ off
ENDPOINTS = (ECHO_API, "/similarity")
WARMUP = 5  # requests to each side first, unrecorded (connections, first-call costs)


@contextmanager
def served(models_file: Path, metrics: bool) -> Iterator[Any]:
    """The app as `python app.py` builds it, plus the bench's probes, counted too when `metrics` is on."""
    from app import build_demo, known_models, launch
    from apps.monitoring import gradio_hook

    settings = settings_for(models_file).model_copy(update={"metrics": metrics})
    demo = build_demo(settings)
    add_probes(demo)
    if metrics:  # the probes were added after build_demo counted the app's endpoints: count them too
        gradio_hook.instrument(demo, known_models=known_models(demo.manager))
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    try:
        yield new_client(f"http://127.0.0.1:{settings.port}/")
    finally:
        demo.close()


def request_inputs(api_name: str) -> list[Any]:
    """The positional inputs of the endpoint's reference request (the echo sends a short text)."""
    if api_name == ECHO_API:
        return ["Two sentences to compare."]
    from apps import SPECS

    (request,) = [r for spec in SPECS.values() for r in spec.requests if r.api_name == api_name]
    return list(request.inputs.values())


def counted(api_name: str) -> int:
    """Requests to `api_name` the process's metrics have recorded."""
    from apps.monitoring.metrics import METRICS

    return sum(1 for sample in tuple(METRICS.samples) if sample[1] == api_name)


def measure(requests: int) -> list[dict[str, Any]]:
    from bench.kits import tiny_kit

    kit = tiny_kit()  # the whole kit (reused): a partial one would rewrite the shared models.toml
    rows = []
    with ExitStack() as stack:
        clients = {state: stack.enter_context(served(kit.models_file, state == "on")) for state in ("on", "off")}
        for api_name in ENDPOINTS:
            inputs = request_inputs(api_name)
            before = counted(api_name)
            # One request per call: pairs alternate their order, so a slow second on the machine lands on both.
            stats = interleaved(
                {
                    state: (lambda _n, c=client, i=inputs, a=api_name: c.predict(*i, api_name=a))
                    for state, client in clients.items()
                },
                requests,
                warmup=WARMUP,
            )
            on, off = stats["on"], stats["off"]
            rows.append(
                {
                    "endpoint": api_name,
                    "requests": requests,
                    "on_requests_per_second": 1 / on.median,
                    "off_requests_per_second": 1 / off.median,
                    "ratio": off.median / on.median,  # throughput on ÷ off
                    "target": TARGET,
                    # Requests the metrics counted: the "on" app's, warm-up included, none of the other's.
                    "counted": counted(api_name) - before,
                    "sent_to_on": requests + WARMUP,
                    "on_seconds": on.samples,
                    "off_seconds": off.samples,
                }
            )
    return rows


def seam_cost(repeats: int, calls: int) -> dict[str, Any]:
    """Seconds the counting seam adds to one request, in-process: an echo function wrapped as `instrument`
    wraps every endpoint against the bare function, rounds interleaved. Unlike the served comparison this
    has no network or client in it, so it stays readable on a busy machine."""
    from apps.monitoring.gradio_hook import _wrap
    from apps.monitoring.metrics import Metrics

    def echo(text: str) -> str:
        return text

    wrapped = _wrap(echo, ECHO_API, Metrics())

    def run(fn: Any) -> None:
        for _ in range(calls):
            fn("Two sentences to compare.")

    stats = interleaved({"counted": lambda _n: run(wrapped), "bare": lambda _n: run(echo)}, repeats, warmup=1)
    return {"calls_per_round": calls, "seconds_per_request": (stats["counted"].median - stats["bare"].median) / calls}


def report(rows: list[dict[str, Any]], seam: dict[str, Any]) -> str:
    lines = [
        "| endpoint | metrics on | metrics off | on ÷ off | target |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        met = "met" if row["ratio"] >= row["target"] else "missed"
        lines.append(
            f"| `{row['endpoint']}` | {row['on_requests_per_second']:.1f} req/s | "
            f"{row['off_requests_per_second']:.1f} req/s | {row['ratio']:.3f} | ≥ {row['target']} ({met}) |"
        )
    echo = next(row for row in rows if row["endpoint"] == ECHO_API)
    cost, round_trip = seam["seconds_per_request"], 1 / echo["off_requests_per_second"]
    lines.append(
        f"\nThe counting seam in-process: {cost * 1e6:.1f} µs per request, against an echo round trip of "
        f"{round_trip * 1e3:.1f} ms: on ÷ off = {1 - cost / round_trip:.4f} from that cost alone."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few requests")
    parser.add_argument("--requests", type=int, help="requests to each side per endpoint (default 400, --quick 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench-metrics.json")
    args = parser.parse_args(argv)
    requests = args.requests or (3 if args.quick else 400)
    rows = measure(requests)
    seam = seam_cost(1 if args.quick else 9, 200 if args.quick else 20_000)
    echo = next(row for row in rows if row["endpoint"] == ECHO_API)
    seam["ratio"] = 1 - seam["seconds_per_request"] * echo["off_requests_per_second"]  # implied on ÷ off
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"quick": args.quick, "rows": rows, "seam": seam}, indent=1))
    print(report(rows, seam))
    print(f"[bench.metrics] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
