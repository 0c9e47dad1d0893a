"""Evals: each metric equals its library, the datasets' guards, evaluation on tiny and real models, the CLI."""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from apps.core.errors import InputError
from apps.core.spec import ASSETS
from apps.evals import datasets
from apps.evals import metrics as m
from apps.evals.datasets import read_dataset
from apps.evals.evaluate import EVAL_TASKS, evaluate

REFERENCES = ["the cat sat on the mat", "Paris is the capital.", "a dog barks", "open models", "red apple"]
PREDICTIONS = ["a cat sat on a mat", "Paris", "the dog barked loudly", "open model weights", "a red apple"]
SCORES = [4.2, 1.0, 3.3, 0.5, 2.8]
COSINES = [0.91, 0.12, 0.75, 0.33, 0.52]
LABELS = ["cat", "dog", "cat", "bird", "dog", "cat"]
GUESSES = ["cat", "cat", "cat", "bird", "dog", "dog"]


def test_metrics_equal_their_libraries() -> None:
    import jiwer
    import sacrebleu
    from rouge_score import rouge_scorer
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score

    assert m.spearman(SCORES, COSINES) == pytest.approx(spearmanr(SCORES, COSINES).statistic, abs=1e-6)
    assert m.pearson(SCORES, COSINES) == pytest.approx(pearsonr(SCORES, COSINES).statistic, abs=1e-6)
    assert m.chrf(REFERENCES, PREDICTIONS) == pytest.approx(
        sacrebleu.corpus_chrf(PREDICTIONS, [REFERENCES]).score, abs=1e-6
    )
    assert m.bleu(REFERENCES, PREDICTIONS) == pytest.approx(
        sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES]).score, abs=1e-6
    )
    for kind, metric in (("rouge1", m.rouge1), ("rouge2", m.rouge2), ("rougeL", m.rougeL)):
        scorer = rouge_scorer.RougeScorer([kind], use_stemmer=True)
        expected = np.mean([scorer.score(r, p)[kind].fmeasure for r, p in zip(REFERENCES, PREDICTIONS, strict=True)])
        assert metric(REFERENCES, PREDICTIONS) == pytest.approx(expected, abs=1e-6)
    assert m.wer(REFERENCES, PREDICTIONS) == pytest.approx(jiwer.wer(REFERENCES, PREDICTIONS), abs=1e-6)
    assert m.cer(REFERENCES, PREDICTIONS) == pytest.approx(jiwer.cer(REFERENCES, PREDICTIONS), abs=1e-6)
    assert m.accuracy(LABELS, GUESSES) == pytest.approx(accuracy_score(LABELS, GUESSES), abs=1e-6)
    assert m.macro_f1(LABELS, GUESSES) == pytest.approx(f1_score(LABELS, GUESSES, average="macro"), abs=1e-6)
    # exact match / contains after SQuAD-style normalisation: "Paris." ≠ "Paris is the capital."
    assert m.exact_match(["The Paris!", "Rome"], ["paris", "Milan"]) == 0.5
    # articles dropped: "cat sat on mat" ⊂ "cat sat on mat", "red apple" ⊂ "red apple"; the rest not
    assert m.contains(REFERENCES, PREDICTIONS) == pytest.approx(2 / 5)


def _resample(values: list, picks: np.ndarray) -> list:
    return [values[i] for i in picks]


