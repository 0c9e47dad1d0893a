"""Tiny random checkpoints for every task, built offline: `python tests/tiny_models.py OUTDIR`.

Writes one folder per task plus `OUTDIR/models.toml`, so `python app.py --models OUTDIR/models.toml`
runs the whole app with no network. The weights are random: outputs have the right shape and type,
not meaning. Each builder returns the models-file entry of its task.
"""

from __future__ import annotations

import hashlib
import importlib
import json
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


def kit_version() -> str:
    """Changes whenever the kit's code does, so a cached kit is rebuilt after an edit."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for module in sorted(TINY.glob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def build_kit(outdir: Path, tasks: list[str] | None = None) -> Path:
    """Build (or reuse) the tiny models of `tasks` (default all) and write `outdir/models.toml`."""
    import torch

    load_builders()
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    stamp = outdir / STAMP
    version = kit_version()
    entries: dict[str, dict[str, Any]] = {}
    previous = json.loads(stamp.read_text()) if stamp.exists() else {}
    if previous.get("version") != version:
        previous = {"version": version, "entries": {}}
    for task in tasks or list(BUILDERS):
        if task in previous["entries"] and (outdir / task).exists():
            entries[task] = previous["entries"][task]
            continue
        torch.manual_seed(0)
        entries[task] = BUILDERS[task](outdir / task)
    stamp.write_text(json.dumps({"version": version, "entries": {**previous["entries"], **entries}}))
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
