"""The registry is the one list of tasks: complete, consistent, documented, and cheap to import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from huggingface_hub.utils import validate_repo_id
from tiny_models import load_builders

from apps import SPECS, TASKS
from apps.core.settings import Settings
from apps.core.spec import ASSETS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_keys_and_api_names_are_unique() -> None:
    keys = [spec.key for spec in TASKS]
    assert len(keys) == len(set(keys)) == len(SPECS)
    names = [name for spec in TASKS for name in spec.api_names]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"/[a-z_]+", name) for name in names)


def test_models_are_real_hub_ids_with_facts() -> None:
    for spec in TASKS:
        if spec.load is None:
            assert spec.default is None, spec.key
            continue
        assert spec.default is not None, f"{spec.key} loads a model but names no default"
        for card in spec.cards:
            validate_repo_id(card.id)
            assert card.params and card.size and card.licence, card.id


def test_example_files_exist() -> None:
    for spec in TASKS:
        for name in spec.examples:
            assert (ASSETS / name).is_file(), f"{spec.key}: missing example assets/{name}"


def test_tiny_kit_covers_every_task_with_a_model() -> None:
    with_models = {spec.key for spec in TASKS if spec.load is not None}
    builders = load_builders()
    assert with_models <= set(builders), f"no tiny model for {sorted(with_models - set(builders))}"


def test_tiny_kit_builds_every_task(tiny_models_file: Path) -> None:
    failures = json.loads((tiny_models_file.parent / "failures.json").read_text())
    assert failures == {}
    built = tomllib.loads(tiny_models_file.read_text())
    assert set(built) == set(load_builders())


def test_readme_documents_every_endpoint_and_setting() -> None:
    for spec in TASKS:
        for name in spec.api_names:
            assert f'api_name="{name}"' in README, f"README has no API example for {name}"
    for field in Settings.model_fields:
        assert f"SHOWCASE_{field.upper()}" in README, f"README does not document SHOWCASE_{field.upper()}"


def test_public_api_is_exactly_the_registry(client) -> None:
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert endpoints == {name for spec in TASKS for name in spec.api_names}


def test_importing_the_app_loads_no_model_and_no_torch() -> None:
    code = "import sys, app; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
