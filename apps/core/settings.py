"""Typed settings: environment (`SHOWCASE_*`) < CLI flags, plus the per-task model selection.

Model precedence, lowest first: registry default < models file (TOML) < `SHOWCASE_MODELS` <
`--model TASK=REF` flags < a choice made at run time ("use in tab").
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from apps.core import libraries
from apps.core.errors import InputError
from apps.core.refs import DTYPES, ModelRef

ON_SPACES = bool(os.environ.get("SPACE_ID"))


class Settings(BaseSettings):
    """Every knob of the app. Each field is read from `SHOWCASE_<NAME>` (e.g. `SHOWCASE_PORT`)."""

    model_config = SettingsConfigDict(
        env_prefix="SHOWCASE_", extra="ignore", use_attribute_docstrings=True, frozen=True
    )

    host: str = Field(default_factory=lambda: os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    """Address to bind. Default 127.0.0.1 (this machine only); `0.0.0.0` serves the network.
    On Spaces, `GRADIO_SERVER_NAME` (set by Spaces) is used."""

    port: int = Field(default_factory=lambda: int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    """Port to serve on. Default 7860 (or `GRADIO_SERVER_PORT`)."""

    memory_budget: str = "auto"
    """Most memory all loaded models may use together, e.g. `4GB`, `1500MiB`. `auto`: 60 % of
    the RAM this process may use (70 % of GPU memory on CUDA); `none`: no limit. Idle models are
    unloaded, least recently used first, to make room."""

    device: str = "auto"
    """Where models run: `auto` (cuda, then mps, then cpu), `cpu`, `cuda`, `cuda:1`, `mps`."""

    dtype: str = "auto"
    """Weight precision: `auto` (float32 on CPU, bfloat16 on GPUs that support it, else
    float16), `float32`, `float16`, `bfloat16`. A model in the models file may set its own."""

    offline: bool = False
    """Never contact the Hub: use only models already in the Hugging Face cache or local folders
    (also on when `HF_HUB_OFFLINE=1`)."""

    models_file: Path | None = None
    """TOML file mapping task → model, e.g. `[chat]` `model = "org/name"` (optional `revision`,
    `gguf_file`, `dtype`), or the short form `chat = "org/name"`."""

    models: dict[str, str] = Field(default_factory=dict)
    """Per-task models as JSON, e.g. `{"chat": "HuggingFaceTB/SmolLM2-135M-Instruct"}`; a value
    is `SOURCE[@REVISION][#GGUF_FILE]`. The `--model TASK=REF` flag adds to it."""

    trust_remote_code: bool = False
    """Allow models that ship their own Python code. Off by default: such code runs with the
    server's rights."""

    allow_custom_models: bool = True
    """Let visitors type any Hub model id in a tab (within the memory budget). `false` limits each
    tab to its configured and curated models."""

    local_model_dirs: tuple[Path, ...] = ()
    """Folders under which visitors may pick local models at run time (JSON list). Models from the
    models file or flags may live anywhere."""

    max_upload_mb: float = 50.0
    """Largest uploaded file, in MB."""

    max_audio_seconds: float = 600.0
    """Longest audio input, in seconds (default 10 minutes)."""

    max_image_pixels: int = 4_000_000
    """Images with more pixels are downscaled for processing (results are mapped back to the
    original size)."""

    max_text_chars: int = 50_000
    """Longest text input, in characters."""

    load_wait_seconds: float = 120.0
    """How long a request waits for memory held by models in use before it gives up."""

    pipeline: Path | None = None
    """A pipeline file (.json/.yaml): `python app.py` serves only that pipeline, as `python app.py pipeline
    FILE` does (what `deploy --pipeline FILE` sets on a Space). Unset (default): the whole app."""

    data_dir: Path | None = None
    """Where the app keeps what it makes: document collections, eval results, votes, adapters, prompt
    templates, pipelines. Default: `/data/showcase` on Spaces with persistent storage (`/data`), else
    `data/` in the app's folder."""

    vector_uri: str = ""
    """Where the Documents tab keeps its collections when not in `data_dir/rag`: an object-storage URI
    (`s3://bucket/prefix`, `gs://…`, `az://…`) that several app replicas share. Credentials, region and
    endpoint come from that store's standard environment variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`
    for an S3-compatible server such as MinIO, …), as LanceDB reads them. Empty (default): on this machine."""

    @field_validator("vector_uri")
    @classmethod
    def _check_vector_uri(cls, value: str) -> str:
        value = value.strip()
        if value and not value.lower().startswith(OBJECT_STORE_SCHEMES):
            raise ValueError(
                f"vector_uri must be an object-storage URI ({', '.join(OBJECT_STORE_SCHEMES)}…) or empty "
                "(on this machine)"
            )
        return value

    api_key: SecretStr | None = None
    """When set, `/v1` and `/metrics` require `Authorization: Bearer <key>` (compared in constant
    time). Unset (default): they are open to whoever reaches the server (bound to 127.0.0.1 unless
    `host` says otherwise)."""

    api_key_ui: bool = False
    """With `api_key` set, guard the Gradio UI and its API too (visitors sign in with the key as password)."""

    gguf_engine: str = "auto"
    """What runs chat models stored as GGUF files: `auto` (llama.cpp when `llama-cpp-python` is installed,
    else transformers), `llama.cpp` (fail if it is not installed), `transformers` (de-quantized to `dtype`)."""

    gguf_context: int = 8192
    """Most tokens of context a GGUF chat model gets on llama.cpp (capped at the model's trained length);
    its KV cache for that many tokens is counted in the memory budget."""

    @field_validator("gguf_engine")
    @classmethod
    def _check_gguf_engine(cls, value: str) -> str:
        if value not in ("auto", "llama.cpp", "transformers"):
            raise ValueError("gguf_engine must be auto, llama.cpp or transformers")
        return value

    remote_api_key: SecretStr | None = Field(
        default_factory=lambda: SecretStr(os.environ["OPENAI_API_KEY"]) if os.environ.get("OPENAI_API_KEY") else None
    )
    """The key sent to remote OpenAI-compatible servers (models `openai+http(s)://HOST[:PORT]/v1#MODEL`).
    Unset: `OPENAI_API_KEY`, else none (most local servers need none)."""

    remote_timeout_seconds: float = 60.0
    """How long a request to a remote server may take (connect, or wait between streamed pieces)."""
    mcp: bool = True
    """Serve every public endpoint as an MCP tool at `/gradio_api/mcp/` (Gradio's MCP server, behind
    `api_key` when one is set, like `/v1`; off behind the UI's sign-in, `api_key_ui`). False: no MCP server."""
    metrics: bool = True
    """Count requests, model loads and chat tokens, and serve them at `GET /metrics` (Prometheus text
    format, behind `api_key` when one is set). False: nothing is counted and `/metrics` is not served."""

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError("device must be auto, cpu, mps, cuda or cuda:N")
        return value

    @field_validator("dtype")
    @classmethod
    def _check_dtype(cls, value: str) -> str:
        if value not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
        return value

    @field_validator("memory_budget")
    @classmethod
    def _check_budget(cls, value: str) -> str:
        if value.strip().lower() != "auto":
            parse_bytes(value)
        return value

    @property
    def is_offline(self) -> bool:
        from huggingface_hub import constants

        return self.offline or constants.HF_HUB_OFFLINE

    @property
    def data_path(self) -> Path:
        """The data folder (see `data_dir`), created on first use."""
        path = self.data_dir or default_data_dir()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    def budget_bytes(self, device: str) -> int | None:
        """The memory budget in bytes, or None for no limit."""
        value = self.memory_budget.strip().lower()
        return auto_budget(device) if value == "auto" else parse_bytes(value)


