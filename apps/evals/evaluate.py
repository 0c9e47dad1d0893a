"""Evaluate: a dataset and one or more models → each task's metrics with bootstrap 95 % intervals, a table
of every example, and the results saved under `SHOWCASE_DATA_DIR/evals/`.

Predictions come from the tasks' own task functions, called through the TaskContext (`ctx.run_task`), so
an evaluation measures exactly what the tab and the API serve. Each task's columns and metrics are one
`EvalTask` row of EVAL_TASKS.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from apps.core import storage
from apps.core.errors import InputError, ShowcaseError
from apps.core.manager import ProgressFn
from apps.core.spec import TaskContext
from apps.evals import metrics as m
from apps.evals.datasets import Dataset, read_dataset
from apps.shared.batching import MAX_BATCH
from apps.shared.chat_engine import text_likelihood

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_MODELS = 4
MAX_MODELS_CHARS = 4_000
RECALL_AT = (1, 5, 10)
SEARCH_TOP_K = 100  # the search task's own maximum: a relevant passage ranked lower counts as not found
CHAT_MAX_NEW_TOKENS = 64
METRIC_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high", "n"]
EXAMPLE_COLUMNS = ["model", "input", "reference", "prediction", "score"]

Predict = Callable[[TaskContext, Dataset, dict[str, str], str], Any]  # → the prediction for one row


@dataclass(frozen=True)
class EvalTask:
    """How one task is evaluated: its columns, how a row is predicted, and the metrics on the predictions."""

    key: str
    columns: tuple[str, ...]
    predict: Predict
    metrics: dict[str, m.Metric]
    example_score: tuple[str, Callable[[Any, Any], float]]  # (name, (reference, prediction) → the row's score)
    input_column: str
    reference: Callable[[dict[str, str]], Any] = lambda row: row["reference"]
    needs_files: bool = False
    sample: str = ""  # the sample dataset under assets/evals/
    batches: bool = False  # the task shares forward passes between concurrent calls: rows are sent together
    uses: str = ""  # the registry task whose models are evaluated, when it is not `key` (perplexity: chat)
    shows: Callable[[Any], Any] = lambda prediction: prediction  # a prediction as the examples table shows it

    @property
    def task(self) -> str:
        """The registry task whose model (configured, or the ones asked for) is evaluated."""
        return self.uses or self.key


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _number(row: dict[str, str]) -> float:
    try:
        value = float(row["score"])
    except ValueError:
        raise InputError(f"score {row['score'][:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"score {row['score'][:40]!r} is not a finite number")
    return value


def _similarity(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> float:
    result = ctx.run_task("similarity", f"{_one_line(row['sentence1'])}\n{_one_line(row['sentence2'])}", model=model)
    return float(result.matrix[0, 1])


def _search_corpus(dataset: Dataset) -> str:
    """A file of every passage of the dataset (relevant ones and the `corpus` column's distractors), written once."""
    if "corpus_file" not in dataset.extras:
        passages: dict[str, None] = {}
        for row in dataset.rows:
            for column in ("passage", "corpus"):
                if row.get(column, "").strip():
                    passages.setdefault(_one_line(row[column]), None)
        corpus = Path(tempfile.mkdtemp(prefix="showcase-eval-corpus-")) / "corpus.txt"
        corpus.write_text("\n".join(passages), encoding="utf-8")
        dataset.extras["corpus_file"] = str(corpus)
        dataset.extras["corpus_size"] = len(passages)
    return dataset.extras["corpus_file"]


def _search(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> int:
    """The rank (1 = first) of the row's relevant passage among the whole corpus; 0 when not in the top 100."""
    corpus = _search_corpus(dataset)
    k = min(SEARCH_TOP_K, dataset.extras["corpus_size"])
    result = ctx.run_task("search", row["query"], corpus_file=corpus, top_k=k, model=model)
    relevant = _one_line(row["passage"])
    return next((hit.rank for hit in result.hits if hit.passage == relevant), 0)


def _translation(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> str:
    source, target = row.get("source_language") or "English", row.get("target_language") or "French"
    return ctx.run_task("translation", row["source"], source, target, model=model).text


def _summarization(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> str:
    return ctx.run_task("summarization", row["document"], model=model).text


def _asr(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> str:
    return ctx.run_task("asr", dataset.file(row), model=model).text


def _labels(dataset: Dataset, row: dict[str, str]) -> str:
    """The row's candidate labels (its `labels` column), else every label of the dataset."""
    if row.get("labels", "").strip():
        return row["labels"]
    if "labels" not in dataset.extras:
        dataset.extras["labels"] = ", ".join(dict.fromkeys(r["label"].strip() for r in dataset.rows))
    return dataset.extras["labels"]


def _audio_classification(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> str:
    return ctx.run_task("audio_classification", dataset.file(row), _labels(dataset, row), model=model).best


def _image_classification(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> str:
    return ctx.run_task("image_classification", dataset.file(row), _labels(dataset, row), model=model).best


def _vqa(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> str:
    return ctx.run_task("vqa", dataset.file(row), row["question"], model=model).text


def _captioning(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> str:
    return ctx.run_task("captioning", dataset.file(row), model=model).text


def _chat(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> str:
    return ctx.run_task("chat", row["prompt"], max_new_tokens=CHAT_MAX_NEW_TOKENS, temperature=0.0, model=model).text


def _likelihood(ctx: TaskContext, dataset: Dataset, row: dict[str, str], model: str) -> tuple[float, int]:
    """(Σ ln p, tokens) of the row's text under the chat model (as its reply to the row's prompt, if any)."""
    with ctx.for_task("chat").use(model) as engine:
        return text_likelihood(engine, row["text"], (row.get("prompt") or "").strip())


def _row_perplexity(reference: Any, prediction: tuple[float, int]) -> float:
    return m.perplexity([reference], [prediction])


def _label(row: dict[str, str]) -> str:
    return " ".join(row["label"].split())


def _hit_at(k: int) -> m.Metric:
    return m.mean_of(lambda reference, rank: 1.0 if 0 < rank <= k else 0.0)


_mrr = m.mean_of(lambda reference, rank: 1.0 / rank if rank > 0 else 0.0)


def _same(reference: str, prediction: str) -> float:
    return float(m.normalise(reference) == m.normalise(prediction))


def _row_wer(reference: str, prediction: str) -> float:
    return m.wer([reference], [prediction])


def _row_rouge(reference: str, prediction: str) -> float:
    return m.rougeL([reference], [prediction])


def _row_contains(reference: str, prediction: str) -> float:
    return m.contains([reference], [prediction])


EVAL_TASKS: dict[str, EvalTask] = {
    task.key: task
    for task in (
        EvalTask(
            "similarity",
            ("sentence1", "sentence2", "score"),
            _similarity,
            {"spearman": m.spearman, "pearson": m.pearson},
            ("cosine", lambda reference, prediction: prediction),
            "sentence1",
            reference=_number,
            sample="similarity.csv",
            batches=True,
        ),
        EvalTask(
            "search",
            ("query", "passage"),
            _search,
            {**{f"recall@{k}": _hit_at(k) for k in RECALL_AT}, "mrr": _mrr},
            ("reciprocal_rank", lambda reference, rank: 1.0 / rank if rank > 0 else 0.0),
            "query",
            reference=lambda row: _one_line(row["passage"]),
            sample="search.csv",
        ),
        EvalTask(
            "translation",
            ("source", "reference"),
            _translation,
            {"chrf": m.chrf, "bleu": m.bleu},
            ("chrf", m.sentence_chrf),
            "source",
            sample="translation.csv",
        ),
        EvalTask(
            "summarization",
            ("document", "reference"),
            _summarization,
            {"rouge1": m.rouge1, "rouge2": m.rouge2, "rougeL": m.rougeL},
            ("rougeL", _row_rouge),
            "document",
            sample="summarization.jsonl",
        ),
        EvalTask(
            "asr",
            ("reference",),
            _asr,
            {"wer": m.wer, "cer": m.cer},
            ("wer", _row_wer),
            "file_name",
            needs_files=True,
            sample="asr.zip",
        ),
        EvalTask(
            "audio_classification",
            ("label",),
            _audio_classification,
            {"accuracy": m.accuracy, "macro_f1": m.macro_f1},
            ("correct", _same),
            "file_name",
            reference=_label,
            needs_files=True,
            sample="audio_classification.zip",
        ),
        EvalTask(
            "image_classification",
            ("label",),
            _image_classification,
            {"accuracy": m.accuracy, "macro_f1": m.macro_f1},
            ("correct", _same),
            "file_name",
            reference=_label,
            needs_files=True,
            sample="image_classification.zip",
            batches=True,
        ),
        EvalTask(
            "vqa",
            ("question", "reference"),
            _vqa,
            {"exact_match": m.exact_match, "contains": m.contains},
            ("exact_match", _same),
            "question",
            needs_files=True,
            sample="vqa.zip",
        ),
        EvalTask(
            "captioning",
            ("reference",),
            _captioning,
            {"chrf": m.chrf, "exact_match": m.exact_match, "contains": m.contains},
            ("chrf", m.sentence_chrf),
            "file_name",
            needs_files=True,
            sample="captioning.zip",
        ),
        EvalTask(
            "chat",
            ("prompt", "reference"),
            _chat,
            {"exact_match": m.exact_match, "contains": m.contains},
            ("contains", _row_contains),
            "prompt",
            sample="chat.csv",
        ),
        EvalTask(
            "perplexity",
            ("text",),
            _likelihood,
            {"perplexity": m.perplexity},
            ("perplexity", _row_perplexity),
            "text",
            reference=lambda row: "",  # a text is scored on its own: there is no reference to compare with
            sample="perplexity.csv",
            uses="chat",
            shows=lambda likelihood: f"{likelihood[1]} tokens, Σ ln p = {likelihood[0]:.3f}",
        ),
    )
}


@dataclass
class Evaluation:
    """An evaluation's results: the metrics table, the per-example table, the saved files and any warnings."""

    task: str
    metrics: pd.DataFrame  # METRIC_COLUMNS: one row per (model, metric)
    examples: pd.DataFrame  # EXAMPLE_COLUMNS: one row per (model, example)
    path: Path  # results.json (metrics, examples and warnings); metrics.csv and examples.csv beside it
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # model → seconds spent predicting


def check_task(task: Any) -> EvalTask:
    if not isinstance(task, str) or task.strip() not in EVAL_TASKS:
        raise InputError(f"Pick a task to evaluate: one of {', '.join(EVAL_TASKS)}.")
    return EVAL_TASKS[task.strip()]


def check_limit(limit: Any) -> int:
    if limit is None or limit == "":
        return DEFAULT_LIMIT
    try:
        value = int(limit)
    except (TypeError, ValueError):
        raise InputError("The limit must be a whole number of rows.") from None
    if not 1 <= value <= MAX_LIMIT:
        raise InputError(f"The limit must be between 1 and {MAX_LIMIT:,} rows.")
    return value


def parse_models(models: Any) -> list[str]:
    """Newline-separated model refs → distinct refs in order; empty means the task's configured model ('')."""
    if isinstance(models, list | tuple):
        models = "\n".join(str(item) for item in models)
    if models is not None and not isinstance(models, str):
        raise InputError("Models must be text: one model reference per line (empty for the task's model).")
    if models and len(models) > MAX_MODELS_CHARS:
        raise InputError(f"The model list is {len(models):,} characters long; give at most {MAX_MODELS} model ids.")
    refs = list(dict.fromkeys(line.strip() for line in (models or "").splitlines() if line.strip())) or [""]
    if len(refs) > MAX_MODELS:
        raise InputError(f"{len(refs)} models is too many for one evaluation; evaluate at most {MAX_MODELS} at a time.")
    return refs


def predict_all(
    ctx: TaskContext,
    task: EvalTask,
    dataset: Dataset,
    model: str,
    progress: ProgressFn | None,
    warnings: list[str],
    models_first: str = "",
    stop: threading.Event | None = None,
) -> tuple[list[int], list[Any], list[Any]]:
    """(row numbers, references, predictions) of the rows `model` could answer; rows it could not are warned.

    A task that batches (`EvalTask.batches`) gets its rows MAX_BATCH at a time, from as many threads, so
    they share its forward passes; the others one by one. Once `stop` is set it ends before the next rows:
    what was predicted so far is returned."""
    kept, references, predictions = [], [], []
    failures: list[str] = []
    name = model or ctx.for_task(task.task).configured_model().source
    rows = dataset.rows
    size = MAX_BATCH if task.batches else 1

    def attempt(row: dict[str, str]) -> tuple[Any, ShowcaseError | None]:
        try:
            return task.predict(ctx, dataset, row, model), None
        except ShowcaseError as exc:
            return None, exc

    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="evaluate") as pool:
        for start in range(0, len(rows), size):
            if stop is not None and stop.is_set():
                break
            if progress is not None:
                progress((start, len(rows)), desc=f"{name}: example {start + 1} of {len(rows)}")
            chunk = []
            for number in range(start, min(start + size, len(rows))):
                try:
                    chunk.append((number, task.reference(rows[number])))
                except InputError as exc:  # the dataset's fault, the same for every model: said once
                    if model == models_first:
                        warnings.append(f"Example {number + 1}: {exc}; skipped.")
            outcomes = pool.map(attempt, [rows[number] for number, _ in chunk]) if size > 1 else None
            for number, reference in chunk:
                prediction, error = next(outcomes) if outcomes is not None else attempt(rows[number])
                if error is not None:
                    failures.append(str(error))
                    if len(failures) <= 5:
                        warnings.append(f"{name}, example {number + 1}: {error}")
                    continue
                kept.append(number)
                references.append(reference)
                predictions.append(prediction)
    if not kept and failures:
        raise InputError(f"{name} answered none of the examples: {failures[0]}")
    return kept, references, predictions


def evaluate(
    ctx: TaskContext,
    task: str,
    dataset: str | Path | None,
    models: str = "",
    limit: int = DEFAULT_LIMIT,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> Evaluation:
    """Each model's metrics on the first `limit` rows of the dataset, with 95 % intervals; saved under data_path.

    Setting `stop` (the tab's Stop button) ends it before the next example: the metrics are then on the
    examples done so far, a warning says how many, and models not yet started are left out."""
    spec = check_task(task)
    refs = parse_models(models)
    rows = check_limit(limit)
    if spec.task not in ctx.specs:
        raise InputError(f"This app has no {spec.task} task to evaluate.")
    data = read_dataset(
        dataset, spec.columns, rows, needs_files=spec.needs_files, max_bytes=ctx.settings.max_upload_bytes
    )
    try:
        return _evaluate(ctx, spec, data, refs, progress, stop)
    finally:
        data.remove_files()
        if "corpus_file" in data.extras:
            shutil.rmtree(Path(data.extras["corpus_file"]).parent, ignore_errors=True)


def _not_started(refs: list[str]) -> str:
    return f"Stopped: {', '.join(ref or 'the task model' for ref in refs)} not evaluated."


def _evaluate(
    ctx: TaskContext,
    spec: EvalTask,
    data: Dataset,
    refs: list[str],
    progress: ProgressFn | None,
    stop: threading.Event | None = None,
) -> Evaluation:
    warnings = list(data.warnings)
    metric_rows: list[list[Any]] = []
    example_rows: list[list[Any]] = []
    seconds: dict[str, float] = {}
    for index, model in enumerate(refs):
        name = model or str(ctx.for_task(spec.task).configured_model())
        if stop is not None and stop.is_set() and index:  # stopped during the model before: the rest wait
            warnings.append(_not_started(refs[index:]))
            break
        started = time.perf_counter()
        kept, references, predictions = predict_all(ctx, spec, data, model, progress, warnings, refs[0], stop)
        seconds[name] = time.perf_counter() - started
        if stop is not None and stop.is_set():
            if not kept:
                if not metric_rows:
                    raise InputError("Stopped before any example was evaluated: nothing to report.")
                warnings.append(_not_started(refs[index:]))
                break
            warnings.append(
                f"Stopped: {name} answered {len(kept)} of {len(data.rows)} examples; its metrics are on those."
            )
        for metric, function in spec.metrics.items():
            estimate = m.bootstrap(function, references, predictions)
            if math.isnan(estimate.value):
                warnings.append(f"{name}: {metric} is undefined on {estimate.n} example(s) (too few or all equal).")
            metric_rows.append([name, metric, estimate.value, estimate.low, estimate.high, estimate.n])
        score = spec.example_score[1]
        for number, reference, prediction in zip(kept, references, predictions, strict=True):
            row = data.rows[number]
            shown = row[spec.input_column] if spec.input_column != "file_name" else row.get("original_file", "")
            example_rows.append([name, shown, reference, spec.shows(prediction), float(score(reference, prediction))])
    metrics_frame = pd.DataFrame(metric_rows, columns=METRIC_COLUMNS)
    examples_frame = pd.DataFrame(example_rows, columns=EXAMPLE_COLUMNS)
    path = save(ctx, spec.key, metrics_frame, examples_frame, warnings, seconds)
    if progress is not None:
        progress(1.0, desc="Done")
    return Evaluation(spec.key, metrics_frame, examples_frame, path, warnings, seconds)


def _clean(value: Any) -> Any:
    """JSON has no NaN: an undefined metric is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save(
    ctx: TaskContext,
    task: str,
    metrics_frame: pd.DataFrame,
    examples_frame: pd.DataFrame,
    warnings: list[str],
    seconds: dict[str, float],
) -> Path:
    """Write results.json, metrics.csv and examples.csv (atomically) to a new folder under data_path/evals/."""
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}"
    folder = storage.folder(ctx.settings.data_path, "evals", f"{stamp}-{task}")
    records = lambda frame: [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]  # noqa: E731
    result = {
        "task": task,
        "metrics": records(metrics_frame),
        "examples": records(examples_frame),
        "warnings": warnings,
        "seconds": seconds,
    }
    storage.write_text(folder / "metrics.csv", metrics_frame.to_csv(index=False))
    storage.write_text(folder / "examples.csv", examples_frame.to_csv(index=False))
    storage.write_json(folder / "results.json", result)
    return folder / "results.json"
