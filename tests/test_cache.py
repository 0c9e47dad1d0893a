"""The one LRU cache (apps/shared/cache.py): bounded by entries and bytes, least recently used out first."""

from __future__ import annotations

import threading

import numpy as np

from apps.shared.cache import LRUCache


def test_entries_bound_evicts_the_least_recently_used() -> None:
    cache: LRUCache[np.ndarray] = LRUCache(2)
    cache.put("a", np.ones(2))
    cache.put("b", np.ones(2))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", np.ones(2))
    assert len(cache) == 2 and cache.get("b") is None and cache.get("a") is not None
    assert (cache.hits, cache.misses) == (2, 1)


def test_bytes_bound_keeps_at_least_the_newest() -> None:
    cache: LRUCache[np.ndarray] = LRUCache(10, max_bytes=100, size=lambda v: v.nbytes)
    for key in "xyz":
        cache.put(key, np.zeros(20, dtype=np.float32))  # 80 bytes each
    assert len(cache) == 1 and cache.get("z") is not None
    cache.put("big", np.zeros(1000, dtype=np.float32))  # alone over the bound: still kept
    assert len(cache) == 1 and cache.get("big") is not None


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache: LRUCache[np.ndarray] = LRUCache(10, max_bytes=100, size=lambda v: v.nbytes)
    cache.put("a", np.zeros(10, dtype=np.float32))
    cache.put("a", np.zeros(10, dtype=np.float32))
    cache.put("b", np.zeros(10, dtype=np.float32))
    assert len(cache) == 2  # 80 bytes, not 120


def test_get_or_compute_computes_once_and_clear_forgets() -> None:
    cache: LRUCache[int] = LRUCache(4)
    calls: list[int] = []
    assert cache.get_or_compute("k", lambda: calls.append(1) or 7) == 7
    assert cache.get_or_compute("k", lambda: calls.append(1) or 8) == 7
    assert calls == [1]
    cache.clear()
    assert len(cache) == 0 and (cache.hits, cache.misses) == (0, 0)


def test_threads_share_one_consistent_cache() -> None:
    cache: LRUCache[int] = LRUCache(50)

    def work(offset: int) -> None:
        for n in range(500):
            cache.put(str((n + offset) % 80), n)
            cache.get(str(n % 80))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 50