APP_ROOT = Path(__file__).resolve().parent.parent.parent
SPACES_PERSISTENT_STORAGE = Path("/data")


# The object stores LanceDB opens (`vector_uri`): AWS S3 and S3-compatible servers, Google Cloud Storage, Azure.
OBJECT_STORE_SCHEMES = ("s3://", "s3+ddb://", "gs://", "az://", "abfss://")


def default_data_dir() -> Path:
    """`/data/showcase` on a Space with persistent storage, else `data/` beside app.py."""
    if ON_SPACES and SPACES_PERSISTENT_STORAGE.is_dir() and os.access(SPACES_PERSISTENT_STORAGE, os.W_OK):
        return SPACES_PERSISTENT_STORAGE / "showcase"
    return APP_ROOT / "data"


def resolve_device(device: str) -> str:
    """`auto` → cuda, then mps, then cpu; anything else as given."""
    if device != "auto":
        return device
    with libraries.imports("settings.torch"):
        import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def auto_budget(device: str) -> int:
    """Default budget: 70 % of the GPU's memory on CUDA, else 60 % of the RAM we may use."""
    if device.startswith("cuda"):
        with libraries.imports("settings.torch"):
            import torch

        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory * 0.7)
    return int(available_ram() * 0.6)


def resolve_dtype(dtype: str | None, device: str) -> str:
    """Concrete dtype name for a device: float32 on CPU, bfloat16/float16 on accelerators."""
    if dtype and dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        with libraries.imports("settings.torch"):
            import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "float32"


