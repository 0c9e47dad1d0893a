"""What a tab module gets to build itself: a task context plus the page's load events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.core.spec import TaskContext
from apps.shared.code import LastCalls


@dataclass
class TabContext(TaskContext):
    """A TaskContext for building a tab: it can also refresh components whenever a page opens."""

    page_load: list[tuple[Callable[[], Any], list[Any]]] = field(default_factory=list)
    calls: LastCalls = field(default_factory=LastCalls)  # every task's last call, for "Use it in code"

    def for_task(self, key: str) -> TabContext:
        """The context of another task (its header lines, its model picker), sharing this page's load events."""
        return TabContext(self.specs[key], self.settings, self.manager, self.specs, self.page_load, self.calls)

    def on_page_load(self, fn: Callable[[], Any], outputs: list[Any]) -> None:
        """Refresh these components whenever a page opens (e.g. after the configured model changed)."""
        self.page_load.append((fn, outputs))
