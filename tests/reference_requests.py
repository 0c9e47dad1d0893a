"""Every public endpoint's reference request, read from the registry, as `gradio_client` arguments.

One good call per endpoint is written once, in its task's registry entry (`TaskSpec.requests`, with files
as `Asset`s). The bad-input matrix starts from it, the load test sends it, the bench measures it and the
README check compares the README's examples with it: all of them read it here. `ANSWERS` checks the
answer to a reference request (or to a variation of one) from what was sent.

No pytest here: `bench/` imports this module too (with tests/ on `sys.path`, as for `tiny_models`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from apps import SPECS, TASKS
from apps.core.spec import Answer, Asset, Request, TaskSpec


def reference_requests(specs: Iterable[TaskSpec] = TASKS) -> dict[str, Request]:
    """api name → its reference request, in registry order (the first one where an endpoint has several)."""
    requests: dict[str, Request] = {}
    for spec in specs:
        for request in spec.requests:
            requests.setdefault(request.api_name, request)
    return requests


def request_problems(specs: Iterable[TaskSpec] = TASKS) -> list[str]:
    """What is wrong with the registry's reference requests: an endpoint without one, one with two, or a
    request for an endpoint its task does not serve. Empty when every endpoint has exactly one."""
    problems = []
    for spec in specs:
        names = [request.api_name for request in spec.requests]
        for api_name in spec.api_names:
            if api_name not in names:
                problems.append(f"{spec.key}: {api_name} has no reference request (add a Request to `requests=`)")
            elif names.count(api_name) > 1:
                problems.append(f"{spec.key}: {api_name} has {names.count(api_name)} reference requests, not one")
        problems += [
            f"{spec.key}: a reference request for {name}, which is not one of its api_names"
            for name in names
            if name not in spec.api_names
        ]
    return problems


def request_for(api_name: str, specs: Iterable[TaskSpec] = TASKS) -> Request:
    """The reference request of one endpoint; KeyError naming the endpoint if it has none."""
    try:
        return reference_requests(specs)[api_name]
    except KeyError:
        raise KeyError(f"{api_name} has no reference request in the registry") from None


def task_of(api_name: str, specs: Iterable[TaskSpec] = TASKS) -> TaskSpec:
    """The registry entry that serves an endpoint."""
    return next(spec for spec in specs if api_name in spec.api_names)


def inputs_of(request: Request, /, **overrides: Any) -> dict[str, Any]:
    """The request's inputs by name, in its order, with `overrides` replacing some (by parameter name).

    A name the request does not have is a TypeError: a typo must not silently send an extra argument.
    """
    unknown = set(overrides) - set(request.inputs)
    if unknown:
        raise TypeError(f"{request.api_name} has no parameter {', '.join(sorted(unknown))}")
    return {**request.inputs, **overrides}


def with_answers(inputs: Mapping[str, Any], ask: Callable[[str], Any]) -> dict[str, Any]:
    """The inputs with each `Answer` replaced by the output it names; `ask(api_name)` makes that earlier call
    (a fresh call for every request: a vote, for one, needs a battle of its own)."""

    def value(item: Any) -> Any:
        if not isinstance(item, Answer):
            return item
        out = ask(item.api_name)
        return out[item.index] if isinstance(out, tuple | list) else out

    return {name: value(item) for name, item in inputs.items()}


def local_value(value: Any) -> Any:
    """A request value as the checks read it: an `Asset` becomes its path (lists item by item)."""
    if isinstance(value, Asset):
        return value.path
    if isinstance(value, list | tuple):
        return [local_value(item) for item in value]
    return value


def client_value(value: Any) -> Any:
    """A request value as `gradio_client` sends it: an `Asset` or a `Path` becomes `handle_file(path)`."""
    from gradio_client import handle_file

    if isinstance(value, Asset):
        return handle_file(str(value.path))
    if isinstance(value, Path):
        return handle_file(str(value))
    if isinstance(value, list | tuple):
        return [client_value(item) for item in value]
    return value


def sent_inputs(request: Request, /, **overrides: Any) -> dict[str, Any]:
    """What a call of the request (with `overrides`) sends, by name, files as local paths (for `ANSWERS`)."""
    return {name: local_value(value) for name, value in inputs_of(request, **overrides).items()}


def client_kwargs(request: Request, /, **overrides: Any) -> dict[str, Any]:
    """`client.predict(**client_kwargs(request), api_name=request.api_name)`: every parameter by name."""
    return {name: client_value(value) for name, value in inputs_of(request, **overrides).items()}


def client_args(request: Request, /, **overrides: Any) -> tuple[Any, ...]:
    """`client.predict(*client_args(request), api_name=request.api_name)`: positional, in the endpoint's order."""
    return tuple(client_kwargs(request, **overrides).values())