_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
}


def parse_bytes(text: str) -> int | None:
    """Parse `4GB`, `1.5 GiB`, `512MB`, `1000000` → bytes; `none`/`unlimited`/`0` → None."""
    value = str(text).strip().lower().replace(" ", "")
    if value in ("none", "unlimited", "0", ""):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmgt]?i?b?)", value)
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"cannot read {text!r} as a size; use e.g. 4GB, 1500MiB or none")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


# Hugging Face Spaces' free "CPU basic" hardware: 2 vCPU, 16 GB.
SPACES_CPU_BASIC_RAM = 16 * 10**9
CGROUP_LIMIT_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def available_ram() -> int:
    """RAM this process may use: the machine's total, capped by a cgroup limit (containers, Spaces).

    On Spaces without a readable limit, assume CPU basic's 16 GB: the host may report far more RAM
    than the Space is allowed to use.
    """
    import psutil

    total = psutil.virtual_memory().total
    limits = []
    for limit_file in CGROUP_LIMIT_FILES:
        try:
            raw = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            limits.append(int(raw))
    if not limits and ON_SPACES:
        limits.append(SPACES_CPU_BASIC_RAM)
    return min([total, *limits])


def read_models_file(path: Path) -> dict[str, ModelRef]:
    """Read a models TOML file into task → ModelRef. Relative paths are relative to the file."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"Cannot read models file {path}: {exc}") from exc
    refs: dict[str, ModelRef] = {}
    for task, entry in data.items():
        if isinstance(entry, str):
            entry = {"model": entry}
        if not isinstance(entry, dict) or "model" not in entry:
            raise InputError(f'{path}: [{task}] needs a `model = "..."` line.')
        ref = ModelRef.parse(str(entry["model"]), base_dir=path.parent)
        if entry.get("revision"):
            ref = ModelRef(ref.source, str(entry["revision"]), ref.gguf_file)
        if entry.get("gguf_file"):
            ref = ModelRef(ref.source, ref.revision, str(entry["gguf_file"]))
        dtype = entry.get("dtype")
        if dtype is not None and dtype not in DTYPES:
            raise InputError(f"{path}: [{task}] dtype must be one of {', '.join(DTYPES)}.")
        refs[task] = ref.with_dtype(dtype)
    return refs


class ModelSelection:
    """Thread-safe task → ModelRef table: the configured model of every task, changeable at run time."""

    def __init__(self, defaults: Mapping[str, ModelRef]) -> None:
        self._lock = threading.Lock()
        self._refs = dict(defaults)
        self._origin = dict.fromkeys(defaults, "registry default")

    @classmethod
    def from_settings(cls, defaults: Mapping[str, ModelRef], settings: Settings) -> ModelSelection:
        selection = cls(defaults)
        if settings.models_file is not None:
            for task, ref in read_models_file(settings.models_file).items():
                selection.set(task, ref, origin=f"models file {settings.models_file.name}")
        for task, text in settings.models.items():
            selection.set(task, ModelRef.parse(text), origin="SHOWCASE_MODELS / --model")
        return selection

    def tasks(self) -> Iterable[str]:
        return tuple(self._refs)

    def get(self, task: str) -> ModelRef:
        with self._lock:
            try:
                return self._refs[task]
            except KeyError:
                raise InputError(f"Unknown task `{task}`.") from None

    def origin(self, task: str) -> str:
        with self._lock:
            return self._origin.get(task, "")

    def set(self, task: str, ref: ModelRef, origin: str = "set at run time") -> None:
        with self._lock:
            if task not in self._refs:
                known = ", ".join(sorted(self._refs))
                raise InputError(f"Unknown task `{task}` (tasks with a model: {known}).")
            self._refs[task] = ref
            self._origin[task] = origin

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {task: str(ref) for task, ref in self._refs.items()}
