"""The README's API section is executable: every example runs against the tiny-model app.

A renamed endpoint, a changed parameter or a changed return shape breaks one of these tests, so
the docs cannot drift from the app; every call an example makes passes the parameters of its endpoint's
reference request (the registry's), positional ones in the same order. Also: `/status` and
`client.view_api()` agree with the registry.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import KIT_DIR
from reference_requests import request_for

from apps import TASKS
from apps.core.spec import Answer, Asset

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCUMENTED_URL = "http://127.0.0.1:7860/"
# Real chat models an example names, and the tiny app's stand-ins for them (offline, it has only the tiny kit).
TINY_STAND_INS = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": str(KIT_DIR / "chat"),
    "HuggingFaceTB/SmolLM2-360M-Instruct": str(KIT_DIR / "finetune"),
}


def api_section(readme: str) -> str:
    """The text from `## API` to the next level-2 heading."""
    match = re.search(r"^## API\n(.*?)(?=^## )", readme, flags=re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## API' section"
    return match.group(1)


def api_examples(readme: str) -> dict[str, str]:
    """{heading: code} for every ```python block of the API section, keyed by its `### ` heading."""
    examples: dict[str, str] = {}
    for part in re.split(r"^### ", api_section(readme), flags=re.MULTILINE)[1:]:
        heading = part.splitlines()[0].strip().strip("`")
        blocks = re.findall(r"^```python\n(.*?)^```", part, flags=re.MULTILINE | re.DOTALL)
        for number, code in enumerate(blocks):
            examples[heading if number == 0 else f"{heading} ({number + 1})"] = code
    return examples


EXAMPLES = api_examples(README)
PUBLIC_NAMES = {name for spec in TASKS for name in spec.api_names}


def called_endpoints(code: str) -> set[str]:
    return set(re.findall(r'api_name="(/[a-z_]+)"', code))


def test_every_public_endpoint_has_a_runnable_example() -> None:
    documented = {name for code in EXAMPLES.values() for name in called_endpoints(code)}
    assert not PUBLIC_NAMES - documented, f"no README API example calls {sorted(PUBLIC_NAMES - documented)}"
    assert not documented - PUBLIC_NAMES, (
        f"README API examples call unknown endpoints {sorted(documented - PUBLIC_NAMES)}"
    )
    for heading, code in EXAMPLES.items():
        assert DOCUMENTED_URL in code, f"the {heading} example does not connect to {DOCUMENTED_URL}"


@dataclass
class Call:
    """One `client.predict` / `client.submit` an example made."""

    api_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def record_calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Record every `predict` and `submit` of gradio_client's Client (and still send them)."""
    from gradio_client import Client

    calls: list[Call] = []
    inside = threading.local()  # `predict` calls `submit` itself: record only the example's own call
    for method in ("predict", "submit"):
        original = getattr(Client, method)

        def recording(self: Any, *args: Any, api_name: str, _original: Any = original, **kwargs: Any) -> Any:
            if getattr(inside, "call", False):
                return _original(self, *args, api_name=api_name, **kwargs)
            calls.append(Call(api_name, args, kwargs))
            inside.call = True
            try:
                return _original(self, *args, api_name=api_name, **kwargs)
            finally:
                inside.call = False

        monkeypatch.setattr(Client, method, recording)
    return calls


def is_file_handle(value: Any) -> bool:
    """What `handle_file(...)` gives: a file for gradio_client to upload (lists of them item by item)."""
    if isinstance(value, list):
        return all(is_file_handle(item) for item in value)
    return isinstance(value, dict) and value.get("meta", {}).get("_type") == "gradio.FileData"


def check_like_the_reference(call: Call) -> None:
    """The example passes every parameter of the endpoint's reference request: positional ones in the request's
    order, the rest by name; each of the kind the request sends (a file, text, a number…)."""
    request = request_for(call.api_name)
    names = list(request.inputs)
    assert len(call.args) <= len(names), f"{call.api_name}: {len(call.args)} arguments for {len(names)} parameters"
    sent = dict(zip(names, call.args, strict=False))
    unknown = set(call.kwargs) - set(names)
    assert not unknown, f"{call.api_name} has no parameter {sorted(unknown)} (its parameters: {names})"
    twice = set(call.kwargs) & set(sent)
    assert not twice, f"{call.api_name}: {sorted(twice)} given by position and by name"
    sent.update(call.kwargs)
    assert set(sent) == set(names), f"{call.api_name}: the example leaves out {sorted(set(names) - set(sent))}"
    for name, value in request.inputs.items():
        expected, given = kind(value), kind(sent[name])
        fits = expected == given or "none" in (expected, given) or {expected, given} == {"list", "files"}
        assert fits, f"{call.api_name}: `{name}` should be {expected} (as in its reference request), not {given}"


