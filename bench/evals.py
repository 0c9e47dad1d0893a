"""Bench: evaluation throughput vs calling the task function in a bare loop on the same examples (issue 17: ≥ 0.9×).

`python -m bench.evals [--rounds N] [--limit ROWS] [--quick]` evaluates each task's sample dataset
(`assets/evals/`, its rows repeated up to ROWS, default 48) in-process, rounds interleaved side by side:
`evaluate(...)` (reading the file, every prediction, the metrics with their bootstrap intervals, the saved
CSV/JSON), then the same task calls written out as a loop over rows read beforehand, then again, alternating
which goes first. It prints per task the median of both, examples per second each way and the throughput ratio
(bare loop time ÷ evaluation time; 1.0 means evaluating costs nothing on top of the predictions; above 1, the
rows shared forward passes). Real packaged weights are used where installed (all-MiniLM-L6-v2 for similarity
and search, SmolLM2-135M GGUF for chat), the tiny kit otherwise and with `--quick`. Timings are noisy: compare
the two columns of one run only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
from bench.pipelines import timed  # noqa: E402  (the same stopwatch as the pipelines bench)

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

TARGET = 0.9  # evaluation throughput ≥ 0.9× the bare loop's
TASKS = ("similarity", "search", "translation", "chat", "image_classification")


def bare_loop(ctx: Any, task: str, data: Any, model: str, corpus: str | None) -> list[Any]:
    """The task function called once per row, as a user would write it; what `evaluate` predicts."""
    from apps.evals.evaluate import CHAT_MAX_NEW_TOKENS, SEARCH_TOP_K

    run, rows = ctx.run_task, data.rows
    if task == "similarity":
        return [run("similarity", f"{r['sentence1']}\n{r['sentence2']}", model=model).matrix[0, 1] for r in rows]
    if task == "search":
        top_k = min(SEARCH_TOP_K, len(Path(corpus).read_text().splitlines()))
        return [run("search", r["query"], corpus_file=corpus, top_k=top_k, model=model).hits for r in rows]
    if task == "translation":
        return [run("translation", r["source"], "English", "French", model=model).text for r in rows]
    if task == "chat":
        tokens = CHAT_MAX_NEW_TOKENS
        return [run("chat", r["prompt"], max_new_tokens=tokens, temperature=0.0, model=model).text for r in rows]
    if task == "image_classification":
        labels = ", ".join(dict.fromkeys(r["label"].strip() for r in rows))
        return [run("image_classification", data.file(r), labels, model=model).best for r in rows]
    raise KeyError(task)


@dataclass
class Row:
    task: str
    kit: str
    examples: int
    evaluate_s: float
    bare_s: float

    @property
    def ratio(self) -> float:
        """Throughput of evaluating ÷ throughput of the bare loop (= bare time ÷ evaluation time)."""
        return self.bare_s / self.evaluate_s

    @property
    def met(self) -> bool:
        return self.ratio >= TARGET


def enlarged(sample: Path, rows: int, folder: Path) -> Path:
    """The sample dataset with its rows repeated up to `rows` (a zip's files kept once): the same kind of work,
    enough of it that the evaluation's fixed costs (reading, metrics, saving) weigh what they do in real use."""
    import csv
    import io
    import zipfile

    def repeated(text: str) -> str:
        records = list(csv.DictReader(io.StringIO(text)))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records[i % len(records)] for i in range(rows))
        return out.getvalue()

    target = folder / sample.name
    if sample.suffix == ".csv":
        target.write_text(repeated(sample.read_text(encoding="utf-8")), encoding="utf-8")
    elif sample.suffix == ".zip":
        with zipfile.ZipFile(sample) as source, zipfile.ZipFile(target, "w") as copy:
            for item in source.infolist():
                data = source.read(item)
                if item.filename == "metadata.csv":
                    data = repeated(data.decode("utf-8")).encode("utf-8")
                copy.writestr(item, data)
    else:
        raise ValueError(f"cannot enlarge {sample.name}")
    return target


