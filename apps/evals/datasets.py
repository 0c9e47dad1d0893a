"""Reading an evaluation dataset: a `.csv` / `.jsonl` of rows, or a `.zip` with `metadata.csv` and its files.

The layout follows the Hugging Face folder conventions (`metadata.csv` with a `file_name` column beside
the audio or image files). Bad rows are skipped with a warning that names them; a file that cannot be
read at all, a missing column or a zip that would unpack to more than MAX_UNCOMPRESSED_BYTES is an
InputError that says what to fix.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core.errors import InputError

MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024  # what a zip may unpack to: a zip bomb stops here, unread
MAX_FILES = 20_000  # members of a zip
MAX_WARNINGS = 20  # skipped rows named one by one; the rest are counted
TEXT_SUFFIXES = (".csv", ".jsonl")
METADATA = "metadata.csv"


@dataclass
class Dataset:
    """The rows to evaluate (at most `limit` of them), where their files are, and what was skipped."""

    rows: list[dict[str, str]]
    total: int  # usable rows in the file, before the limit
    folder: Path | None = None  # where a zip's files were unpacked (rows' `file_name` is relative to it)
    warnings: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # what an evaluation derives once (a corpus, labels)

    def file(self, row: dict[str, str]) -> str:
        """The unpacked path of a row's `file_name`."""
        if self.folder is None:
            raise InputError("This dataset has no files: audio and image tasks need a .zip with metadata.csv.")
        return str(self.folder / row["file_name"])

    def remove_files(self) -> None:
        """Delete the unpacked files (an evaluation's last step)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class _Warnings:
    """Collects row warnings, naming the first MAX_WARNINGS and counting the rest."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, message: str) -> None:
        if len(self.items) < MAX_WARNINGS:
            self.items.append(message)
        else:
            self.more += 1

    def all(self) -> list[str]:
        return self.items + ([f"…and {self.more:,} more rows skipped."] if self.more else [])


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name} is not UTF-8 text (byte {exc.start:,}): save it as UTF-8 and upload it again."
        ) from None