@pytest.mark.parametrize(
    "metric, references, predictions",
    [
        (m.chrf, REFERENCES, PREDICTIONS),
        (m.bleu, REFERENCES, PREDICTIONS),
        (m.wer, REFERENCES, PREDICTIONS),
        (m.cer, REFERENCES, PREDICTIONS),
        (m.rougeL, REFERENCES, PREDICTIONS),
        (m.contains, REFERENCES, PREDICTIONS),
        (m.exact_match, REFERENCES, PREDICTIONS),
        (m.accuracy, LABELS, GUESSES),
        (m.macro_f1, LABELS, GUESSES),
    ],
)
def test_bootstrap_statistics_give_the_library_value_on_every_resample(metric, references, predictions) -> None:
    """The fast bootstrap sums per-row statistics: on any resample that equals the library's own metric."""
    rows, score = m.STATS[metric](references, predictions)
    generator = np.random.default_rng(7)
    for _ in range(20):
        picks = generator.integers(0, len(references), len(references))
        counts = np.bincount(picks, minlength=len(references)).astype(float)
        expected = metric(_resample(references, picks), _resample(predictions, picks))
        assert score(counts @ rows) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "metric, references, predictions",
    [(m.accuracy, LABELS, GUESSES), (m.macro_f1, LABELS, GUESSES), (m.contains, REFERENCES, PREDICTIONS)],
)
def test_scores_of_all_resamples_at_once_equal_each_one_alone(metric, references, predictions) -> None:
    rows, score = m.STATS[metric](references, predictions)
    assert score.all_at_once
    counts = np.random.default_rng(2).multinomial(len(rows), np.full(len(rows), 1 / len(rows)), size=30)
    counts[0] = 0
    counts[0, 3] = len(rows)  # one row drawn every time (macro-F1 over a single label)
    totals = counts.astype(float) @ rows
    assert list(score(totals)) == pytest.approx([score(total) for total in totals], abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("metric", [m.spearman, m.pearson])
def test_correlations_on_all_resamples_at_once_equal_scipy_on_each(metric) -> None:
    """The vectorised bootstrap of a correlation gives scipy's value on every resample (NaN where constant)."""
    generator = np.random.default_rng(3)
    picks = generator.integers(0, len(SCORES), (50, len(SCORES)))
    picks[0] = 0  # one resample of a single repeated row: a constant sample, undefined
    values = m.RESAMPLED[metric](np.array(SCORES)[picks], np.array(COSINES)[picks])
    for row, value in zip(picks, values, strict=True):
        expected = metric(_resample(SCORES, row), _resample(COSINES, row))
        if math.isnan(expected):
            assert math.isnan(value)
        else:
            assert value == pytest.approx(expected, abs=1e-6)
    assert math.isnan(values[0])


def test_recall_and_mrr_are_means_with_per_row_statistics() -> None:
    from apps.evals.evaluate import EVAL_TASKS

    metrics = EVAL_TASKS["search"].metrics
    ranks = [1, 3, 0, 12, 2]
    assert metrics["recall@1"]([None] * 5, ranks) == pytest.approx(1 / 5)
    assert metrics["recall@10"]([None] * 5, ranks) == pytest.approx(3 / 5)
    assert metrics["mrr"]([None] * 5, ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 12 + 1 / 2) / 5)
    assert all(metric in m.STATS for metric in metrics.values())  # bootstrapped from sums, not re-called


def test_bootstrap_interval_holds_the_value_and_one_row_is_undefined_not_a_crash() -> None:
    estimate = m.bootstrap(m.chrf, REFERENCES, PREDICTIONS)
    assert estimate.low <= estimate.value <= estimate.high and estimate.n == 5
    one = m.bootstrap(m.spearman, [1.0], [0.5])
    assert one.n == 1 and math.isnan(one.value)
    single = m.bootstrap(m.accuracy, ["cat"], ["cat"])
    assert (single.value, single.low, single.high) == (1.0, 1.0, 1.0)


# -- datasets ----------------------------------------------------------------------------------------


