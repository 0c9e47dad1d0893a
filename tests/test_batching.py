"""Micro-batching (apps/shared/batching.py) and the two batched endpoints, /similarity and /classify_image.

Concurrent requests share forward passes, but each request keeps its own input checks and its own
error: one bad request in a batch fails alone, the others get their results.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file

from apps.shared.batching import Batcher

APPLE = "assets/mm-apple.png"


class SlowDoubler:
    """A fake model: doubles numbers, refuses negative ones, and holds its first batch until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls: list[list[int]] = []

    def __call__(self, model: object, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        self.started.set()
        self.release.wait(timeout=10)
        if any(item < 0 for item in items):
            raise ValueError(f"negative: {[item for item in items if item < 0]}")
        return [2 * item for item in items]


def run_concurrently(batcher: Batcher, model: object, items: list[int], first: SlowDoubler) -> list[object]:
    """Start the first item, wait until its batch runs, queue the others behind it, then let them all go."""
    with ThreadPoolExecutor(len(items)) as pool:

        def one(item: int) -> object:
            try:
                return batcher.run(model, item)
            except Exception as exc:
                return exc

        futures = [pool.submit(one, items[0])]
        assert first.started.wait(timeout=10)
        futures += [pool.submit(one, item) for item in items[1:]]
        deadline = time.monotonic() + 10
        while batcher.waiting() < len(items) - 1:
            assert time.monotonic() < deadline, "requests did not queue"
            time.sleep(0.005)
        first.release.set()
        return [future.result(timeout=20) for future in futures]


def test_waiting_requests_share_one_forward_pass() -> None:
    forward = SlowDoubler()
    batcher = Batcher(forward, max_size=8)
    results = run_concurrently(batcher, object(), [1, 2, 3, 4, 5], forward)
    assert results == [2, 4, 6, 8, 10]
    assert forward.calls == [[1], [2, 3, 4, 5]]  # the first ran alone; the others waited and went together
    assert (batcher.batches, batcher.items) == (2, 5)


def test_batches_are_at_most_max_size() -> None:
    forward = SlowDoubler()
    batcher = Batcher(forward, max_size=3)
    results = run_concurrently(batcher, object(), list(range(1, 9)), forward)
    assert results == [2 * n for n in range(1, 9)]
    assert [len(call) for call in forward.calls] == [1, 3, 3, 1]


def test_a_failing_item_fails_alone() -> None:
    forward = SlowDoubler()
    batcher = Batcher(forward, max_size=8)
    results = run_concurrently(batcher, object(), [1, 2, -3, 4], forward)
    assert results[:2] == [2, 4] and results[3] == 8
    assert isinstance(results[2], ValueError) and "negative: [-3]" in str(results[2])
    assert forward.calls[1] == [2, -3, 4]  # the batch failed, then each of its items ran alone


def test_different_models_never_share_a_batch() -> None:
    seen: list[tuple[object, list[int]]] = []
    gate = threading.Event()

    def forward(model: object, items: list[int]) -> list[int]:
        seen.append((model, list(items)))
        gate.wait(timeout=10)
        return items

    batcher = Batcher(forward)
    first, second = object(), object()
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batcher.run, model, n) for n, model in enumerate([first, second, first, second])]
        time.sleep(0.2)
        gate.set()
        assert [future.result(timeout=10) for future in futures] == [0, 1, 2, 3]
    models = [first, second, first, second]
    assert sorted(n for _, items in seen for n in items) == [0, 1, 2, 3]
    assert all(models[n] is owner for owner, items in seen for n in items)


def test_encode_groups_matches_encoding_each_request_alone(tiny_models_file: Path) -> None:
    import tomllib

    from apps.core.manager import LoadRequest
    from apps.core.refs import ModelRef
    from apps.shared.embeddings import load_sentence_transformer
    from apps.tasks.similarity import encode_groups

    folder = Path(tomllib.loads(tiny_models_file.read_text())["similarity"]["model"])
    encoder = load_sentence_transformer(
        LoadRequest("similarity", ModelRef(str(folder)), folder, "cpu", "float32", False)
    )
    groups = [["a cat sits on the mat", "a kitten"], ["stock markets fell today", "hello", "the world is a mat"]]
    together = encode_groups(encoder, groups)
    assert [part.shape[0] for part in together] == [2, 3]
    for part, group in zip(together, groups, strict=True):
        np.testing.assert_allclose(part, encoder.encode(group, convert_to_numpy=True), atol=1e-5)


