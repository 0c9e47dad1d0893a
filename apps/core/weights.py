"""Parameter counts read from weight-file headers (never the weights) and memory arithmetic."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core import libraries

# Bytes per parameter, as `accelerate estimate-memory` counts them.
BYTES_PER_PARAM = {"float32": 4.0, "float16": 2.0, "bfloat16": 2.0, "int8": 1.0, "int4": 0.5}
# Running a model needs its weights plus activations, caches and framework overhead: about 20 % more.
INFERENCE_OVERHEAD = 1.2

# safetensors dtype tag → bytes per element.
_SAFETENSORS_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}
_MAX_HEADER = 100 * 1024 * 1024


@dataclass
class ParameterCount:
    """How many parameters a checkpoint holds, per stored dtype, and its largest tensor."""

    by_dtype: dict[str, int] = field(default_factory=dict)
    largest_tensor: tuple[str, int] = ("", 0)
    file_bytes: int = 0
    source: str = "safetensors"  # "safetensors", "gguf" or "file sizes"

    @property
    def total(self) -> int:
        return sum(self.by_dtype.values())

    @property
    def stored_bytes(self) -> int | None:
        """Bytes of the weights as stored (None when a dtype's size is unknown, e.g. GGUF quantizations)."""
        if self.source == "file sizes":
            return self.file_bytes
        sizes = [_SAFETENSORS_BYTES.get(dtype) for dtype in self.by_dtype]
        if None in sizes:
            return None
        return sum(count * size for count, size in zip(self.by_dtype.values(), sizes, strict=True))  # type: ignore[operator]

    def add(self, name: str, dtype: str, count: int) -> None:
        self.by_dtype[dtype] = self.by_dtype.get(dtype, 0) + count
        if count > self.largest_tensor[1]:
            self.largest_tensor = (name, count)


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """The JSON header of a .safetensors file: tensor name → {dtype, shape, data_offsets}."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > _MAX_HEADER:
            raise ValueError(f"{path.name}: safetensors header of {length} bytes is not plausible")
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    return header


def count_from_headers(headers: list[dict[str, dict]]) -> ParameterCount:
    count = ParameterCount()
    for header in headers:
        for name, tensor in header.items():
            elements = 1
            for dim in tensor["shape"]:
                elements *= dim
            count.add(name, tensor["dtype"], elements)
    return count


def count_local(folder: Path, gguf_file: str | None = None) -> ParameterCount:
    """Parameters of a local model folder from safetensors headers or GGUF tensor info.

    Falls back to weight file sizes (`source="file sizes"`) for .bin checkpoints.
    """
    if gguf_file:
        return _count_gguf(folder / gguf_file)
    files = sorted(folder.rglob("*.safetensors"))
    if files:
        count = count_from_headers([read_safetensors_header(path) for path in files])
        count.file_bytes = sum(path.stat().st_size for path in files)
        return count
    binaries = [p for pattern in ("*.bin", "*.pt", "*.pth") for p in folder.rglob(pattern)]
    return count_from_file_sizes(sum(path.stat().st_size for path in binaries))


def count_from_file_sizes(size: int) -> ParameterCount:
    """Parameters guessed from weight files' total size (no headers to read): `source="file sizes"`."""
    # Rule of thumb: a .bin checkpoint is float32, so its size / 4 is the parameter count.
    return ParameterCount(by_dtype={"F32": size // 4}, file_bytes=size, source="file sizes")


def count_hub(
    repo_id: str, revision: str | None = None, *, api: Any = None, timeout: float | None = None
) -> ParameterCount:
    """Parameters of a Hub model from its safetensors headers (byte-range requests, no weights downloaded).

    `api` is an `HfApi` (its endpoint and token); raises huggingface_hub's `NotASafetensorsRepoError`
    when the repo has no safetensors weights, and its HTTP errors when the Hub cannot answer.
    """
    from huggingface_hub import HfApi

    meta = (api or HfApi()).get_safetensors_metadata(repo_id, revision=revision, timeout=timeout)
    count = ParameterCount()
    for file_meta in meta.files_metadata.values():
        for name, tensor in file_meta.tensors.items():
            count.add(name, tensor.dtype, tensor.parameter_count)
    return count


# GGUF value types (gguf's GGUFValueType) with a fixed size: struct format of each.
_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    shape: tuple[int, ...]
    type_id: int  # gguf's GGMLQuantizationType value

    @property
    def n_elements(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count


def read_gguf_header(path: Path) -> tuple[dict[str, Any], list[GGUFTensor]]:
    """A GGUF file's metadata (scalars and strings as values, arrays as their length) and tensor list.

    Reads only the header, skipping over arrays (a vocabulary is ~100k strings): a fraction of a second
    where `gguf.GGUFReader`, which maps every array item, takes seconds (SmolLM2-135M: 0.1 s against 11 s).
    """
    with path.open("rb") as file:

        def read(fmt: str) -> Any:
            size = struct.calcsize(fmt)
            data = file.read(size)
            if len(data) != size:
                raise ValueError(f"{path.name} ends inside its GGUF header")
            return struct.unpack(fmt, data)[0]

        def string() -> str:
            return file.read(read("<Q")).decode("utf-8", errors="replace")

        def value(kind: int) -> Any:
            if kind in _GGUF_SCALARS:
                return read(_GGUF_SCALARS[kind])
            if kind == _GGUF_STRING:
                return string()
            if kind == _GGUF_ARRAY:
                item, count = read("<I"), read("<Q")
                if item in _GGUF_SCALARS:
                    file.seek(count * struct.calcsize(_GGUF_SCALARS[item]), 1)
                else:
                    for _ in range(count):
                        value(item)
                return count
            raise ValueError(f"{path.name}: unknown GGUF value type {kind}")

        if file.read(4) != b"GGUF":
            raise ValueError(f"{path.name} is not a GGUF file")
        read("<I")  # version
        tensor_count = read("<Q")
        metadata = {string(): value(read("<I")) for _ in range(read("<Q"))}
        tensors = []
        for _ in range(tensor_count):
            name = string()
            shape = tuple(read("<Q") for _ in range(read("<I")))
            type_id = read("<I")
            read("<Q")  # offset in the data section
            tensors.append(GGUFTensor(name, shape, type_id))
        return metadata, tensors


def gguf_metadata(path: Path) -> dict[str, Any]:
    """A GGUF file's metadata only (see `read_gguf_header`)."""
    return read_gguf_header(path)[0]


def _count_gguf(path: Path) -> ParameterCount:
    with libraries.imports("weights.gguf"):
        from gguf import GGMLQuantizationType

    _metadata, tensors = read_gguf_header(path)
    count = ParameterCount(file_bytes=path.stat().st_size, source="gguf")
    for tensor in tensors:
        count.add(tensor.name, GGMLQuantizationType(tensor.type_id).name, tensor.n_elements)
    return count


def bytes_for(parameters: int, dtype: str) -> int:
    """Weights size in bytes for a parameter count at a dtype (fp32 4, fp16/bf16 2, int8 1, int4 0.5)."""
    return int(parameters * BYTES_PER_PARAM[dtype])


def inference_bytes(parameters: int, dtype: str) -> int:
    """Rough memory to run a model at `dtype`: its weights × INFERENCE_OVERHEAD (1.2)."""
    return int(bytes_for(parameters, dtype) * INFERENCE_OVERHEAD)


def training_bytes(parameters: int, dtype: str) -> int | None:
    """Peak memory to train with Adam at batch size 1, as `accelerate estimate-memory` counts it.

    float32: 4 × the fp32 weights (weights, gradients and two optimizer states); float16/bfloat16
    (mixed precision): 2 × the fp32 weights; int8/int4: None (not trained with Adam).
    """
    fp32 = bytes_for(parameters, "float32")
    if dtype == "float32":
        return 4 * fp32
    if dtype in ("float16", "bfloat16"):
        return 2 * fp32
    return None


def estimate_load_bytes(folder: Path, gguf_file: str | None, dtype: str) -> int:
    """Memory a model will take once loaded at `dtype` (GGUF is de-quantized to it)."""
    count = count_local(folder, gguf_file)
    if count.source == "file sizes":
        return count.file_bytes
    return bytes_for(count.total, dtype if dtype in BYTES_PER_PARAM else "float32")


def format_bytes(size: float) -> str:
    """1536 → '1.5 KiB'; binary units, as memory is usually reported."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def format_count(count: int) -> str:
    """22_713_216 → '22.7M'."""
    for unit, scale in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)
