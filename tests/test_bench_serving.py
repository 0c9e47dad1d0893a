"""`python -m bench.serving --quick`: the /v1 and remote-chat figures run on the tiny models and report ratios."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_quick_run_reports_finite_ratios(tmp_path: Path, tiny_models_file: Path) -> None:
    out = tmp_path / "bench-serving.json"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.serving", "--quick", "--rounds", "2", "--tokens", "8", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = {figure["name"]: figure for figure in json.loads(out.read_text())["figures"]}
    assert set(figures) == {"chat first token", "embeddings overhead", "remote chat reply", "remote chat first token"}
    for name, figure in figures.items():
        assert len(figure["a"]) == len(figure["b"]) == 2, name
        assert math.isfinite(figure["ratio"]) and figure["ratio"] > 0, (name, figure["ratio"])
        assert figure["kit"] == "tiny"
        assert f"| {name} | tiny |" in done.stdout
    assert len(figures["embeddings overhead"]["fixed"]) == 2  # the round trip taken off, measured alongside
