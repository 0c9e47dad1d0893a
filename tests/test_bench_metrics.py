"""`python -m bench.metrics --quick` measures both endpoints with metrics on and off and reports the ratio.

Smoke mode only (three requests to each side): no timing is asserted, only that both were measured. The
figure itself (≥ 0.97) is in the README's Performance section.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from bench.metrics import ENDPOINTS, TARGET

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_reports_both_endpoints(tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.metrics", "--quick", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [row["endpoint"] for row in rows] == list(ENDPOINTS)
    for row in rows:
        assert len(row["on_seconds"]) == len(row["off_seconds"]) == row["requests"] == 3
        assert row["counted"] == row["sent_to_on"] > 0  # metrics on counted each request, off none
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0 and row["target"] == TARGET
        assert f"| `{row['endpoint']}` |" in result.stdout
    seam = json.loads(out.read_text())["seam"]
    assert math.isfinite(seam["seconds_per_request"]) and math.isfinite(seam["ratio"])
    assert "The counting seam in-process" in result.stdout