def _csv(path: Path, header: list[str], rows: list[list]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return path


def test_a_missing_column_names_what_the_task_needs(tmp_path: Path) -> None:
    path = _csv(tmp_path / "sts.csv", ["sentence1", "score"], [["a", 1]])
    with pytest.raises(InputError, match=r"no column 'sentence2'.*sentence1, sentence2, score"):
        read_dataset(path, EVAL_TASKS["similarity"].columns, 10)


def test_unreadable_rows_are_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text('prompt,reference\nWhat is 2+2?,4\nonly one field\n"Capital of France?",Paris\n,empty\n')
    data = read_dataset(path, ("prompt", "reference"), 10)
    assert [row["reference"] for row in data.rows] == ["4", "Paris"]
    assert any("Line 3" in w and "1 fields" in w for w in data.warnings)
    assert any("no prompt" in w for w in data.warnings)
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text('{"prompt": "a", "reference": "b"}\n{not json\n[1, 2]\n{"prompt": "c", "reference": "d"}\n')
    data = read_dataset(jsonl, ("prompt", "reference"), 10)
    assert len(data.rows) == 2
    assert any("Line 2" in w and "not valid JSON" in w for w in data.warnings)
    assert any("Line 3" in w and "not a JSON object" in w for w in data.warnings)


def test_not_utf8_empty_and_wrong_kind_of_file_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "latin.csv"
    bad.write_bytes("prompt,reference\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_dataset(bad, ("prompt", "reference"), 10)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_dataset(empty, ("prompt",), 10)
    with pytest.raises(InputError, match=r"zip with metadata\.csv"):
        read_dataset(ASSETS / "evals" / "chat.csv", ("reference",), 10, needs_files=True)
    with pytest.raises(InputError, match="Upload a dataset"):
        read_dataset(None, ("prompt",), 10)
    header_only = _csv(tmp_path / "header.csv", ["prompt", "reference"], [])
    with pytest.raises(InputError, match="no usable row"):
        read_dataset(header_only, ("prompt", "reference"), 10)


def test_an_audio_file_missing_from_the_zip_skips_its_row(tmp_path: Path) -> None:
    path = tmp_path / "asr.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/metadata.csv", "file_name,reference\nspeech.wav,hello\nmissing.wav,gone\n../x.wav,out\n")
        archive.writestr("data/speech.wav", (ASSETS / "audio-speech-en.wav").read_bytes())
    data = read_dataset(path, ("reference",), 10, needs_files=True)
    try:
        assert [row["original_file"] for row in data.rows] == ["speech.wav"]
        assert Path(data.file(data.rows[0])).read_bytes() == (ASSETS / "audio-speech-en.wav").read_bytes()
        assert sum("which the zip lacks" in w for w in data.warnings) == 2
    finally:
        data.remove_files()
    assert not data.folder.exists()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(datasets, "MAX_UNCOMPRESSED_BYTES", 1_000_000)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.csv", "file_name,reference\nzeros.wav,x\n")
        archive.writestr("zeros.wav", b"\0" * 5_000_000)  # 5 MB of zeros: a few kB compressed
    assert path.stat().st_size < 50_000
    with pytest.raises(InputError, match="would unpack to 5 MB"):
        read_dataset(path, ("reference",), 10, needs_files=True)
    with pytest.raises(InputError, match="not a readable zip"):
        (tmp_path / "fake.zip").write_bytes(b"PK not really")
        read_dataset(tmp_path / "fake.zip", ("reference",), 10, needs_files=True)


def test_the_limit_keeps_the_first_rows_of_a_big_file_and_says_so(tmp_path: Path) -> None:
    path = _csv(tmp_path / "big.csv", ["prompt", "reference"], [[f"q{n}", f"a{n}"] for n in range(100_000)])
    data = read_dataset(path, ("prompt", "reference"), 25)
    assert len(data.rows) == 25 and data.total == 100_000
    assert data.rows[-1]["prompt"] == "q24"
    assert "Evaluated the first 25 of 100,000 rows (the limit)." in data.warnings


# -- evaluation on the tiny models --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_settings, tmp_path_factory):
    from task_contexts import tiny_context, tiny_manager

    settings = tiny_settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("evals-data")})
    manager = tiny_manager(settings)
    return lambda key: tiny_context(key, settings, manager)


@pytest.mark.parametrize("task", ["similarity", "search", "chat", "image_classification", "asr", "perplexity"])
def test_sample_datasets_evaluate_on_tiny_models(tiny, task: str) -> None:
    spec = EVAL_TASKS[task]
    result = evaluate(tiny(spec.task), task, ASSETS / "evals" / spec.sample, "", 3)
    assert list(result.metrics.columns) == ["model", "metric", "value", "ci_low", "ci_high", "n"]
    assert set(result.metrics["metric"]) == set(spec.metrics)
    n = min(3, result.metrics["n"].max())
    assert len(result.examples) == n and result.examples["prediction"].notna().all()
    saved = json.loads(result.path.read_text())
    assert saved["task"] == task and len(saved["metrics"]) == len(spec.metrics)
    assert (result.path.parent / "metrics.csv").read_text().startswith("model,metric,value,ci_low,ci_high,n")
    for row in result.metrics.itertuples():
        if not math.isnan(row.value):
            assert row.ci_low <= row.value + 1e-9 and row.value <= row.ci_high + 1e-9, row


def test_the_metric_is_the_library_on_the_predictions_the_table_shows(tiny) -> None:
    from sacrebleu import corpus_chrf

    result = evaluate(tiny("translation"), "translation", ASSETS / "evals" / "translation.csv", "", 3)
    table = result.examples
    chrf = result.metrics.set_index("metric").loc["chrf", "value"]
    assert chrf == pytest.approx(corpus_chrf(list(table["prediction"]), [list(table["reference"])]).score, abs=1e-6)


def test_two_models_give_rows_for_each(tiny, tiny_models_file: Path) -> None:
    folder = tiny_models_file.parent
    models = f"{folder / 'similarity'}\n{folder / 'search'}"  # two sentence-transformers checkpoints
    result = evaluate(tiny("similarity"), "similarity", ASSETS / "evals" / "similarity.csv", models, 4)
    assert result.metrics["model"].nunique() == 2 and len(result.examples) == 8


