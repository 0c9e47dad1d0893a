"""The registry is the one list of tasks: complete, consistent, documented, and cheap to import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

from huggingface_hub.utils import validate_repo_id
from reference_requests import ANSWERS, reference_requests, request_problems
from tiny_models import load_builders

from apps import SPECS, TASKS
from apps.core.settings import Settings
from apps.core.spec import ASSETS, Asset, Request

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


def test_building_part_of_the_shared_kit_keeps_every_task_in_its_models_file(tiny_models_file: Path) -> None:
    """A bench that builds a few tasks once rewrote the shared models.toml with only those, under a test
    session that read it later: tts and summarization then fell back to Hub ids (offline: refused)."""
    from tiny_models import build_kit

    assert build_kit(tiny_models_file.parent, ["similarity"]) == tiny_models_file
    assert set(tomllib.loads(tiny_models_file.read_text())) == set(load_builders())


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


def test_every_endpoint_has_one_reference_request() -> None:
    assert request_problems() == []
    assert set(reference_requests()) == {name for spec in TASKS for name in spec.api_names}
    assert set(ANSWERS) == set(reference_requests()), "add the endpoint's answer check to reference_requests.ANSWERS"


def test_an_endpoint_without_a_reference_request_is_reported() -> None:
    finder = SPECS["finder"]
    only_one = replace(finder, requests=finder.requests[:1])
    assert request_problems([only_one]) == [
        "finder: /estimate_memory has no reference request (add a Request to `requests=`)"
    ]
    stray = replace(SPECS["similarity"], requests=(*SPECS["similarity"].requests, Request("/nowhere", {})))
    assert request_problems([stray]) == [
        "similarity: a reference request for /nowhere, which is not one of its api_names"
    ]


def test_reference_requests_send_example_files_that_exist() -> None:
    for request in reference_requests().values():
        for name, value in request.inputs.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Asset):
                    assert item.path.is_file(), f"{request.api_name}: `{name}` names a missing asset {item.name}"


def test_reference_requests_name_every_parameter_in_order(client) -> None:
    """Positional callers (the bench, the load test, JS clients' arrays) can rely on the requests' order."""
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for api_name, request in reference_requests().items():
        names = [parameter["parameter_name"] for parameter in api[api_name]["parameters"]]
        assert list(request.inputs) == names, f"{api_name}: the reference request must name {names}, in this order"


def test_task_functions_take_the_public_parameter_names(client) -> None:
    """A task function named in the registry takes its endpoint's parameters by their public names."""
    import inspect

    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for spec in TASKS:
        if spec.run is None or not spec.requests:
            continue
        parameters = list(inspect.signature(spec.run).parameters)
        names = [parameter["parameter_name"] for parameter in api[spec.requests[0].api_name]["parameters"]]
        assert parameters[0] == "ctx" and parameters[1 : 1 + len(names)] == names, f"{spec.key}: {parameters}"
