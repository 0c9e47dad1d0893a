"""What the app keeps on disk (document collections, eval results, votes, adapters, prompt templates,
pipelines), all under one folder: `SHOWCASE_DATA_DIR`.

Writes are atomic (a temporary file in the same folder, flushed to disk, then renamed over the old one),
so a crash or `kill -9` mid-write leaves either the old file or the new one, never half of either. Names
that visitors choose (a collection, an adapter) are checked before they become paths.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from apps.core.errors import InputError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(name: Any, what: str, default: str | None = None) -> str:
    """A user-chosen name that is safe as one path component: letters, digits, `.`, `_`, `-`, at most 64.

    `""` (or None) is `default` when one is given. InputError for anything else, `../x` and `a/b` included.
    """
    if name is None or (isinstance(name, str) and not name.strip()):
        if default is not None:
            return default
        raise InputError(f"Give the {what} a name.")
    if not isinstance(name, str):
        raise InputError(f"The {what} name must be text.")
    name = name.strip()
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InputError(
            f"“{name[:80]}” cannot be a {what} name: use up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no slashes)."
        )
    return name


def folder(root: Path, *parts: str) -> Path:
    """`root/parts…`, created if needed."""
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically: readers and a crash see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in `path`, or `default` when there is no such file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def _sync_folder(path: Path) -> None:
    """Make a rename in `path` durable (POSIX: fsync the folder); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
