"""Model finder, estimate memory: a Hub model's or local folder's parameters → memory per dtype.

Parameters are read from safetensors headers (byte ranges on the Hub, file headers locally) or GGUF
metadata — never the weights. The arithmetic is `apps.core.weights`' (the method of
`accelerate estimate-memory`); this module finds the counts and lays out the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.core.errors import InputError
from apps.core.refs import ModelRef
from apps.core.weights import (
    INFERENCE_OVERHEAD,
    ParameterCount,
    bytes_for,
    count_from_file_sizes,
    count_from_headers,
    count_hub,
    count_local,
    format_bytes,
    inference_bytes,
    read_safetensors_header,
    training_bytes,
)
from apps.finder.hub import (
    INFO_TIMEOUT,
    HubUnavailable,
    check_hub,
    count_from_info,
    first_line,
    hub_api,
    hub_endpoint,
    weight_files_bytes,
)

ESTIMATE_COLUMNS = ["dtype", "weights", "inference (≈ weights × 1.2)", "training with Adam", "largest tensor"]
FORMULAS = (
    "**How these are computed** (the method of `accelerate estimate-memory`): weights = parameters × "
    "bytes per parameter (fp32 4, fp16/bf16 2, int8 1, int4 0.5) · inference ≈ weights × "
    f"{INFERENCE_OVERHEAD} (activations, caches and framework overhead for modest inputs) · training "
    "with Adam (batch size 1) ≈ 4 × the fp32 weights (weights, gradients and two optimizer states); "
    "mixed-precision fp16/bf16 training ≈ 2 × the fp32 weights; int8/int4 are not trained with Adam · "
    "largest tensor = its parameters × bytes per parameter, the most one layer needs at once when "
    "offloading. Sizes are binary: 1 GiB = 1024³ bytes."
)

# -- estimate memory ---------------------------------------------------------------------------


@dataclass
class Estimate:
    """A model's parameter count and where it was read from."""

    ref: ModelRef
    count: ParameterCount
    source: str


def estimate(
    text: str,
    *,
    local_roots: tuple[Path, ...] | None = None,
    endpoint: str | None = None,
    offline: bool = False,
) -> Estimate:
    """Parameter count of a Hub model or local folder from weight headers (never the weights).

    `local_roots` limits which local folders may be read (None: any, for the command line).
    Offline or with the Hub unreachable, a cached copy is read instead.
    """
    ref = ModelRef.parse(text, local_roots=local_roots)
    if ref.is_local:
        return Estimate(ref, _count_path(Path(ref.source), ref.gguf_file), f"the local folder `{ref.source}`")
    if offline:
        return _from_cache(ref, "the app is offline (SHOWCASE_OFFLINE or HF_HUB_OFFLINE)")
    endpoint = endpoint or hub_endpoint()
    try:
        check_hub(endpoint)
        return _estimate_hub(ref, hub_api(endpoint))
    except HubUnavailable as exc:
        return _from_cache(ref, str(exc))


