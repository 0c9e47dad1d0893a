"""Cold start: `python app.py` until its page answers HTTP 200, against `python -c "import gradio, transformers"`."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.server import ROOT, env, free_port
from bench.stats import Stat

IMPORT_ONLY = "import gradio, transformers"
START_LIMIT = 180.0  # seconds before a start counts as failed


@dataclass
class ColdStart:
    app: Stat
    imports: Stat

    @property
    def ratio(self) -> float:
        return self.app.median / self.imports.median


def time_imports() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORT_ONLY], check=True, env=env(), cwd=ROOT)
    return time.perf_counter() - started


def time_app(models_file: Path | None = None, root: Path = ROOT) -> float:
    """Seconds from starting `python app.py` (in `root`) to the first HTTP 200 of its page; then stops it."""
    port = free_port()
    command = [sys.executable, "app.py", "--port", str(port), "--offline"]
    if models_file is not None:
        command += ["--models", str(models_file)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=root, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited early: {process.stderr.read().decode()[-2000:]}")
            if time.perf_counter() - started > START_LIMIT:
                raise RuntimeError(f"app.py did not answer within {START_LIMIT:.0f} s")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cold_start(repeats: int, models_file: Path | None = None, warm: bool = True) -> ColdStart:
    """Both commands `repeats` times, alternating which goes first (the OS file cache is warm for both)."""
    app, imports = Stat(), Stat()
    if warm:
        time_imports()  # warm the file cache once, unrecorded
    for number in range(repeats):
        pair = [(app, lambda: time_app(models_file)), (imports, time_imports)]
        for stat, run in pair if number % 2 == 0 else pair[::-1]:
            stat.add(run())
    return ColdStart(app, imports)
