"""De-quantized GGUF checkpoints kept on disk, so transformers pays for de-quantization once per file.

transformers reads a GGUF file by de-quantizing every tensor to float (SmolLM2-135M Q4_1 on 2 cores: ~23 s
for the model, ~6 s for the tokenizer), on every start and after every eviction. The first load saves the
result as a plain transformers folder (safetensors weights, tokenizer with its chat template, configs); the
next loads read that folder, memory-mapped, in a fraction of the time.

A cached copy is keyed by the GGUF file (resolved path, size and modification time: a changed file is a
new key), the dtype and the transformers version (its de-quantization may change), and is written to a
temporary folder renamed into place when complete, so a crash or a concurrent writer never leaves half a
copy that looks whole. Where it lives: `<data folder>/cache/dequantized/` (the manager passes it as the
`gguf_cache_dir` loader option); without that option nothing is cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("showcase.gguf_cache")

COMPLETE_MARK = "showcase-dequantized.json"  # written last: a folder without it is not a cached copy


def cache_key(gguf_path: Path, dtype: str) -> str:
    """A short stable key for one GGUF file (path, size, mtime) at one dtype under this transformers."""
    import transformers

    stat = gguf_path.stat()
    identity = f"{gguf_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{dtype}|{transformers.__version__}"
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", gguf_path.stem)[:80]
    return f"{stem}-{dtype}-{digest}"


def cached_folder(cache_dir: Path, gguf_path: Path, dtype: str) -> Path | None:
    """The complete cached copy of `gguf_path` at `dtype`, or None."""
    folder = cache_dir / cache_key(gguf_path, dtype)
    return folder if (folder / COMPLETE_MARK).is_file() else None


def store(cache_dir: Path, gguf_path: Path, dtype: str, model: Any, tokenizer: Any) -> Path | None:
    """Save a de-quantized model and its tokenizer as the cached copy; None (and a log line) if it cannot."""
    final = cache_dir / cache_key(gguf_path, dtype)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=cache_dir))
    except OSError as exc:
        log.warning("cannot cache the de-quantized %s in %s: %s", gguf_path.name, cache_dir, exc)
        return None
    try:
        _save_plain(model, staging)
        tokenizer.save_pretrained(staging)
        mark = {"gguf_file": str(gguf_path.resolve()), "size": gguf_path.stat().st_size, "dtype": dtype}
        (staging / COMPLETE_MARK).write_text(json.dumps(mark, indent=1))
        try:
            os.replace(staging, final)  # atomic on one filesystem; refuses if another writer got there first
        except OSError:
            if not (final / COMPLETE_MARK).is_file():
                raise
        return final
    except Exception as exc:  # a full disk or a read-only folder costs only the cache
        log.warning("cannot cache the de-quantized %s in %s: %s", gguf_path.name, cache_dir, exc)
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _save_plain(model: Any, folder: Path) -> None:
    """Save a model read from GGUF as a plain float checkpoint (safetensors + config + generation config).

    transformers marks such a model as quantized with "gguf" and refuses to save it, though its weights are
    already plain float tensors: save it without that mark, and leave the mark out of the saved config so
    that the copy loads as the ordinary checkpoint it is.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    model.hf_quantizer = None
    try:
        model.save_pretrained(folder)
    finally:
        model.hf_quantizer = quantizer
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    if config.pop("quantization_config", None) is not None:
        config_path.write_text(json.dumps(config, indent=2))


def discard(folder: Path) -> None:
    """Remove a cached copy that failed to load (it is written again on the next load)."""
    shutil.rmtree(folder, ignore_errors=True)
