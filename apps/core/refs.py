"""Model references: a Hub repo id (optionally at a revision) or a local folder, optionally a GGUF file."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from apps.core.errors import InputError
from apps.core.storage import check_name

DTYPES = ("auto", "float32", "float16", "bfloat16")
REMOTE_SCHEMES = ("openai+http://", "openai+https://")  # `openai+http(s)://HOST[:PORT]/v1#MODEL`: a remote server
ADAPTER_MARK = "+adapter:"  # `BASE+adapter:NAME`: a fine-tuned LoRA adapter on top of BASE
MAX_REF_CHARS = 1000  # far above any Hub id (org/name@revision#file.gguf) or sensible folder path


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from. `source` is a Hub repo id or an absolute local path."""

    source: str
    revision: str | None = None
    gguf_file: str | None = None
    dtype: str | None = None
    # A LoRA adapter trained by the Fine-tune tab, applied on top of the base model (`BASE+adapter:NAME`);
    # `adapter_dir` is its folder, filled in by `TaskContext.resolve_model` from SHOWCASE_DATA_DIR.
    adapter: str | None = None
    adapter_dir: str | None = None

    @property
    def is_local(self) -> bool:
        return os.path.isabs(self.source)

    @property
    def is_remote(self) -> bool:
        """True for a model served by an OpenAI-compatible server (`openai+http(s)://HOST[:PORT]/v1#MODEL`)."""
        return self.source.startswith(REMOTE_SCHEMES)

    @property
    def remote_url(self) -> str:
        """The server's base URL (`http(s)://HOST[:PORT]/v1`) of a remote model."""
        return self.source.removeprefix("openai+").partition("#")[0]

    @property
    def remote_model(self) -> str:
        """The model name the remote server knows (after the `#`)."""
        return self.source.partition("#")[2]

    @property
    def name(self) -> str:
        """Short human name: the repo id, the folder name of a local model, or a remote model's name."""
        if self.is_remote:
            return self.remote_model
        return Path(self.source).name if self.is_local else self.source

    def __str__(self) -> str:
        text = self.source
        if self.revision:
            text += f"@{self.revision}"
        if self.gguf_file:
            text += f"#{self.gguf_file}"
        if self.adapter:
            text += f"{ADAPTER_MARK}{self.adapter}"
        return text

    @property
    def base(self) -> ModelRef:
        """The model without its adapter."""
        return replace(self, adapter=None, adapter_dir=None)

    def with_adapter(self, name: str, folder: str | None = None) -> ModelRef:
        return replace(self, adapter=name, adapter_dir=folder)

    def with_dtype(self, dtype: str | None) -> ModelRef:
        return replace(self, dtype=dtype)

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        base_dir: Path | None = None,
        local_roots: tuple[Path, ...] | None = None,
    ) -> ModelRef:
        """Parse `SOURCE[@REVISION][#GGUF_FILE][+adapter:NAME]`.

        A source that starts with `/`, `.` or `~`, or names an existing folder, is a local path
        (resolved against `base_dir`); anything else must be a valid Hub repo id. `local_roots`
        limits which local folders are allowed (None allows any, an empty tuple allows none), so
        that refs typed by a visitor cannot point the app at arbitrary folders.
        """
        text = (text or "").strip()
        if not text:
            raise InputError("No model given: enter a Hub model id such as `org/name` or a local folder.")
        if len(text) > MAX_REF_CHARS:
            raise InputError(
                f"The model given is {len(text):,} characters long: enter a Hub model id such as `org/name` "
                "or a local folder."
            )
        if not text.isprintable():  # NUL and other control characters are never part of an id or a path
            raise InputError("The model given contains control characters: enter a Hub model id or a local folder.")
        if text.lower().startswith(REMOTE_SCHEMES):
            return cls(source=_remote_source(text))
        if ADAPTER_MARK in text:
            base_text, _, adapter = text.rpartition(ADAPTER_MARK)
            base = cls.parse(base_text, base_dir=base_dir, local_roots=local_roots)
            return base.with_adapter(check_name(adapter, "adapter"))
        source, _, gguf_file = text.partition("#")
        gguf_file = gguf_file.strip() or None
        source = source.strip()
        local = _local_path(source, base_dir)
        if local is not None:
            if local_roots is not None and not any(_is_within(local, root) for root in local_roots):
                raise InputError(
                    f"Local model folder `{source}` is not allowed here: only Hub model ids, or folders "
                    "under SHOWCASE_LOCAL_MODEL_DIRS, can be chosen at run time."
                )
            if not _exists(local):
                raise InputError(f"Local model path `{local}` does not exist.")
            if local.is_file() and local.suffix == ".gguf" and gguf_file is None:
                local, gguf_file = local.parent, local.name
            return cls(source=str(local), gguf_file=gguf_file)
        repo_id, _, revision = source.partition("@")
        try:
            validate_repo_id(repo_id)
        except HFValidationError:
            raise InputError(
                f"`{source}` is not a valid model id: use a Hub id like `org/model-name` "
                "(letters, digits, '-', '_', '.') or a local folder."
            ) from None
        if gguf_file is not None and not gguf_file.endswith(".gguf"):
            raise InputError(f"`{gguf_file}` is not a GGUF file name (it must end in .gguf).")
        return cls(source=repo_id, revision=revision.strip() or None, gguf_file=gguf_file)


def _remote_source(text: str) -> str:
    """`openai+http(s)://HOST[:PORT]/PATH#MODEL`, checked (host and model present), scheme lower-cased."""
    from urllib.parse import urlsplit

    url, _, model = text.partition("#")
    scheme, _, rest = url.partition("://")
    parts = urlsplit(f"{scheme.lower().removeprefix('openai+')}://{rest}")
    try:
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number below 65536
    except ValueError:
        parts = parts._replace(netloc="")
    if not parts.hostname or not model.strip() or parts.query or parts.fragment:
        raise InputError(
            f"`{text}` is not a remote model: write `openai+http://HOST[:PORT]/v1#MODEL`, e.g. "
            "`openai+http://gpu-box:8000/v1#Qwen/Qwen2.5-7B-Instruct`."
        )
    return f"{scheme.lower()}://{rest.rstrip('/')}#{model.strip()}"


def _local_path(source: str, base_dir: Path | None) -> Path | None:
    if source.startswith(("/", ".", "~")):
        path = Path(source).expanduser()
    elif _exists((base_dir or Path.cwd()).joinpath(source)):  # like from_pretrained: a folder wins
        path = Path(source)
    else:
        return None
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return path.resolve()


def _exists(path: Path) -> bool:
    """`path.exists()`, False for names the file system refuses (too long, NUL bytes)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.expanduser().resolve())
    except ValueError:
        return False
    return True
