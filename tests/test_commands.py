"""Shipping commands: `deploy --dry-run`, `download` (from a fake Hub) and `--offline` serving from the cache."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from conftest import free_port
from fake_hub import FakeHub, FakeRepo
from gradio_client import Client

from apps import SPECS
from apps.cli.commands import space_files, tasks_to_fetch
from apps.core.errors import ShowcaseError
from apps.core.settings import auto_budget

ROOT = Path(__file__).resolve().parent.parent


def run_app(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_deploy_dry_run_lists_exactly_what_a_space_needs() -> None:
    result = run_app("deploy", "someone/showcase", "--dry-run", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    listed = [line.strip() for line in result.stdout.splitlines()[1:]]
    assert listed == space_files()
    assert {"app.py", "README.md", "requirements.txt", "packages.txt", "apps/__init__.py"} <= set(listed)
    assert all((ROOT / name).is_file() for name in listed)
    # every module of the app and every example file goes; tests, CI and scripts stay home
    assert {f"apps/{p.name}" for p in (ROOT / "apps").glob("*.py")} <= set(listed)
    assert {f"assets/{p.name}" for p in (ROOT / "assets").iterdir() if p.is_file()} <= set(listed)
    assert not [name for name in listed if name.startswith(("tests/", ".ci/", "scripts/", "bench/", ".venv/"))]
    assert not [name for name in listed if name.endswith((".pyc", ".pyi"))]


def test_deploy_with_a_pipeline_lists_its_file(tmp_path: Path) -> None:
    shipped = "assets/pipelines/speech-translation.yaml"
    result = run_app("deploy", "someone/translator", "--dry-run", "--pipeline", shipped, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert [line.strip() for line in result.stdout.splitlines()[1:-1]] == space_files()  # already among them
    assert f"serves only the pipeline {shipped} (Space variable SHOWCASE_PIPELINE={shipped})" in result.stdout
    own = tmp_path / "mine.json"
    own.write_text((ROOT / "assets/pipelines/image-narration.json").read_text())
    result = run_app("deploy", "someone/narrator", "--dry-run", "--pipeline", str(own), env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "pipelines/mine.json" in [line.strip() for line in result.stdout.splitlines()]
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": [{"task": "teleport"}]}')
    result = run_app("deploy", "someone/narrator", "--dry-run", "--pipeline", str(bad), env=dict(os.environ))
    assert result.returncode == 2 and "unknown task `teleport`" in result.stdout


class RecordingHfApi:
    """huggingface_hub.HfApi's calls that deploy makes, recorded (no network); one variable already set."""

    calls: ClassVar[list[tuple[str, tuple, dict]]] = []
    variables: ClassVar[dict[str, str]] = {}

    def __getattr__(self, name: str):
        def record(*args, **kwargs):
            RecordingHfApi.calls.append((name, args, kwargs))
            return dict(RecordingHfApi.variables) if name == "get_space_variables" else None

        return record


def test_deploy_sets_and_clears_the_pipeline_variable(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub

    from apps.cli.commands import deploy

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHfApi)
    own = tmp_path / "mine.json"
    own.write_text((ROOT / "assets/pipelines/image-narration.json").read_text())
    RecordingHfApi.calls = []
    files = deploy("someone/narrator", pipeline=own)
    assert "pipelines/mine.json" in files
    names = [name for name, _args, _kwargs in RecordingHfApi.calls]
    assert names == ["create_repo", "upload_folder", "upload_file", "add_space_variable"]
    upload = RecordingHfApi.calls[2][2]
    assert upload["path_in_repo"] == "pipelines/mine.json" and upload["path_or_fileobj"] == str(own)
    assert RecordingHfApi.calls[3][1] == ("someone/narrator", "SHOWCASE_PIPELINE", "pipelines/mine.json")
    # The whole app again: the variable an earlier deploy left is removed.
    RecordingHfApi.calls, RecordingHfApi.variables = [], {"SHOWCASE_PIPELINE": "pipelines/mine.json"}
    deploy("someone/narrator")
    assert [name for name, *_ in RecordingHfApi.calls][-2:] == ["get_space_variables", "delete_space_variable"]


def test_deploy_refuses_a_bad_space_id() -> None:
    result = run_app("deploy", "not a space id", "--dry-run", env=dict(os.environ))
    assert result.returncode == 2
    assert "not a valid model id" in result.stdout


def test_download_expands_tasks_to_the_models_they_use() -> None:
    assert tasks_to_fetch(SPECS, ["speech_translation"], all_tasks=False) == ["asr", "translation", "tts"]
    assert tasks_to_fetch(SPECS, ["narration"], all_tasks=False) == ["narration", "tts"]
    assert set(tasks_to_fetch(SPECS, [], all_tasks=True)) == {key for key, spec in SPECS.items() if spec.load}
    for bad in ([], ["no_such_task"]):
        with pytest.raises(ShowcaseError, match="Tasks: chat"):
            tasks_to_fetch(SPECS, bad, all_tasks=False)


def test_spaces_budget_fits_cpu_basic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import apps.core.settings as settings_module

    monkeypatch.setattr(settings_module, "ON_SPACES", True)
    # The container's own limit counts (CPU basic: 16 GB)...
    limit = tmp_path / "memory.max"
    limit.write_text(f"{16 * 10**9}\n")
    monkeypatch.setattr(settings_module, "CGROUP_LIMIT_FILES", (str(limit),))
    assert auto_budget("cpu") == int(0.6 * min(16 * 10**9, settings_module.available_ram()))
    # ...and where it cannot be read, the host's RAM is not taken at its word.
    monkeypatch.setattr(settings_module, "CGROUP_LIMIT_FILES", ("/no/such/cgroup/file",))
    assert auto_budget("cpu") <= 0.6 * 16 * 10**9


@pytest.fixture(scope="module")
def tiny_hub(tiny_models_file: Path) -> Iterator[FakeHub]:
    """A fake Hub serving the tiny similarity model as `tiny-org/similarity`."""
    folder = tiny_models_file.parent / "similarity"
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with FakeHub([FakeRepo("tiny-org/similarity", pipeline_tag="sentence-similarity", files=files)]) as hub:
        yield hub


def test_download_then_serve_offline_from_the_cache(tiny_hub: FakeHub, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_ENDPOINT": tiny_hub.url, "HF_HUB_OFFLINE": "0"}
    fetched = run_app("--model", "similarity=tiny-org/similarity", "download", "similarity", env=env)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert "tiny-org/similarity" in fetched.stdout and "KiB" in fetched.stdout
    assert any(r["path"].endswith("/model.safetensors") and r["method"] == "GET" for r in tiny_hub.requests)

    # Now no Hub at all: --offline serves the model from the cache alone.
    port = free_port()
    offline_env = {**env, "HF_ENDPOINT": "http://127.0.0.1:9"}
    server = subprocess.Popen(
        [sys.executable, "app.py", "--offline", "--port", str(port), "--model", "similarity=tiny-org/similarity"],
        cwd=ROOT,
        env=offline_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        client = Client(url, verbose=False)
        table, pair = client.predict("a cat\na kitten\nthe stock market", "", api_name="/similarity")
        assert len(table["data"]) == 3 and "Most similar pair" in pair
        # A model that was never downloaded says which command fetches it.
        with pytest.raises(Exception, match=r"python app\.py download similarity"):
            client.predict("a\nb", "tiny-org/never-downloaded", api_name="/similarity")
    finally:
        server.terminate()
        server.wait(timeout=30)