def _csv_rows(text: str, name: str, warnings: _Warnings) -> tuple[list[str], Iterable[tuple[int, dict[str, str]]]]:
    """The header and the (line, row) pairs of a CSV; rows with the wrong number of fields are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise InputError(f"{name} is empty: the first line must name the columns.") from None
    except csv.Error as exc:
        raise InputError(f"{name} is not a readable CSV file: {exc}.") from None

    def rows() -> Iterable[tuple[int, dict[str, str]]]:
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                warnings.add(f"Line {reader.line_num} of {name} is unreadable ({exc}): skipped.")
                continue
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):
                warnings.add(
                    f"Line {reader.line_num} of {name} has {len(values)} fields, the header {len(header)}: skipped."
                )
                continue
            yield reader.line_num, dict(zip(header, values, strict=True))

    return header, rows()


def _jsonl_rows(text: str, name: str, warnings: _Warnings) -> tuple[list[str], Iterable[tuple[int, dict[str, str]]]]:
    """The columns (those of the first object) and the (line, row) pairs of a JSON Lines file."""
    lines = text.splitlines()
    header: list[str] = []
    for line in lines:
        try:
            first = json.loads(line)
        except ValueError:
            continue
        if isinstance(first, dict):
            header = [str(key) for key in first]
            break
    if not header:
        raise InputError(f'{name} has no JSON object on any line: write one object per line, e.g. {{"text": …}}.')

    def rows() -> Iterable[tuple[int, dict[str, str]]]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                warnings.add(f"Line {number} of {name} is not valid JSON ({exc.args[0][:60]}): skipped.")
                continue
            if not isinstance(item, dict):
                warnings.add(f"Line {number} of {name} is not a JSON object: skipped.")
                continue
            yield number, {str(key): "" if value is None else _text(value) for key, value in item.items()}

    return header, rows()


def _text(value: Any) -> str:
    if isinstance(value, list):  # e.g. a list of labels
        return ", ".join(str(item) for item in value)
    return str(value)


def _check_zip(archive: zipfile.ZipFile, name: str) -> None:
    members = archive.infolist()
    if len(members) > MAX_FILES:
        raise InputError(f"{name} holds {len(members):,} files; an evaluation zip may hold at most {MAX_FILES:,}.")
    total = sum(member.file_size for member in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise InputError(
            f"{name} would unpack to {total / 1e6:,.0f} MB, more than the {MAX_UNCOMPRESSED_BYTES / 1e6:,.0f} MB "
            "an evaluation may use: evaluate a smaller part of it."
        )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> bytes:
    """A member's bytes, read at most up to the remaining budget (its header's size could lie)."""
    with archive.open(info) as member:
        data = member.read(budget[0] + 1)
    if len(data) > budget[0]:
        raise InputError(
            f"The zip unpacks to more than {MAX_UNCOMPRESSED_BYTES / 1e6:,.0f} MB (at {info.filename}): "
            "evaluate a smaller part of it."
        )
    budget[0] -= len(data)
    return data


def read_dataset(
    path: str | Path | None,
    required: Sequence[str],
    limit: int,
    *,
    needs_files: bool = False,
    max_bytes: int | None = None,
) -> Dataset:
    """The first `limit` usable rows of the dataset at `path` that have every `required` column filled.

    `needs_files`: a `.zip` with `metadata.csv` whose `file_name`s are unpacked to a temporary folder
    (rows naming a file the zip lacks are skipped with a warning). InputError for what cannot be used.
    """
    if path is None or not str(path).strip():
        raise InputError("Upload a dataset: a .csv or .jsonl for text tasks, a .zip with metadata.csv for audio/image.")
    if isinstance(path, dict) and "path" in path:  # a file as gradio's API describes it
        path = path["path"]
    if not isinstance(path, str | Path):
        raise InputError("The dataset must be a file: a .csv or .jsonl, or a .zip with metadata.csv.")
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InputError(f"There is no dataset file {name}.")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise InputError(f"{name} is {path.stat().st_size / 1e6:,.1f} MB; the limit is {max_bytes / 1e6:,.1f} MB.")
    suffix = path.suffix.lower()
    if needs_files and suffix != ".zip":
        raise InputError(f"This task reads files: upload a .zip with {METADATA} (file_name + columns), not {name}.")
    if not needs_files and suffix not in TEXT_SUFFIXES:
        raise InputError(f"{name} is not a .csv or .jsonl file: this task reads rows of text.")
    warnings = _Warnings()
    archive: zipfile.ZipFile | None = None
    folder: Path | None = None
    members: dict[str, zipfile.ZipInfo] = {}
    base = ""
    if suffix == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError):
            raise InputError(f"{name} is not a readable zip file.") from None
        _check_zip(archive, name)
        members = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        candidates = sorted((m for m in members if posixpath.basename(m) == METADATA), key=lambda m: m.count("/"))
        if not candidates:
            raise InputError(f"{name} has no {METADATA}: add one with a file_name column and the task's columns.")
        meta = candidates[0]
        base = posixpath.dirname(meta)
        budget = [MAX_UNCOMPRESSED_BYTES]
        header, rows = _csv_rows(_decode(_read_member(archive, members[meta], budget), METADATA), METADATA, warnings)
        folder = Path(tempfile.mkdtemp(prefix="showcase-eval-"))
    else:
        text = _decode(path.read_bytes(), name)
        header, rows = (_jsonl_rows if suffix == ".jsonl" else _csv_rows)(text, name, warnings)
    columns = list(required) + (["file_name"] if needs_files else [])
    missing = [column for column in columns if column not in header]
    if missing:
        raise InputError(
            f"{name} has no column {', '.join(repr(c) for c in missing)}: this task needs the columns "
            f"{', '.join(columns)} (it has {', '.join(header) or 'none'})."
        )
    kept: list[dict[str, str]] = []
    total = 0
    for number, row in rows:
        empty = [column for column in columns if not str(row.get(column, "")).strip()]
        if empty:
            warnings.add(f"Row at line {number} has no {', '.join(empty)}: skipped.")
            continue
        if archive is not None and folder is not None:
            member = posixpath.normpath(posixpath.join(base, row["file_name"].strip()))
            if member not in members or member.startswith(("../", "/")):
                warnings.add(f"Row at line {number} names {row['file_name'][:80]!r}, which the zip lacks: skipped.")
                continue
            total += 1
            if len(kept) < limit:
                local = folder / f"{len(kept):06d}{posixpath.splitext(member)[1][:10]}"
                local.write_bytes(_read_member(archive, members[member], budget))
                row = {**row, "file_name": local.name, "original_file": row["file_name"].strip()}
                kept.append(row)
            continue
        total += 1
        if len(kept) < limit:
            kept.append(row)
    if archive is not None:
        archive.close()
    found = warnings.all()
    if total > len(kept):
        found.append(f"Evaluated the first {len(kept):,} of {total:,} rows (the limit).")
    if not kept:
        raise InputError(f"{name} has no usable row: " + (" ".join(found[:3]) or "it holds only its header."))
    return Dataset(kept, total, folder, found, header)