def models_for(quick: bool) -> tuple[dict[str, str], tuple[Path, ...]]:
    """Task → the real packaged model to evaluate (where installed, unless quick), and their folders."""
    from bench.kits import real_models

    if quick:
        return {}, ()
    real, models, folders = real_models(), {}, []
    if real.minilm is not None:
        models |= {"similarity": str(real.minilm), "search": str(real.minilm)}
        folders.append(real.minilm)
    if real.smollm2 is not None:
        folder, gguf = real.smollm2
        models["chat"] = f"{folder}#{gguf}"
        folders.append(folder)
    return models, tuple(folders)


def measure(rounds: int = 5, limit: int = 48, quick: bool = False, only: list[str] | None = None) -> list[Row]:
    """Each task's sample: evaluate vs the bare loop, interleaved, after one warm-up of each (model loads)."""
    from task_contexts import tiny_manager

    from apps import SPECS
    from apps.core.settings import Settings
    from apps.core.spec import TaskContext
    from apps.evals.datasets import read_dataset
    from apps.evals.evaluate import EVAL_TASKS, _search_corpus, evaluate
    from bench.kits import tiny_kit

    kit = tiny_kit()  # the whole kit (reused): see tiny_models.build_kit
    real, folders = models_for(quick)
    settings = Settings(
        models_file=kit.models_file,
        offline=True,
        memory_budget="none",
        local_model_dirs=(kit.folder, *folders),
        data_dir=ROOT / ".cache" / "bench" / "evals-data",
    )
    ctx = TaskContext(SPECS["evals"], settings, tiny_manager(settings), SPECS)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-evals-"))
    for task in TASKS:
        if only and task not in only:
            continue
        spec = EVAL_TASKS[task]
        sample = enlarged(ROOT / "assets" / "evals" / spec.sample, limit, work)
        model = real.get(task, "")
        data = read_dataset(sample, spec.columns, limit, needs_files=spec.needs_files)
        corpus = _search_corpus(data) if task == "search" else None  # the bare loop's corpus, written once

        def evaluated(task: str = task, sample: Path = sample, model: str = model) -> None:
            evaluate(ctx, task, sample, model, limit)

        def bare(task: str = task, data: Any = data, model: str = model, corpus: str | None = corpus) -> None:
            bare_loop(ctx, task, data, model, corpus)

        try:
            evaluated(), bare()  # warm-up: model loads, first-call costs
            evaluate_times, bare_times = [], []
            for number in range(rounds):
                first, second = (evaluated, bare) if number % 2 == 0 else (bare, evaluated)
                a, b = timed(first), timed(second)
                evaluate_times.append(a if first is evaluated else b)
                bare_times.append(b if first is evaluated else a)
        finally:
            data.remove_files()
            if corpus:
                shutil.rmtree(Path(corpus).parent, ignore_errors=True)
        kit_name = "real" if model else "tiny"
        rows.append(
            Row(task, kit_name, len(data.rows), statistics.median(evaluate_times), statistics.median(bare_times))
        )
    shutil.rmtree(work, ignore_errors=True)
    return rows


def report(rows: list[Row]) -> str:
    lines = [
        "| task | kit | examples | evaluate (s) | bare loop (s) | evaluate (examples/s) | bare (examples/s) "
        f"| throughput ratio | ≥ {TARGET}× |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.task} | {row.kit} | {row.examples} | {row.evaluate_s:.3f} | {row.bare_s:.3f} | "
            f"{row.examples / row.evaluate_s:.1f} | {row.examples / row.bare_s:.1f} | {row.ratio:.3f} | "
            f"{'yes' if row.met else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per task (after one warm-up)")
    parser.add_argument("--limit", type=int, default=48, help="rows per task (the sample's, repeated up to this)")
    parser.add_argument("--quick", action="store_true", help="the tiny kit only")
    parser.add_argument("--only", action="append", metavar="TASK", help="just this task (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench-evals.json")
    args = parser.parse_args(argv)
    rows = measure(args.rounds, args.limit, args.quick, args.only)
    print(report(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"rounds": args.rounds, "rows": [asdict(row) | {"ratio": row.ratio} for row in rows]}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
