"""`python -m bench.rag --quick`: the Documents bench's ingest and query figures run on the tiny kit."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_quick_run_reports_ingest_and_query_figures(tmp_path: Path, tiny_models_file: Path) -> None:
    out = tmp_path / "bench-rag.json"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.rag", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(out.read_text())
    ingest = payload["ingest"]
    assert ingest["model"] == "tiny kit" and ingest["chunks"] > 10
    assert math.isfinite(ingest["ratio"]) and ingest["ratio"] > 0 and ingest["target"] == 0.85
    # Two collection sizes; the search itself is checked against the NumPy scan inside the bench (same top 10).
    assert [row["chunks"] for row in payload["queries"]] == [500, 2000]
    for row in payload["queries"]:
        assert all(math.isfinite(row[key]) and row[key] > 0 for key in ("lancedb_ms", "numpy_ms", "retrieve_ms"))
    assert "| one document | tiny kit |" in done.stdout and "for 4× chunks" in done.stdout
    assert "Deprecation warning" not in done.stderr  # the app's own dense search names `_distance`
