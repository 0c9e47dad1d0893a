"""Settings precedence (flag > env > file > registry default), sizes and model references."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import build_manager, parse_args, settings_from_args
from apps import SPECS
from apps.core.errors import InputError
from apps.core.refs import ModelRef
from apps.core.settings import Settings, parse_bytes


def write_models_file(tmp_path: Path) -> Path:
    folder = tmp_path / "local-model"
    folder.mkdir()
    path = tmp_path / "models.toml"
    path.write_text('[similarity]\nmodel = "local-model"\ndtype = "float32"\n')
    return path


def test_registry_default_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOWCASE_MODELS", raising=False)
    manager = build_manager(settings_from_args(parse_args([])))
    assert manager.selection.get("similarity") == SPECS["similarity"].default.ref
    assert manager.selection.origin("similarity") == "registry default"


def test_file_overrides_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOWCASE_MODELS", raising=False)
    models = write_models_file(tmp_path)
    manager = build_manager(settings_from_args(parse_args(["--models", str(models)])))
    ref = manager.selection.get("similarity")
    assert ref.source == str((tmp_path / "local-model").resolve())  # relative to the file
    assert ref.dtype == "float32"


def test_env_overrides_file_and_flag_overrides_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = write_models_file(tmp_path)
    monkeypatch.setenv("SHOWCASE_MODELS_FILE", str(models))
    monkeypatch.setenv("SHOWCASE_MODELS", '{"similarity": "org/from-env"}')
    monkeypatch.setenv("SHOWCASE_PORT", "9001")
    monkeypatch.setenv("SHOWCASE_MEMORY_BUDGET", "2GB")
    env_only = settings_from_args(parse_args([]))
    assert build_manager(env_only).selection.get("similarity") == ModelRef("org/from-env")
    assert (env_only.port, env_only.memory_budget) == (9001, "2GB")

    flagged = settings_from_args(
        parse_args(["--model", "similarity=org/from-flag@v2", "--port", "9002", "--memory-budget", "1GiB"])
    )
    assert build_manager(flagged).selection.get("similarity") == ModelRef("org/from-flag", revision="v2")
    assert (flagged.port, flagged.budget_bytes("cpu")) == (9002, 2**30)


def test_defaults_bind_localhost_and_keep_remote_code_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRADIO_SERVER_NAME", "SHOWCASE_HOST", "SHOWCASE_TRUST_REMOTE_CODE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.trust_remote_code is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4GB", 4 * 10**9), ("1.5GiB", int(1.5 * 2**30)), ("512 MB", 512 * 10**6), ("1000", 1000), ("none", None)],
)
def test_parse_bytes(text: str, expected: int | None) -> None:
    assert parse_bytes(text) == expected


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Settings(memory_budget="lots")
    with pytest.raises(ValueError):
        Settings(device="tpu")
    with pytest.raises(ValueError):
        Settings(dtype="float8")


def test_model_ref_parsing(tmp_path: Path) -> None:
    assert ModelRef.parse("org/name@main#file.gguf") == ModelRef("org/name", "main", "file.gguf")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    assert ModelRef.parse(str(gguf)) == ModelRef(str(tmp_path.resolve()), gguf_file="m.gguf")
    for bad in ("", "   ", "org//name", "org/na me", "a/b/c", "org/name#weights.bin", "/no/such/folder"):
        with pytest.raises(InputError):
            ModelRef.parse(bad)


def test_local_refs_limited_to_allowed_roots(tmp_path: Path) -> None:
    allowed = tmp_path / "models"
    (allowed / "mine").mkdir(parents=True)
    assert ModelRef.parse(str(allowed / "mine"), local_roots=(allowed,)).source == str((allowed / "mine").resolve())
    with pytest.raises(InputError, match="not allowed"):
        ModelRef.parse(str(tmp_path), local_roots=(allowed,))
    with pytest.raises(InputError, match="not allowed"):
        ModelRef.parse("../../etc", local_roots=(allowed,))
