"""Tiny random checkpoints for every task, built offline: `python tests/tiny_models.py OUTDIR`.

Writes one folder per task plus `OUTDIR/models.toml`, so `python app.py --models OUTDIR/models.toml`
runs the whole app with no network. The weights are random: outputs have the right shape and type,
not meaning. Each builder returns the models-file entry of its task.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny import BUILDERS

STAMP = ".tiny-kit"
TINY = Path(__file__).resolve().parent / "tiny"


def load_builders() -> dict[str, Callable[[Path], dict[str, Any]]]:
    """Import every module of tests/tiny/ so each registers its builders."""
    for module in sorted(TINY.glob("[!_]*.py")):
        importlib.import_module(f"tiny.{module.stem}")
    return BUILDERS


# -- the kit ------------------------------------------------------------------------------------


def task_version(task: str) -> str:
    """Changes whenever the code that builds this task's model does (its module or the shared one)."""
    module = sys.modules[BUILDERS[task].__module__].__file__
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in (TINY / "__init__.py", Path(module)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_kit(outdir: Path, tasks: list[str] | None = None) -> Path:
    """Build (or reuse) the tiny models of `tasks` (default all) and write `outdir/models.toml` (every current one).

    A model is rebuilt only when its builder's code changed. A builder that fails is reported in
    `outdir/failures.json` (and on stderr) and left out, so one broken builder does not stop the
    others; `test_registry` fails while any builder fails.
    """
    import torch

    load_builders()
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    with (outdir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test runs in parallel share the cached kit
        stamp = outdir / STAMP
        built = json.loads(stamp.read_text()) if stamp.exists() else {}
        entries: dict[str, dict[str, Any]] = {}
        failures: dict[str, str] = {}
        for task in tasks or list(BUILDERS):
            version = task_version(task)
            cached = built.get(task)
            if cached and cached["version"] == version and (outdir / task).exists():
                entries[task] = cached["entry"]
                continue
            shutil.rmtree(outdir / task, ignore_errors=True)
            torch.manual_seed(0)
            try:
                entries[task] = BUILDERS[task](outdir / task)
            except Exception as exc:
                failures[task] = f"{type(exc).__name__}: {exc}"
                print(f"tiny kit: building {task} failed: {failures[task]}", file=sys.stderr)
                continue
            built[task] = {"version": version, "entry": entries[task]}
        stamp.write_text(json.dumps(built, indent=1))
        (outdir / "failures.json").write_text(json.dumps(failures, indent=1))
        # The folder and its models.toml are shared by every run and process: building a few tasks must not
        # shrink the file under a test session that read its path for all of them, so it lists every task
        # whose cached build is current, not only those asked for.
        for task in BUILDERS:
            cached = built.get(task)
            if task not in entries and cached and cached["version"] == task_version(task) and (outdir / task).exists():
                entries[task] = cached["entry"]
        lines = []
        for task, entry in entries.items():
            lines.append(f"[{task}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
            lines.append("")
        path = outdir / "models.toml"
        path.write_text("\n".join(lines))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tests/tiny_models.py OUTDIR")
    print(build_kit(Path(sys.argv[1])))
