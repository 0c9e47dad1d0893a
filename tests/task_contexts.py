"""Task functions on the tiny models: a TaskContext to call them with, and reference requests as a client sends them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradio_client import handle_file

from apps import DEFAULT_MODELS, SPECS
from apps.core.manager import ModelManager
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import Asset, Request, TaskContext, TaskSpec


def tiny_manager(settings: Settings) -> ModelManager:
    """A model manager of its own (not the served app's) with every task's tiny model configured."""
    return ModelManager(
        loaders={spec.key: spec.load for spec in SPECS.values() if spec.load is not None},
        selection=ModelSelection.from_settings(DEFAULT_MODELS, settings),
        budget=None,
        device="cpu",
        offline=True,  # the tiny models are local folders: never ask the Hub
    )


def tiny_context(
    key: str, settings: Settings, manager: ModelManager, specs: Mapping[str, TaskSpec] = SPECS
) -> TaskContext:
    """The context a task function of `key` runs with, outside any tab (as the API, pipelines and evals call it)."""
    return TaskContext(specs[key], settings, manager, specs)


def client_inputs(request: Request) -> dict[str, Any]:
    """A reference request's inputs as gradio_client sends them: each Asset (also inside a list) as a file."""

    def sent(value: Any) -> Any:
        if isinstance(value, Asset):
            return handle_file(str(value.path))
        if isinstance(value, list):
            return [sent(item) for item in value]
        return value

    return {name: sent(value) for name, value in request.inputs.items()}


def endpoint_parameters(client: Any, api_name: str) -> list[str]:
    """The live endpoint's parameter names, in order."""
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"][api_name]
    return [parameter["parameter_name"] for parameter in info["parameters"]]