# -- checks of the answers -------------------------------------------------------------------------


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def labels_of(text: str) -> set[str]:
    return {label.strip() for label in text.split(",") if label.strip()}


def image_size(path: Any) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def is_text(out: Any, sent: Mapping[str, Any] | None = None) -> None:
    assert isinstance(out, str) and out.strip(), out


def table(value: Any, headers: list[str] | None = None, rows: int | None = None) -> None:
    """`value` is a gradio table ({"headers", "data"}) with these headers and this many rows."""
    assert isinstance(value, dict) and "data" in value, value
    if headers is not None:
        assert value["headers"] == headers, value["headers"]
    if rows is not None:
        assert len(value["data"]) == rows, f"{len(value['data'])} rows, not {rows}"


def label_scores(out: Any, sent: Mapping[str, Any]) -> None:
    """A score per label sent, summing to 1, the best one named."""
    confidences = {row["label"]: row["confidence"] for row in out["confidences"]}
    assert math.isclose(sum(confidences.values()), 1.0, abs_tol=1e-3)
    assert out["label"] == max(confidences, key=confidences.get)
    assert set(confidences) == labels_of(sent["labels"]), (set(confidences), sent["labels"])


def check_similarity(out: Any, sent: Mapping[str, Any]) -> None:
    count = len(lines(sent["sentences"]))
    table(out[0], ["sentence", *(str(n + 1) for n in range(count))], count)
    assert "Most similar pair" in out[1]


def check_search(out: Any, sent: Mapping[str, Any]) -> None:
    table(out, ["rank", "score", "passage", "line"], int(sent["top_k"]))


RAG_DOCUMENTS = ["document", "chunks", "characters", "locations", "hash", "added"]


def check_rag_table(out: Any, sent: Mapping[str, Any] | None = None) -> None:
    table(out, RAG_DOCUMENTS)


def check_rag_documents(out: Any, sent: Mapping[str, Any]) -> None:
    summary, documents = out
    is_text(summary)
    table(documents, RAG_DOCUMENTS)


def check_rag_answer(out: Any, sent: Mapping[str, Any]) -> None:
    answer, sources = out
    is_text(answer)
    table(sources, ["rank", "document", "location", "score", "text"])
    assert len(sources["data"]) <= int(sent["top_k"])


def check_rerank(out: Any, sent: Mapping[str, Any]) -> None:
    table(out, ["rank", "score", "passage"], len(lines(sent["passages"])))


def check_summary(out: Any, sent: Mapping[str, Any]) -> None:
    is_text(out[0])
    assert "chunk" in out[1]


def check_transcript(out: Any, sent: Mapping[str, Any]) -> None:
    text, summary, segments = out
    assert isinstance(text, str) and "of audio" in summary
    table(segments, ["start", "end", "text"])


def check_speech(out: Any, sent: Mapping[str, Any]) -> None:
    wav, summary = out
    assert Path(wav).is_file() and "of speech" in summary


def check_speech_translation(out: Any, sent: Mapping[str, Any]) -> None:
    transcript, translation, wav, note = out
    is_text(transcript)
    is_text(translation)
    assert Path(wav).is_file() and note