@pytest.mark.parametrize(
    "task, sample, done", [("translation", "translation.csv", 3), ("similarity", "similarity.csv", 8)]
)
def test_stop_ends_before_the_next_rows_and_reports_on_the_examples_done(
    tiny, tiny_models_file: Path, task: str, sample: str, done: int
) -> None:
    """Translation goes one row at a time (Stop during the third: 3 done); similarity batches, MAX_BATCH rows
    at a time (Stop during the first batch: 8 done)."""
    folder = tiny_models_file.parent
    stop = threading.Event()
    seen: list[str] = []

    def progress(value, desc: str = "") -> None:  # called before each row, or each batch of rows
        seen.append(desc)
        if len(seen) == (3 if task == "translation" else 1):
            stop.set()

    second = folder / ("search" if task == "similarity" else "summarization")  # a model never started
    models = f"{folder / task}\n{second}"
    result = evaluate(tiny(task), task, ASSETS / "evals" / sample, models, 16, progress, stop=stop)
    rows = len(read_dataset(ASSETS / "evals" / sample, EVAL_TASKS[task].columns, 16).rows)
    assert len(result.examples) == done and set(result.metrics["n"]) == {done}  # the rows under way finished
    assert result.metrics["model"].nunique() == 1
    assert any(f"answered {done} of {rows} examples" in w for w in result.warnings), result.warnings
    assert any(f"{second} not evaluated" in w for w in result.warnings), result.warnings
    assert json.loads(result.path.read_text())["warnings"] == result.warnings  # the saved results say so too
    with pytest.raises(InputError, match="Stopped before any example"):
        evaluate(tiny(task), task, ASSETS / "evals" / sample, "", 6, stop=stop)  # already set: nothing ran


def test_a_batching_task_shares_forward_passes_and_keeps_row_order(tiny) -> None:
    from apps.tasks.similarity import ENCODE_BATCHES

    sample = ASSETS / "evals" / "similarity.csv"
    batches, items = ENCODE_BATCHES.batches, ENCODE_BATCHES.items
    result = evaluate(tiny("similarity"), "similarity", sample, "", 16)
    assert ENCODE_BATCHES.items - items == 16 and ENCODE_BATCHES.batches - batches < 16  # rows went together
    one_by_one = [
        float(tiny("similarity").run_task("similarity", f"{a}\n{b}").matrix[0, 1])
        for a, b in zip(result.examples["input"], read_pairs(sample), strict=False)
    ]
    assert list(result.examples["prediction"]) == pytest.approx(one_by_one, abs=1e-5)  # each row its own answer


def read_pairs(sample: Path) -> list[str]:
    with sample.open(newline="", encoding="utf-8") as file:
        return [row["sentence2"] for row in csv.DictReader(file)][:16]


def test_bad_requests_are_input_errors(tiny, tmp_path: Path) -> None:
    context = tiny("similarity")
    sample = ASSETS / "evals" / "similarity.csv"
    with pytest.raises(InputError, match="Pick a task"):
        evaluate(context, "nope", sample)
    with pytest.raises(InputError, match="limit"):
        evaluate(context, "similarity", sample, "", 0)
    with pytest.raises(InputError, match="at most 4"):
        evaluate(context, "similarity", sample, "a\nb\nc\nd\ne", 2)
    one = _csv(tmp_path / "one.csv", ["sentence1", "sentence2", "score"], [["a cat", "a dog", "x"], ["a", "b", "2"]])
    result = evaluate(context, "similarity", one, "", 10)  # one usable row: correlations are undefined, said so
    assert any("not a number" in w for w in result.warnings)
    assert any("undefined" in w for w in result.warnings)
    assert result.metrics["n"].tolist() == [1, 1]