# -- through the API: concurrent requests, one of them bad ----------------------------------------


def concurrent_predictions(url: str, requests: list[tuple[tuple, str]]) -> list[object]:
    """Each (args, api_name) from its own client, all at once; exceptions are returned, not raised."""
    clients = [Client(url, verbose=False) for _ in requests]

    def one(index: int) -> object:
        args, api_name = requests[index]
        try:
            return clients[index].predict(*args, api_name=api_name)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, range(len(requests))))


def test_similarity_bad_request_among_concurrent_ones_fails_alone(tiny_app, client: Client) -> None:
    good = [f"A cat sits on mat {n}.\nA kitten is on a rug.\nMarkets fell {n} points." for n in range(6)]
    expected = [client.predict(text, "", api_name="/similarity") for text in good]
    requests = [((text, ""), "/similarity") for text in good]
    requests.insert(2, (("only one sentence", ""), "/similarity"))
    requests.insert(5, (("a\nb", "nobody/no-such-model"), "/similarity"))
    results = concurrent_predictions(tiny_app[0], requests)
    assert "at least two sentences" in str(results[2]) and "Traceback" not in str(results[2])
    assert "not in the local Hugging Face cache" in str(results[5])
    answers = [result for index, result in enumerate(results) if index not in (2, 5)]
    for (table, pair), (expected_table, expected_pair) in zip(answers, expected, strict=True):
        assert table["headers"] == expected_table["headers"] == ["sentence", "1", "2", "3"]
        np.testing.assert_allclose(
            np.array([row[1:] for row in table["data"]], dtype=float),
            np.array([row[1:] for row in expected_table["data"]], dtype=float),
            atol=2e-3,
        )
        assert pair == expected_pair


def test_classify_image_bad_request_among_concurrent_ones_fails_alone(tiny_app, client: Client, tmp_path: Path) -> None:
    from PIL import Image

    images = []
    for n in range(5):
        image = Image.open(APPLE).convert("RGB")
        image.putpixel((0, 0), (n, 0, 0))  # different content: no cache hit makes this trivial
        path = tmp_path / f"apple-{n}.png"
        image.save(path)
        images.append(str(path))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"definitely not a jpeg")
    labels = "apple, car, house"
    expected = [client.predict(handle_file(path), labels, "", "", api_name="/classify_image") for path in images]
    requests = [((handle_file(path), labels, "", ""), "/classify_image") for path in images]
    requests.insert(1, ((handle_file(str(broken)), labels, "", ""), "/classify_image"))
    requests.insert(4, ((handle_file(images[0]), "apple", "", ""), "/classify_image"))
    results = concurrent_predictions(tiny_app[0], requests)
    assert "not an image" in str(results[1]) and "Traceback" not in str(results[1])
    assert "at least two different labels" in str(results[4])
    answers = [result for index, result in enumerate(results) if index not in (1, 4)]
    for result, reference in zip(answers, expected, strict=True):
        scores = {row["label"]: row["confidence"] for row in result["confidences"]}
        wanted = {row["label"]: row["confidence"] for row in reference["confidences"]}
        assert scores.keys() == wanted.keys() == {"apple", "car", "house"}
        for label in scores:
            assert scores[label] == pytest.approx(wanted[label], abs=1e-3)


def test_batched_endpoints_keep_their_public_api(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in api["/similarity"]["parameters"]] == ["sentences", "model"]
    assert [p["parameter_name"] for p in api["/classify_image"]["parameters"]] == [
        "image",
        "labels",
        "template",
        "model",
    ]
    assert len(api["/similarity"]["returns"]) == 2 and len(api["/classify_image"]["returns"]) == 1