def check_narration(out: Any, sent: Mapping[str, Any]) -> None:
    """The boxed image, a sentence, speech only when asked for, and boxes inside the image sent."""
    drawn, sentence, speech, detections = out
    assert Path(drawn).is_file() and (speech is not None) == bool(sent["speak"])
    assert sentence.endswith(".")
    table(detections, ["label", "score", "x0", "y0", "x1", "y1"])
    width, height = image_size(sent["image"])  # boxes are in the original's pixels
    assert all(0 <= row[2] <= row[4] <= width and 0 <= row[3] <= row[5] <= height for row in detections["data"])


def check_mask(out: Any, sent: Mapping[str, Any]) -> None:
    """A mask at the size of the image sent, and SAM's three candidates' scores."""
    mask, summary = out
    size = image_size(sent["image"])
    assert image_size(mask) == size and summary["size"] == list(size)
    assert len(summary["scores"]) == 3


def check_depth(out: Any, sent: Mapping[str, Any]) -> None:
    coloured, raw = out
    size = image_size(sent["image"])
    assert image_size(coloured) == size and image_size(raw) == size


def check_match(out: Any, sent: Mapping[str, Any]) -> None:
    table(out[0], ["text", "probability", "describes the image"], len(lines(sent["texts"])))
    assert "Best match" in out[1]


def check_gallery(out: Any, sent: Mapping[str, Any]) -> None:
    """One ranked picture per image sent, plus the examples when they were asked for."""
    gallery, ranks = out
    rows = len(sent["images"]) + (len(SPECS["image_search"].examples) if sent["include_examples"] else 0)
    assert len(gallery) == rows
    table(ranks, ["rank", "image", "score"], rows)


def check_found(out: Any, sent: Mapping[str, Any]) -> None:
    found, summary = out
    assert "model" in found["headers"]
    is_text(summary)


def check_estimate(out: Any, sent: Mapping[str, Any]) -> None:
    found, summary = out
    assert found["data"][0][0] == "fp32"
    assert "parameters" in summary


def check_status(out: Any, sent: Mapping[str, Any]) -> None:
    assert set(out) >= {"tasks", "loaded", "process", "events"}


def check_evaluation(out: Any, sent: Mapping[str, Any]) -> None:
    metrics, examples, results = out
    assert metrics["headers"] == ["model", "metric", "value", "ci_low", "ci_high", "n"]
    assert {row[1] for row in metrics["data"]} >= {"spearman", "pearson"}
    assert len(examples["data"]) == min(int(sent["limit"]), 16)
    assert str(results).endswith("results.json")


def check_finetune(out: Any, sent: Mapping[str, Any]) -> None:
    """A progress report of the run (the matrix may read the first one a stream gives, not the last)."""
    summary, loss, adapter = out
    assert summary.startswith(f"{sent['name']}: ") and f"of {sent['steps']}" in summary, summary
    assert len(loss["data"]) <= sent["steps"]
    assert adapter == "" or adapter.endswith(f"+adapter:{sent['name']}")


def check_finetune_status(out: Any, sent: Mapping[str, Any]) -> None:
    assert isinstance(out, dict) and "state" in out


ARENA_BOARD = ["rank", "model", "elo", "ci_low", "ci_high", "votes", "wins", "losses", "ties", "both_bad"]


def check_arena_battle(out: Any, sent: Mapping[str, Any]) -> None:
    """The battle id, and both answers (the matrix may read the first update a stream gives, not the last)."""
    battle, answer_a, answer_b = out
    assert isinstance(battle, str) and len(battle) == 32 and int(battle, 16) >= 0, battle
    assert isinstance(answer_a, str) and isinstance(answer_b, str)


def check_arena_board(out: Any, sent: Mapping[str, Any] | None = None) -> None:
    board, summary = out
    table(board, ARENA_BOARD)
    is_text(summary)


def check_arena_vote(out: Any, sent: Mapping[str, Any]) -> None:
    """The vote with both models named, and a board on which both appear."""
    result, board, summary = out
    assert result["choice"].lower() == " ".join(sent["choice"].split()).lower(), result
    assert result["model_a"] and result["model_b"] and result["model_a"] != result["model_b"], result
    check_arena_board((board, summary))
    assert {result["model_a"], result["model_b"]} <= {row[1] for row in board["data"]}


