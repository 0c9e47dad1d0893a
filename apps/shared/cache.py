"""One thread-safe LRU cache for embeddings and other computed values, bounded by entries and, optionally, bytes.

Used by image embeddings (CLIP), corpus embeddings (semantic search) and SAM image embeddings: each keys
its values by content hash, so the same input is computed once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


def _no_size(value: object) -> int:
    return 0


class LRUCache(Generic[V]):
    """At most `max_entries` values (and `max_bytes` of them by `size`, always keeping the newest); counts hits."""

    def __init__(self, max_entries: int, max_bytes: int | None = None, size: Callable[[V], int] = _no_size) -> None:
        self.max_entries, self.max_bytes, self._size = max_entries, max_bytes, size
        self._items: OrderedDict[str, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> V | None:
        """The value for `key` (now the most recently used), or None; counts a hit or a miss."""
        with self._lock:
            if key not in self._items:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: str, value: V) -> None:
        with self._lock:
            if key in self._items:
                self._bytes -= self._size(self._items.pop(key))
            self._items[key] = value
            self._bytes += self._size(value)
            while len(self._items) > self.max_entries or (
                self.max_bytes is not None and len(self._items) > 1 and self._bytes > self.max_bytes
            ):
                _, evicted = self._items.popitem(last=False)
                self._bytes -= self._size(evicted)

    def get_or_compute(self, key: str, compute: Callable[[], V]) -> V:
        """The cached value, or `compute()` stored under `key` (computed outside the lock)."""
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