def kind(value: Any) -> str:
    """What sort of value a parameter gets: a file, files, text, a number, a truth value, a list, none."""
    if isinstance(value, Answer):  # taken from an earlier call's answer: that answer's value is text
        return "text"
    if isinstance(value, Asset) or (is_file_handle(value) and not isinstance(value, list)):
        return "file"
    if isinstance(value, list):
        return "files" if value and all(kind(item) == "file" for item in value) else "list"
    if isinstance(value, bool):
        return "a truth value"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "none" if value is None else type(value).__name__


def test_readme_comments_name_the_parameters() -> None:
    """A comment `# name: …` after a positional argument names the parameter at that position."""
    for heading, code in EXAMPLES.items():
        source = code.splitlines()
        for node in ast.walk(ast.parse(code)):
            api_name = next((k.value for k in getattr(node, "keywords", ()) if k.arg == "api_name"), None)
            if not isinstance(node, ast.Call) or not isinstance(api_name, ast.Constant):
                continue
            names = list(request_for(api_name.value).inputs)
            for position, argument in enumerate(node.args):
                comment = source[argument.end_lineno - 1].partition("#")[2]
                named = re.match(r"\s*([a-z_]+):", comment)
                if named and position < len(names):
                    assert named.group(1) == names[position], (
                        f"{heading}: argument {position + 1} of {api_name.value} is `{names[position]}`, "
                        f"its comment says `{named.group(1)}`"
                    )


@pytest.mark.parametrize("heading", sorted(EXAMPLES))
def test_readme_example_runs(heading: str, tiny_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the example as a user would paste it, against the tiny-model app, from the repository root; each
    call passes the parameters of the endpoint's reference request (the registry's), in its order."""
    code = EXAMPLES[heading].replace(DOCUMENTED_URL, tiny_app[0])
    for model, stand_in in TINY_STAND_INS.items():
        code = code.replace(f'"{model}', f'"{stand_in}').replace(f"\\n{model}", f"\\n{stand_in}")
    monkeypatch.chdir(ROOT)  # examples name their files as assets/…
    calls = record_calls(monkeypatch)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"README.md API example {heading}", "exec"), {"__name__": "__readme__"})
    assert printed.getvalue().strip(), f"the {heading} example printed nothing"
    assert calls, f"the {heading} example calls no endpoint"
    for call in calls:
        check_like_the_reference(call)


def test_status_lists_every_task_with_a_model(client) -> None:
    status = client.predict(api_name="/status")
    with_models = {spec.key for spec in TASKS if spec.load is not None}
    assert set(status["tasks"]) == with_models
    for key, info in status["tasks"].items():
        assert info["model"], f"/status names no model for {key}"


def test_view_api_matches_the_registry_with_meaningful_names(client) -> None:
    import gradio as gr

    gradio_components = {name.lower() for name in dir(gr.components) if not name.startswith("_")}
    api = client.view_api(print_info=False, return_format="dict")
    assert set(api["named_endpoints"]) == PUBLIC_NAMES
    assert api["unnamed_endpoints"] == {}
    for name, endpoint in api["named_endpoints"].items():
        for part in (*endpoint["parameters"], *endpoint["returns"]):
            # Unlabelled components show up as value_123 / parameter_123 for API users.
            assert not re.fullmatch(r"(value|parameter)_\d+", part["label"]), f"{name}: unlabelled {part}"
            # Our subclasses (ImageInput, AudioInput…) show as the gradio components they are
            # ("Image", not "Imageinput"): set `is_template = True` on them.
            assert part["component"].lower() in gradio_components, f"{name}: {part['label']} is a {part['component']}"
