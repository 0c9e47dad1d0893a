"""Getting model files: from a local folder, the Hugging Face cache, or the Hub (with progress)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from apps.core.errors import ModelUnavailable
from apps.core.refs import ModelRef

log = logging.getLogger("showcase.hub")

# Weight formats this app never loads: skipping them keeps downloads to what is used.
_NEVER = [
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.onnx",
    "*.onnx_data",
    "onnx/*",
    "openvino/*",
    "*.tflite",
    "coreml/*",
    "*.mlmodel",
    "*.mlpackage/*",
    "*.pb",
    "tf_model*",
    "*.ckpt",
    "*.nemo",
    "*.npz",
    "*.pte",
    "runs/*",
]
_TORCH_BINARIES = ["*.bin", "*.pt", "*.pth"]
# The small files a GGUF checkpoint may still need beside the .gguf (config, tokenizer, chat template).
_GGUF_COMPANIONS = ["*.json", "*.txt", "*.model", "*.jinja"]


def hub_endpoint() -> str:
    """The Hub's URL now: `HF_ENDPOINT` as set at call time, else huggingface_hub's (import-time) default."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


class NotCached(ModelUnavailable):
    """The model is not in the local cache and the Hub cannot (or may not) be asked."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def download_patterns(filenames: list[str], gguf_file: str | None) -> dict[str, list[str]]:
    """`allow_patterns` / `ignore_patterns` for `snapshot_download`: one weight format only."""
    if gguf_file:
        return {"allow_patterns": [gguf_file, *_GGUF_COMPANIONS], "ignore_patterns": []}
    ignore = [*_NEVER, "*.gguf"]
    if any(name.endswith(".safetensors") for name in filenames):
        ignore += _TORCH_BINARIES
    return {"allow_patterns": [], "ignore_patterns": ignore}


def cached_path(ref: ModelRef) -> Path | None:
    """The cached snapshot folder of a Hub model, or None if it is not cached."""
    if ref.is_local:
        return Path(ref.source)
    try:
        path = Path(snapshot_download(ref.source, revision=ref.revision, local_files_only=True))
    except (LocalEntryNotFoundError, EntryNotFoundError, FileNotFoundError, OSError):
        return None
    if ref.gguf_file and not (path / ref.gguf_file).exists():
        return None
    return path


def fetch(ref: ModelRef, *, offline: bool, fetch_hint: str) -> Path:
    """Local folder holding the model's files, downloading from the Hub when needed.

    Raises ModelUnavailable with a message that says what to do: not found, gated, or not cached
    while the Hub is offline/unreachable (`fetch_hint` names the command that fetches it).
    """
    if ref.is_local:
        path = Path(ref.source)
        if not path.exists():
            raise ModelUnavailable(f"Local model folder `{path}` does not exist.")
        if ref.gguf_file and not (path / ref.gguf_file).exists():
            raise ModelUnavailable(f"`{ref.gguf_file}` is not in `{path}`.")
        return path
    if offline:
        return _from_cache(ref, "the app is offline (SHOWCASE_OFFLINE or HF_HUB_OFFLINE)", fetch_hint)
    try:
        info = HfApi(endpoint=hub_endpoint()).model_info(ref.source, revision=ref.revision)
    except GatedRepoError:
        raise ModelUnavailable(
            f"`{ref.source}` is gated: accept its licence on huggingface.co and set HF_TOKEN."
        ) from None
    except RepositoryNotFoundError:
        raise ModelUnavailable(
            f"Model `{ref.source}` was not found on the Hugging Face Hub. Check the id (it is "
            "case-sensitive); private models need HF_TOKEN."
        ) from None
    except RevisionNotFoundError:
        raise ModelUnavailable(f"`{ref.source}` has no revision `{ref.revision}`.") from None
    except Exception as exc:  # network down, DNS, proxy, timeouts: fall back to the cache
        log.info("Hub unreachable for %s: %s", ref, exc)
        return _from_cache(ref, f"the Hugging Face Hub cannot be reached ({type(exc).__name__})", fetch_hint)
    filenames = [sibling.rfilename for sibling in info.siblings or []]
    if ref.gguf_file and ref.gguf_file not in filenames:
        ggufs = ", ".join(name for name in filenames if name.endswith(".gguf")) or "none"
        raise ModelUnavailable(f"`{ref.source}` has no file `{ref.gguf_file}` (its GGUF files: {ggufs}).")
    patterns = download_patterns(filenames, ref.gguf_file)
    try:
        return Path(
            snapshot_download(
                ref.source,
                revision=ref.revision,  # not the commit: the cache must learn refs/main
                allow_patterns=patterns["allow_patterns"] or None,
                ignore_patterns=patterns["ignore_patterns"] or None,
                endpoint=hub_endpoint(),
            )
        )
    except Exception as exc:
        raise ModelUnavailable(f"Downloading `{ref}` failed: {type(exc).__name__}: {exc}") from exc


def _from_cache(ref: ModelRef, reason: str, fetch_hint: str) -> Path:
    path = cached_path(ref)
    if path is None:
        raise NotCached(
            f"Model `{ref}` is not in the local Hugging Face cache and {reason}. "
            f"Fetch it first with `{fetch_hint}` on a machine with internet access, "
            "or choose a model that is cached or a local folder.",
            reason=reason,
        )
    return path
