"""Each task's metrics, computed by the libraries that define them, with bootstrap 95 % confidence intervals.

A metric is a function of the whole sample (`references`, `predictions`) → one number, so that corpus
metrics (BLEU, chrF, WER, Spearman, macro-F1) are bootstrapped as corpus metrics: the interval comes from
recomputing the metric on resampled rows, not from averaging per-row scores.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Metric = Callable[[Sequence[Any], Sequence[Any]], float]  # (references, predictions) → value

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_WORK = 200_000  # resamples × rows: big datasets get fewer resamples (their intervals are narrow anyway)
ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise(text: str) -> str:
    """Lower case, accents and punctuation removed, articles dropped, spaces collapsed (SQuAD's answer rule)."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    text = "".join(" " if ch in string.punctuation or unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Share of predictions equal to their reference after `normalise`."""
    return float(np.mean([normalise(r) == normalise(p) for r, p in zip(references, predictions, strict=True)]))


def contains(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Share of predictions that contain their (normalised) reference."""
    pairs = zip(references, predictions, strict=True)
    return float(np.mean([f" {normalise(r)} " in f" {normalise(p)} " for r, p in pairs]))


def spearman(references: Sequence[float], predictions: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    if len(references) < 2:  # a correlation of one pair is undefined (scipy raises for pearsonr)
        return math.nan
    return float(spearmanr(references, predictions).statistic)


def pearson(references: Sequence[float], predictions: Sequence[float]) -> float:
    from scipy.stats import pearsonr

    if len(references) < 2:
        return math.nan
    return float(pearsonr(references, predictions).statistic)


def chrf(references: Sequence[str], predictions: Sequence[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score)


def bleu(references: Sequence[str], predictions: Sequence[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


def sentence_chrf(reference: str, prediction: str) -> float:
    import sacrebleu

    return float(sacrebleu.sentence_chrf(prediction, [reference]).score)


def _rouge(kind: str) -> Metric:
    def rouge(references: Sequence[str], predictions: Sequence[str]) -> float:
        """Mean ROUGE F-measure over the rows (rouge-score, with stemming)."""
        scorer = rouge_scorer(kind)
        pairs = zip(references, predictions, strict=True)
        return float(np.mean([scorer.score(r, p)[kind].fmeasure for r, p in pairs]))

    rouge.__name__ = kind
    return rouge


_SCORERS: dict[str, Any] = {}


def rouge_scorer(kind: str) -> Any:
    from rouge_score import rouge_scorer as module

    if kind not in _SCORERS:
        _SCORERS[kind] = module.RougeScorer([kind], use_stemmer=True)
    return _SCORERS[kind]


rouge1, rouge2, rougeL = _rouge("rouge1"), _rouge("rouge2"), _rouge("rougeL")


def wer(references: Sequence[str], predictions: Sequence[str]) -> float:
    import jiwer

    return float(jiwer.wer(list(references), list(predictions)))


def cer(references: Sequence[str], predictions: Sequence[str]) -> float:
    import jiwer

    return float(jiwer.cer(list(references), list(predictions)))


def accuracy(references: Sequence[str], predictions: Sequence[str]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(list(references), list(predictions)))


def macro_f1(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Macro-F1 over the labels that occur in the references (a label never right scores 0)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(references))
    return float(f1_score(list(references), list(predictions), labels=labels, average="macro", zero_division=0))


# -- sufficient statistics: a metric whose value is a function of per-row sums is bootstrapped by resampling
# those sums (one matrix product) instead of recomputing the library metric a thousand times. The value
# itself always comes from the library; tests check both against it.

Stats = Callable[[Sequence[Any], Sequence[Any]], tuple[np.ndarray, Callable[[np.ndarray], float]]]


def _all_at_once(score: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], Any]:
    """Mark a statistics score that takes every resample's totals at once (a 2-D array → one value per row)
    as well as one total (1-D → a float): the bootstrap then makes one numpy call, not one per resample."""

    def scored(total: np.ndarray) -> Any:
        value = score(total)
        return float(value) if np.ndim(value) == 0 else value

    scored.all_at_once = True  # type: ignore[attr-defined]
    return scored


def _mean_stats(score: Callable[[Any, Any], float]) -> Stats:
    def stats(references: Sequence[Any], predictions: Sequence[Any]) -> tuple[np.ndarray, Callable]:
        rows = np.array([[score(r, p), 1.0] for r, p in zip(references, predictions, strict=True)])
        return rows, _all_at_once(lambda total: total[..., 0] / total[..., 1])

    return stats


def _sacrebleu_stats(kind: str) -> Stats:
    def stats(references: Sequence[str], predictions: Sequence[str]) -> tuple[np.ndarray, Callable]:
        import sacrebleu

        metric = sacrebleu.CHRF() if kind == "chrf" else sacrebleu.BLEU()
        rows = np.array(metric._extract_corpus_statistics(list(predictions), [list(references)]), dtype=float)
        return rows, lambda total: float(metric._compute_score_from_stats(list(total)).score)

    return stats


def _edit_stats(characters: bool) -> Stats:
    def stats(references: Sequence[str], predictions: Sequence[str]) -> tuple[np.ndarray, Callable]:
        import jiwer

        process = jiwer.process_characters if characters else jiwer.process_words
        rows = []
        for reference, prediction in zip(references, predictions, strict=True):
            out = process(reference, prediction)
            rows.append(
                [out.substitutions + out.deletions + out.insertions, out.substitutions + out.deletions + out.hits]
            )
        return np.array(rows, dtype=float), lambda total: total[0] / total[1] if total[1] else math.nan

    return stats


def _f1_stats(references: Sequence[str], predictions: Sequence[str]) -> tuple[np.ndarray, Callable]:
    labels = sorted(set(references))
    rows = []
    for reference, prediction in zip(references, predictions, strict=True):
        tp = [float(reference == label == prediction) for label in labels]
        fp = [float(prediction == label != reference) for label in labels]
        fn = [float(reference == label != prediction) for label in labels]
        rows.append(tp + fp + fn)
    count = len(labels)

    @_all_at_once
    def f1(total: np.ndarray) -> Any:
        tp, fp, fn = total[..., :count], total[..., count : 2 * count], total[..., 2 * count :]
        present = (tp + fn) > 0  # labels of this resample's references, as sklearn's labels=set(references)
        denominator = 2 * tp + fp + fn
        scores = np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0)
        labels = present.sum(axis=-1)
        return np.where(labels > 0, (scores * present).sum(axis=-1) / np.maximum(labels, 1), math.nan)

    return np.array(rows, dtype=float), f1


STATS: dict[Callable, Stats] = {
    exact_match: _mean_stats(lambda r, p: float(normalise(r) == normalise(p))),
    contains: _mean_stats(lambda r, p: float(f" {normalise(r)} " in f" {normalise(p)} ")),
    accuracy: _mean_stats(lambda r, p: float(r == p)),
    rouge1: _mean_stats(lambda r, p: rouge_scorer("rouge1").score(r, p)["rouge1"].fmeasure),
    rouge2: _mean_stats(lambda r, p: rouge_scorer("rouge2").score(r, p)["rouge2"].fmeasure),
    rougeL: _mean_stats(lambda r, p: rouge_scorer("rougeL").score(r, p)["rougeL"].fmeasure),
    chrf: _sacrebleu_stats("chrf"),
    bleu: _sacrebleu_stats("bleu"),
    wer: _edit_stats(characters=False),
    cer: _edit_stats(characters=True),
    macro_f1: _f1_stats,
}


def perplexity(references: Sequence[Any], predictions: Sequence[tuple[float, int]]) -> float:
    """exp(−Σ ln p / Σ tokens) over the texts: each prediction is a text's (Σ ln p, tokens) under the model."""
    tokens = sum(count for _, count in predictions)
    return math.exp(-sum(total for total, _ in predictions) / tokens) if tokens else math.nan


def _perplexity_stats(references: Sequence[Any], predictions: Sequence[tuple[float, int]]) -> tuple[np.ndarray, Any]:
    rows = np.array([[-total, count] for total, count in predictions], dtype=float)
    return rows, lambda total: math.exp(total[0] / total[1]) if total[1] else math.nan


STATS[perplexity] = _perplexity_stats


def mean_of(score: Callable[[Any, Any], float]) -> Metric:
    """A metric that is the mean of a per-row score (recall@k, MRR), bootstrapped from its per-row values."""

    def metric(references: Sequence[Any], predictions: Sequence[Any]) -> float:
        return float(np.mean([score(r, p) for r, p in zip(references, predictions, strict=True)]))

    STATS[metric] = _mean_stats(score)
    return metric


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of two (resamples × rows) arrays; NaN where a row is constant (as scipy)."""
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    defined = denominator > 0
    return np.where(defined, (x * y).sum(axis=1) / np.where(defined, denominator, 1.0), math.nan)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair: Pearson's r of the rows' ranks (ties averaged, as scipy's spearmanr)."""
    from scipy.stats import rankdata

    return _pearson_rows(rankdata(x, axis=1), rankdata(y, axis=1))


# Metrics with no per-row statistics to sum (a correlation's ranks change with every resample), computed on
# all the resamples at once: one numpy call instead of a library call per resample.
RESAMPLED: dict[Callable, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    pearson: _pearson_rows,
    spearman: _spearman_rows,
}


@dataclass(frozen=True)
class Estimate:
    """A metric's value on the sample, its bootstrap 95 % interval, and the rows it is computed on."""

    value: float
    low: float
    high: float
    n: int


def _finite(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) else math.nan


def bootstrap(
    metric: Metric,
    references: Sequence[Any],
    predictions: Sequence[Any],
    *,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
    stats: Stats | None = None,
) -> Estimate:
    """The metric (from its library) with a percentile bootstrap 95 % interval over resampled rows.

    NaN where the metric is undefined on the sample (e.g. a correlation of one row, or of constant values).
    `stats` (default: STATS[metric]) bootstraps from per-row sufficient statistics.
    """
    import warnings

    n = len(references)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input to a correlation: NaN, reported as such
        value = _finite(metric(references, predictions)) if n else math.nan
        if n < 2 or math.isnan(value):
            return Estimate(value, value, value, n)
        generator = np.random.default_rng(seed)
        stats = stats or STATS.get(metric)
        if stats is not None:
            rows, score = stats(references, predictions)
            counts = generator.multinomial(n, np.full(n, 1.0 / n), size=samples).astype(float)
            totals = counts @ rows
            if getattr(score, "all_at_once", False):
                values = [_finite(value) for value in score(totals)]
            else:
                values = [_finite(score(total)) for total in totals]
        elif metric in RESAMPLED:
            count = max(100, min(samples, BOOTSTRAP_WORK // n))
            picks = generator.integers(0, n, (count, n))
            x, y = np.asarray(references, dtype=float), np.asarray(predictions, dtype=float)
            values = [_finite(v) for v in RESAMPLED[metric](x[picks], y[picks])]
        else:
            refs, preds = list(references), list(predictions)
            count = max(100, min(samples, BOOTSTRAP_WORK // n))
            values = []
            for _ in range(count):
                picks = generator.integers(0, n, n)
                values.append(_finite(metric([refs[i] for i in picks], [preds[i] for i in picks])))
    finite = np.array([v for v in values if not math.isnan(v)])
    if not len(finite):
        return Estimate(value, math.nan, math.nan, n)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(value, float(low), float(high), n)
