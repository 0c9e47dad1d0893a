"""The layout's rules, read from the source: data flows downward only.

- no task module imports another task's module (composite tasks call `ctx.run_task`);
- nothing below the registry imports it (`apps/__init__.py` is imported by app.py, tests and the bench);
- apps/core imports nothing above it and no gradio; apps/shared no tasks, no UI, no gradio.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

APPS = ROOT / "apps"
MODULES = sorted(path for path in APPS.rglob("*.py") if path != APPS / "__init__.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports (at any depth of the file, `from x import y` as `x` and `x.y`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def apps_modules() -> set[str]:
    return {module_name(path) for path in APPS.rglob("*.py")}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(APPS)))
def test_imports_flow_downward(path: Path) -> None:
    name = module_name(path)
    ours = apps_modules()
    used = {module for module in imported(path) if module in ours or module == "apps"}
    layer = name.split(".")[1] if name.count(".") else ""
    problems = []
    if "apps" in used:  # `from apps import X`: the registry, or a task through it
        problems.append("imports the registry (apps/__init__.py)")
    if layer == "tasks":
        others = {module for module in used if module.startswith("apps.tasks.") and module != name}
        if others:
            problems.append(f"imports other tasks: {sorted(others)}")
    if layer == "core":
        above = {m for m in used if m.split(".")[1] in ("shared", "tasks", "ui", "finder", "cli")}
        if above:
            problems.append(f"core imports from above it: {sorted(above)}")
    if layer in ("core", "shared") and any(module.split(".")[0] == "gradio" for module in imported(path)):
        problems.append("imports gradio")
    if layer == "shared":
        above = {m for m in used if m.split(".")[1] in ("tasks", "ui", "cli")}
        if above:
            problems.append(f"shared code imports tasks or UI: {sorted(above)}")
    assert not problems, f"{name}: " + "; ".join(problems)
