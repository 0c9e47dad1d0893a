"""`python -m bench [--quick] [--real] [--out DIR]`: run every figure and write BENCHMARKS.md + chart."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench import server  # noqa: F401  # sets the offline environment before gradio is imported
from bench.kits import Kit, RealModels, medium_kit, real_models, tiny_kit
from bench.notes import sections
from bench.report import Row, chart, machine, markdown
from bench.server import ROOT

FIGURES = {1: "cold start", 2: "API overhead", 3: "chat streaming", 4: "memory", 5: "segmentation", 6: "throughput"}
REAL_TASKS = ("similarity", "search", "chat")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny models only, very few repeats")
    parser.add_argument(
        "--real", action="store_true", help="also run on the real packaged models (SmolLM2-135M GGUF, MiniLM)"
    )
    parser.add_argument("--out", type=Path, default=ROOT, help="folder for BENCHMARKS.md, benchmarks.png/.json")
    parser.add_argument("--repeats", type=int, help="rounds per timed figure (default 7, --quick 1)")
    parser.add_argument(
        "--figures",
        default="1,2,3,4,5,6",
        help="which figures, e.g. 2,6 (" + ", ".join(f"{k} {v}" for k, v in FIGURES.items()) + ")",
    )
    parser.add_argument(
        "--rewrite", action="store_true", help="only rewrite BENCHMARKS.md and the chart from OUT/benchmarks.json"
    )
    parser.add_argument("--kits", default="", help="only these model kits, e.g. medium,real (default: all that apply)")
    return parser.parse_args(argv)


class Run:
    """Collects rows as figures finish; a figure that fails becomes a row saying so."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def figure(self, number: int, label: str, work: Callable[[], list[Row]]) -> None:
        started = time.perf_counter()
        print(f"[bench] figure {number} ({label}) …", flush=True)
        try:
            rows = work()
        except Exception as exc:
            rows = [
                Row(
                    f"{number}. {FIGURES[number]}",
                    label,
                    "",
                    None,
                    False,
                    None,
                    "",
                    f"failed: {type(exc).__name__}: {exc}"[:400],
                )
            ]
            print(f"[bench] figure {number} ({label}) failed: {exc}", file=sys.stderr, flush=True)
        self.rows += rows
        print(f"[bench] figure {number} ({label}) done in {time.perf_counter() - started:.0f} s", flush=True)


def real_overrides(real: RealModels) -> dict[str, str]:
    """Task → model ref of the real packaged weights found here."""
    models = {}
    if real.minilm is not None:
        models["similarity"] = models["search"] = str(real.minilm)
    if real.smollm2 is not None:
        folder, gguf = real.smollm2
        models["chat"] = f"{folder}#{gguf}"
    return models


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # These figures compare the app with bare transformers calls on the same loaded objects, so a GGUF chat
    # model (the real SmolLM2) stays on the transformers engine here; `python -m bench.gguf` measures llama.cpp.
    os.environ.setdefault("SHOWCASE_GGUF_ENGINE", "transformers")
    if args.rewrite:
        return rewrite(args.out)
    repeats = args.repeats or (1 if args.quick else 7)
    wanted = {int(number) for number in args.figures.split(",") if number.strip()}
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    load_before = os.getloadavg()
    started = time.perf_counter()

    tiny = tiny_kit()
    kits: list[tuple[Kit, dict[str, str]]] = [(tiny, {})]
    if not args.quick:
        kits.append((medium_kit(tiny), {}))
    real = real_models() if args.real else RealModels(None, None)
    overrides = real_overrides(real)
    if overrides:
        kits.append((Kit("real", kits[-1][0].models_file, kits[-1][0].folder), overrides))
    if args.kits:
        chosen = {name.strip() for name in args.kits.split(",")}
        kits = [(kit, models) for kit, models in kits if kit.name in chosen]
    from bench import rows

    # (figure, label, work, runs in subprocesses): in --quick mode those run beside the others, to save time.
    work: list[tuple[int, str, Callable[[], list[Row]], bool]] = []
    if 1 in wanted:
        runs = 1 if args.quick else max(3, repeats // 2)
        work.append((1, "cold start", lambda: rows.cold_start_rows(runs, warm=not args.quick), True))
    if 4 in wanted:
        for kit, models in [(k, m) for k, m in kits if args.quick or k.name != "tiny"]:
            memory = lambda kit=kit, models=models: rows.memory_rows(kit, models, scratch, tiny)  # noqa: E731
            work.append((4, f"memory · {kit.name}", memory, True))
    if wanted & {2, 3, 6}:
        for kit, models in kits:
            only = REAL_TASKS if kit.name == "real" else None
            served = lambda kit=kit, models=models, only=only: rows.served_rows(  # noqa: E731
                kit, models, wanted, repeats, only=only, quick=args.quick
            )
            work.append((min(wanted & {2, 3, 6}), f"served figures · {kit.name}", served, False))
    if 5 in wanted:
        work.append((5, "segmentation", lambda: rows.segmentation_rows(tiny, repeats, quick=args.quick), False))
    run = Run()
    beside = [item for item in work if item[3]] if args.quick else []
    threads = [threading.Thread(target=run.figure, args=item[:3]) for item in beside]
    for thread in threads:
        thread.start()
    for item in work:
        if item not in beside:
            run.figure(*item[:3])
    for thread in threads:
        thread.join()
    run.rows.sort(key=lambda row: row.figure.split(".")[0])

    elapsed = time.perf_counter() - started
    header = header_text(args, repeats, load_before, elapsed, real)
    data = {"header": header, "rows": [row.as_dict() for row in run.rows]}
    (args.out / "benchmarks.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
    write_report(args.out, header, run.rows)
    print(f"[bench] wrote {args.out / 'BENCHMARKS.md'} in {elapsed:.0f} s", flush=True)
    return 0


def write_report(out: Path, header: str, measured: list[Row]) -> None:
    """BENCHMARKS.md and benchmarks.png in `out` from measured rows."""
    chart(measured, out / "benchmarks.png")
    (out / "BENCHMARKS.md").write_text(markdown(measured, header, sections(measured), "benchmarks.png"))


def rewrite(out: Path) -> int:
    """Write BENCHMARKS.md and the chart again from `out/benchmarks.json` (after editing bench/notes.py)."""
    data = json.loads((out / "benchmarks.json").read_text())
    fields = set(Row.__dataclass_fields__)
    write_report(out, data["header"], [Row(**{k: v for k, v in row.items() if k in fields}) for row in data["rows"]])
    print(f"[bench] rewrote {out / 'BENCHMARKS.md'}", flush=True)
    return 0


def header_text(
    args: argparse.Namespace, repeats: int, load_before: tuple[float, ...], elapsed: float, real: RealModels
) -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "?"
    command = "python -m bench" + (" --quick" if args.quick else "") + (" --real" if args.real else "")
    found = [
        name
        for name, value in (("SmolLM2-135M-Instruct GGUF", real.smollm2), ("all-MiniLM-L6-v2", real.minilm))
        if value
    ]
    return (
        f"Measured by `{command}` on {time.strftime('%Y-%m-%d %H:%M')} at commit `{commit}`, {elapsed / 60:.0f} min, "
        f"{repeats} rounds per timed figure. Machine: {machine()}; load average at start "
        f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}, at the end "
        f"{os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} / {os.getloadavg()[2]:.2f} (1 / 5 / 15 min). "
        f"Real weights: {', '.join(found) or 'not used'}. Every ratio compares two things measured in the same "
        "run, interleaved round by round; nothing is compared with an absolute time. Rerun: see the end of this file."
    )


if __name__ == "__main__":
    sys.exit(main())