def _estimate_hub(ref: ModelRef, api: Any) -> Estimate:
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        NotASafetensorsRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"`{ref}` on the Hub"
    try:
        if not ref.gguf_file:
            try:
                count = count_hub(ref.source, ref.revision, api=api, timeout=INFO_TIMEOUT)
                if count.total:
                    return Estimate(ref, count, f"the safetensors headers of {where}")
            except NotASafetensorsRepoError:
                pass
        info = api.model_info(ref.source, revision=ref.revision, files_metadata=True, timeout=INFO_TIMEOUT)
    except GatedRepoError:
        raise InputError(
            f"`{ref.source}` is gated: accept its licence on huggingface.co and set HF_TOKEN to read its files."
        ) from None
    except RevisionNotFoundError:
        raise InputError(f"`{ref.source}` has no revision `{ref.revision}`.") from None
    except RepositoryNotFoundError:
        raise InputError(
            f"Model `{ref.source}` was not found on the Hugging Face Hub. Check the id (it is case-sensitive); "
            "private models need HF_TOKEN."
        ) from None
    except HfHubHTTPError as exc:
        if exc.response is not None and exc.response.status_code >= 500:
            return _from_cache(ref, f"the Hub answered HTTP {exc.response.status_code}")
        raise InputError(f"The Hub could not describe `{ref}`: {first_line(exc)}") from exc
    except (OSError, httpx2.HTTPError) as exc:  # the connection dropped after the probe
        return _from_cache(ref, f"the Hub stopped answering ({type(exc).__name__})")
    sizes = {sibling.rfilename: sibling.size for sibling in info.siblings or []}
    if ref.gguf_file:
        if ref.gguf_file not in sizes:
            raise InputError(f"`{ref.source}` has no file `{ref.gguf_file}`.")
        count = count_from_info(info)
        if count is None or count.source != "gguf":
            raise InputError(f"The Hub has no GGUF metadata for `{ref.source}`; download it and estimate the folder.")
        count.file_bytes = sizes[ref.gguf_file] or 0
        return Estimate(ref, count, f"the GGUF metadata of {where}")
    count = count_from_info(info)
    if count is not None:
        return Estimate(ref, count, f"the Hub's {count.source} metadata for {where}")
    size = weight_files_bytes(sizes)
    if not size:
        raise InputError(f"`{ref.source}` has no weight files (.safetensors, .bin, .pt, .gguf) to estimate from.")
    return Estimate(ref, count_from_file_sizes(size), f"the weight file sizes of {where}")


def _from_cache(ref: ModelRef, reason: str) -> Estimate:
    from apps.core.hub import cached_path

    path = cached_path(ref)
    if path is None:
        raise InputError(
            f"Cannot estimate `{ref}`: {reason}, and it is not in the local cache. Try again with internet "
            "access, or give a local model folder."
        )
    return Estimate(ref, _count_path(path, ref.gguf_file), f"the cached copy of `{ref}` ({reason})")


def _count_path(path: Path, gguf_file: str | None) -> ParameterCount:
    if path.is_file() and path.suffix == ".safetensors":
        count = count_from_headers([read_safetensors_header(path)])
        count.file_bytes = path.stat().st_size
        return count
    if not path.is_dir():
        raise InputError(f"`{path}` is not a model folder or a .safetensors file.")
    try:
        count = count_local(path, gguf_file)
    except (ValueError, OSError) as exc:
        raise InputError(f"Cannot read the weight headers in `{path}`: {exc}") from exc
    if not count.total:
        raise InputError(f"`{path}` has no weight files (.safetensors, .bin, .pt, .gguf) to estimate from.")
    return count


def estimate_rows(count: ParameterCount) -> list[list[str]]:
    """The estimate table, one row per dtype, in ESTIMATE_COLUMNS order."""
    total = count.total
    largest = count.largest_tensor[1]
    rows = []
    for dtype, label in (("float32", "fp32"), ("float16", "fp16 / bf16"), ("int8", "int8"), ("int4", "int4")):
        training = training_bytes(total, dtype)
        rows.append(
            [
                label,
                format_bytes(bytes_for(total, dtype)),
                format_bytes(inference_bytes(total, dtype)),
                "—" if training is None else format_bytes(training),
                format_bytes(bytes_for(largest, dtype)) if largest else "?",
            ]
        )
    return rows


def estimate_summary(result: Estimate) -> str:
    """Markdown: the parameter count by stored dtype, where it came from, and the largest tensor."""
    count = result.count
    approx = "≈ " if count.source == "file sizes" else ""
    parts = ", ".join(f"{dtype} {number:,}" for dtype, number in sorted(count.by_dtype.items()))
    lines = [f"**`{result.ref}`: {approx}{count.total:,} parameters** ({parts}), from {result.source}."]
    if count.source == "file sizes":
        lines.append(
            f"No safetensors headers to read: the count is the weight files' size "
            f"({format_bytes(count.file_bytes)}) ÷ 4, assuming float32 files — the rule of thumb."
        )
    stored = count.stored_bytes
    if stored and count.source != "file sizes":
        lines.append(f"Weights as stored: {format_bytes(stored)}.")
    name, largest = count.largest_tensor
    if largest:
        lines.append(f"Largest tensor: `{name}`, {largest:,} parameters.")
    return " ".join(lines)