def test_cli_prints_the_metrics_table(tiny_models_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    import app

    monkeypatch.setenv("SHOWCASE_DATA_DIR", str(tmp_path))
    data = ASSETS / "evals" / "search.csv"
    args = ["--offline", "--models", str(tiny_models_file), "eval", "search", "--data", str(data), "--limit", "3"]
    assert app.main(args) == 0
    out = capsys.readouterr().out
    assert "recall@1" in out and "mrr" in out and "results:" in out
    assert app.main([*args[:-4], "--data", str(tmp_path / "none.csv")]) == 1
    assert "no dataset file" in capsys.readouterr().out


# -- real models --------------------------------------------------------------------------------------


@pytest.mark.real
def test_real_minilm_ranks_sts_pairs(real_context) -> None:
    result = evaluate(real_context("similarity"), "similarity", ASSETS / "evals" / "similarity.csv", "", 100)
    spearman = result.metrics.set_index("metric").loc["spearman"]
    assert spearman["n"] == 16 and spearman["value"] > 0.5, result.metrics


@pytest.mark.real
def test_real_smollm2_answers_the_sample_questions(real_context) -> None:
    result = evaluate(real_context("chat"), "chat", ASSETS / "evals" / "chat.csv", "", 100)
    contains = result.metrics.set_index("metric").loc["contains"]
    assert contains["n"] == 8 and contains["value"] >= 0.5, result.examples[["prediction", "reference"]]


# -- perplexity -------------------------------------------------------------------------------------


def test_perplexity_is_transformers_own_loss_on_each_text(tiny) -> None:
    """Per text, exp(the causal LM loss transformers computes itself); the corpus value pools the tokens."""
    import torch

    context = tiny("chat")
    result = evaluate(context, "perplexity", ASSETS / "evals" / "perplexity.csv", "", 4)  # the rows with no prompt
    assert len(result.examples) == 4
    with context.for_task("chat").use() as engine:
        tokenizer, model = engine.tokenizer, engine.model
        total, tokens = 0.0, 0
        for text, score in zip(result.examples["input"], result.examples["score"], strict=True):
            ids = torch.tensor([engine.start_ids() + tokenizer(text, add_special_tokens=False)["input_ids"]])
            with torch.no_grad():
                loss = float(model(ids, labels=ids).loss)  # mean NLL of every token after the first
            assert score == pytest.approx(math.exp(loss), rel=1e-4)
            total, tokens = total + loss * (ids.shape[1] - 1), tokens + ids.shape[1] - 1
    value = result.metrics.set_index("metric").loc["perplexity"]
    assert value["value"] == pytest.approx(math.exp(total / tokens), rel=1e-4)
    assert value["ci_low"] <= value["value"] <= value["ci_high"]


def test_perplexity_bootstrap_sums_give_the_metric_on_every_resample() -> None:
    likelihoods = [(-12.5, 5), (-30.0, 9), (-4.25, 2), (-18.0, 7)]
    rows, score = m.STATS[m.perplexity]([""] * 4, likelihoods)
    generator = np.random.default_rng(5)
    for _ in range(20):
        picks = generator.integers(0, 4, 4)
        counts = np.bincount(picks, minlength=4).astype(float)
        expected = m.perplexity([""] * 4, _resample(likelihoods, picks))
        assert score(counts @ rows) == pytest.approx(expected, rel=1e-9)


def test_a_remote_chat_model_cannot_be_scored_and_says_why() -> None:
    from apps.shared.chat_engine import text_likelihood

    class Remote:
        name, engine, context_length = "org/remote-model", "remote", 4096

    with pytest.raises(InputError, match="gives no token probabilities"):
        text_likelihood(Remote(), "Some text.")


@pytest.mark.real
def test_real_smollm2_finds_fluent_text_likelier_than_the_same_words_shuffled(real_context, tmp_path: Path) -> None:
    import random

    fluent = [line for line in (ASSETS / "evals" / "perplexity.csv").read_text().splitlines()[1:5]]
    texts = [line.lstrip(",").strip('"') for line in fluent]
    shuffled = []
    for text in texts:
        words = text.split()
        random.Random(1).shuffle(words)
        shuffled.append(" ".join(words))
    scores = {}
    for name, rows in (("fluent", texts), ("shuffled", shuffled)):
        path = _csv(tmp_path / f"{name}.csv", ["text"], [[text] for text in rows])
        result = evaluate(real_context("chat"), "perplexity", path, "", 10)
        scores[name] = result.metrics.set_index("metric").loc["perplexity", "value"]
    assert 1 < scores["fluent"] < 60 and scores["shuffled"] > 3 * scores["fluent"], scores


def test_the_bench_compares_evaluating_with_a_bare_loop_of_task_calls() -> None:
    from bench.evals import measure, report

    rows = measure(rounds=1, limit=10, quick=True, only=["similarity", "image_classification"])
    assert [(row.task, row.kit, row.examples) for row in rows] == [
        ("similarity", "tiny", 10),
        ("image_classification", "tiny", 10),
    ]
    assert all(row.evaluate_s > 0 and row.bare_s > 0 for row in rows)
    assert "| similarity | tiny | 10 |" in report(rows)
