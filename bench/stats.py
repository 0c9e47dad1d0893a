"""Timing and memory helpers: medians with min/max, interleaved runs, an RSS sampler."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stat:
    """Repeated measurements of one quantity (seconds, bytes, …)."""

    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else float("nan")

    def ms(self) -> str:
        """'12.3 ms (10.1–15.0, n=5)'."""
        return (
            f"{_num(self.median * 1000)} ms ({_num(self.low * 1000)}–{_num(self.high * 1000)}, n={len(self.samples)})"
        )

    def seconds(self) -> str:
        return f"{self.median:.2f} s ({self.low:.2f}–{self.high:.2f}, n={len(self.samples)})"


def _num(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def interleaved(
    calls: dict[str, Callable[[int], Any]], repeats: int, warmup: int = 1, *, self_timed: bool = False
) -> dict[str, Stat]:
    """Time each named call `repeats` times, alternating their order every round so drift hits all alike.

    Each call gets the round number (to vary inputs that would otherwise hit a cache). Warm-up rounds
    (numbered from -warmup) are not recorded. `self_timed`: each call returns the seconds to record
    itself (e.g. until its first streamed piece) instead of being timed whole.
    """
    stats = {name: Stat() for name in calls}
    names = list(calls)
    for number in range(-warmup, repeats):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            seconds, result = timed(lambda name=name, number=number: calls[name](number))
            if number >= 0:
                stats[name].add(float(result) if self_timed else seconds)
    return stats


def rss() -> int:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


class PeakRss:
    """Samples this process's RSS every `interval` seconds in a thread; `.peak` is the highest seen."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def _run(self) -> None:
        import psutil

        process = psutil.Process(os.getpid())
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())
