"""The README's API section is executable: every example runs against the tiny-model app.

A renamed endpoint, a changed parameter or a changed return shape breaks one of these tests, so
the docs cannot drift from the app. Also: `/status` and `client.view_api()` agree with the registry.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from apps import TASKS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCUMENTED_URL = "http://127.0.0.1:7860/"


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


@pytest.mark.parametrize("heading", sorted(EXAMPLES))
def test_readme_example_runs(heading: str, tiny_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the example as a user would paste it, against the tiny-model app, from the repository root."""
    code = EXAMPLES[heading].replace(DOCUMENTED_URL, tiny_app[0])
    monkeypatch.chdir(ROOT)  # examples name their files as assets/…
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"README.md API example {heading}", "exec"), {"__name__": "__readme__"})
    assert printed.getvalue().strip(), f"the {heading} example printed nothing"


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