# api name → check(answer, what was sent by name, files as paths): raises AssertionError for a wrong answer.
def check_pipeline(out: Any, sent: Mapping[str, Any]) -> None:
    """A row per step of the spec sent, in order; the final text, audio and image of what its steps give."""
    import json

    steps = json.loads(sent["spec"])["steps"]
    text, audio, image, rows = out
    table(rows, ["step", "task", "model", "seconds", "output"], len(steps))
    assert [row[1] for row in rows["data"]] == [step["task"] for step in steps]
    assert isinstance(text, str)
    gives = {SPECS[step["task"]].gives for step in steps}
    assert (audio is not None) == ("audio" in gives), audio
    if audio is not None:
        assert Path(audio).is_file()
    if image is not None:
        assert Path(image).is_file()


def check_code(out: Any, sent: Mapping[str, Any]) -> None:
    """Markdown with the gradio_client snippet (at least) and a notebook file of the same code."""
    code, notebook = out
    assert isinstance(code, str) and "```python" in code and "gradio_client" in code, code[:300]
    assert Path(notebook).is_file() and Path(notebook).suffix == ".ipynb", notebook


def check_comparison(out: Any, sent: Mapping[str, Any]) -> None:
    """/compare: a row per model in the order sent, each an output or an error; a card for each, the rest hidden."""
    table, *rest = out
    cards, sounds, gallery = rest[:4], rest[4:8], rest[8]
    refs = [line.strip() for line in sent["models"].splitlines() if line.strip()]
    assert table["headers"][:4] == ["model", "output", "seconds", "memory"], table["headers"]
    rows = table["data"]
    assert len(rows) == len(refs), rows
    by_name = dict(zip(table["headers"], zip(*rows, strict=True), strict=True))
    assert all(output or error for output, error in zip(by_name["output"], by_name["error"], strict=True)), rows
    assert any(not error for error in by_name["error"]), rows  # the configured model ran
    assert all(seconds >= 0 for seconds in by_name["seconds"]), rows
    assert [card.get("visible") for card in cards] == [n < len(refs) for n in range(4)], cards
    for card, model in zip(cards, by_name["model"], strict=False):
        assert f"`{model}`" in card["value"], (card, model)
    assert [sound.get("visible") for sound in sounds] == [False] * 4 and not gallery.get("visible"), sounds


ANSWERS: dict[str, Callable[[Any, Mapping[str, Any]], None]] = {
    "/chat": is_text,
    "/finetune": check_finetune,
    "/finetune_status": check_finetune_status,
    "/finetune_stop": check_finetune_status,
    "/translate": is_text,
    "/summarize": check_summary,
    "/similarity": check_similarity,
    "/search": check_search,
    "/rag_add": check_rag_documents,
    "/rag_ask": check_rag_answer,
    "/rag_documents": check_rag_table,
    "/rag_remove": check_rag_documents,
    "/rerank": check_rerank,
    "/transcribe": check_transcript,
    "/speak": check_speech,
    "/classify_audio": label_scores,
    "/speech_translate": check_speech_translation,
    "/narrate": check_narration,
    "/segment": check_mask,
    "/depth": check_depth,
    "/answer": is_text,
    "/caption": is_text,
    "/match": check_match,
    "/image_search": check_gallery,
    "/classify_image": label_scores,
    "/run_pipeline": check_pipeline,
    "/find_models": check_found,
    "/estimate_memory": check_estimate,
    "/status": check_status,
    "/evaluate": check_evaluation,
    "/compare": check_comparison,
    "/arena_battle": check_arena_battle,
    "/arena_vote": check_arena_vote,
    "/arena_board": check_arena_board,
    "/code": check_code,
}


def check_answer(api_name: str, out: Any, sent: Mapping[str, Any]) -> None:
    """Raise AssertionError unless `out` is a right answer to `sent` (see ANSWERS)."""
    ANSWERS[api_name](out, sent)
