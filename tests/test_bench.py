"""The benchmark harness cannot rot: `python -m bench --quick` writes a table with every figure and endpoint.

Smoke mode only (tiny models, one round): no timing is asserted here, only that every figure was
measured and reported. The real numbers are in BENCHMARKS.md (`python -m bench --real`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image
from reference_requests import request_for, task_of

from apps import TASKS
from bench.report import Row, markdown

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("1. cold start", "2. API overhead", "3. chat streaming", "4. memory", "5. segmentation", "6. throughput")
# Every endpoint of a task with a model of its own has a bench case built on its reference request.
ENDPOINTS = [name for spec in TASKS if spec.load is not None for name in spec.api_names]


def measured_cases() -> list[Any]:
    from bench.cases import Inputs, cases

    return cases(Inputs())


def test_every_endpoint_with_a_model_has_a_case_on_its_reference_request() -> None:
    chosen = measured_cases()
    assert {case.api_name for case in chosen} == set(ENDPOINTS), "add a bench case (bench/cases.py) for it"
    for case in chosen:
        assert case.request is request_for(case.api_name)  # the registry's, not a copy
        assert case.task == task_of(case.api_name).key
        assert list(case.inputs(0)) == list(case.request.inputs)  # every parameter, in the endpoint's order


def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / "BENCHMARKS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| Figure")]
    for figure in FIGURES:
        assert any(row.startswith(f"| {figure} |") for row in rows), f"no row for {figure}:\n{table}"
    for case in measured_cases():
        if case.bare is not None:  # the others are only cycled through by the memory figure
            assert any(f"`{case.api_name}` · tiny" in row for row in rows), f"no API overhead row for {case.api_name}"
    measured = json.loads((tmp_path / "benchmarks.json").read_text())["rows"]
    assert len(measured) == len(rows)
    for row in measured:
        assert "failed" not in row["notes"], row
        assert isinstance(row["ratio"], float) and math.isfinite(row["ratio"]), row
    with Image.open(tmp_path / "benchmarks.png") as chart:
        assert chart.width > 500 and chart.height > 100


def test_table_marks_targets_met_missed_and_not_judged() -> None:
    rows = [
        Row("1. cold start", "app", "≤ 1.3", 1.3, False, 1.1, "a"),
        Row("6. throughput", "x", "≥ 2×", 2.0, True, 1.5, "b"),
        Row("2. API overhead", "y · tiny", "≤ 1.10", 1.10, False, 9.0, "c", judged=False),
    ]
    assert [row.met for row in rows] == [True, False, None]
    text = markdown(rows, "header", {"Notes": "n"}, "chart.png")
    assert "| 1. cold start | app | ≤ 1.3 | 1.10 | ✅ met |" in text
    assert "| 6. throughput | x | ≥ 2× | 1.50 | ❌ missed |" in text
    assert "not judged" in text and "![" in text
