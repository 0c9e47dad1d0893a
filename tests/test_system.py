"""System: /status and the System tab's table, above all a model two tasks share (one copy, counted once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KIT_DIR

from app import build_manager
from apps import SPECS
from apps.core.settings import Settings
from apps.core.spec import TaskContext
from apps.tasks.search import search
from apps.tasks.similarity import similarity
from apps.tasks.system import Status, TaskStatus, process_markdown, status, status_table


@pytest.fixture
def shared_model(tiny_models_file: Path) -> TaskContext:
    """The tiny app's models, with Semantic search configured with Sentence similarity's tiny model; both ran."""
    settings = Settings(
        models_file=tiny_models_file,
        models={"search": str(KIT_DIR / "similarity")},
        offline=True,
        memory_budget="none",
        device="cpu",
    )
    manager = build_manager(settings)
    similarity(TaskContext(SPECS["similarity"], settings, manager, SPECS), "a cat\na dog")
    search(TaskContext(SPECS["search"], settings, manager, SPECS), "cat", "a cat\na dog", None, 1)
    return TaskContext(SPECS["system"], settings, manager, SPECS)


def test_two_tasks_on_one_model_show_one_copy_counted_once(shared_model: TaskContext) -> None:
    manager = shared_model.manager
    assert list(manager.load_counts.values()) == [1]  # one load for both tasks
    result = status(shared_model)
    assert isinstance(result, Status) and isinstance(result.tasks["search"], TaskStatus)
    first, second = result.tasks["similarity"], result.tasks["search"]
    assert first.state == second.state == "loaded" and first.model == second.model
    assert first.bytes == manager.used_bytes() > 0 and second.bytes == 0  # the bytes once, on the first task
    assert (first.shared_with, second.shared_with) == (["search"], ["similarity"])
    (copy,) = result.loaded
    assert copy["tasks"] == ["similarity", "search"] and copy["bytes"] == first.bytes
    assert sum(task.bytes for task in result.tasks.values()) == result.process.models_bytes
    # Tasks with one loader but different models (the tiny kit's two CLIP models) do not share.
    assert result.tasks["image_search"].shared_with == result.tasks["image_classification"].shared_with == []


def test_the_system_table_shows_a_shared_model_s_memory_once(shared_model: TaskContext) -> None:
    data = status(shared_model).as_dict()
    assert set(data) == {"tasks", "loaded", "process", "events"}
    table = status_table(data).set_index("task")
    memory = table.loc["Sentence similarity", "memory"]
    assert memory.endswith(", shared with Semantic search") and memory[0].isdigit()
    assert table.loc["Semantic search", "memory"] == "shared with Sentence similarity"
    assert table.loc["Depth estimation", "memory"] == ""  # not loaded
    assert "**models:**" in process_markdown(data)


def test_unloading_a_shared_copy_unloads_it_for_both(shared_model: TaskContext) -> None:
    manager = shared_model.manager
    assert manager.unload("search") is True
    assert manager.state_of("similarity") is None and manager.used_bytes() == 0
    assert status(shared_model).tasks["similarity"].state == "not loaded"


def test_status_through_the_api_names_every_task_with_a_model(client) -> None:
    data = client.predict(api_name="/status")
    assert set(data["tasks"]) == {key for key, spec in SPECS.items() if spec.load is not None}
    for info in data["tasks"].values():
        assert set(info) == set(TaskStatus.__dataclass_fields__)
    for row in data["loaded"]:
        assert row["task"] in row["tasks"]
