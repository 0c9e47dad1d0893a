"""Prompt templates: variables, few-shot pairs, the saved library, and the exact prompt a chat model is sent."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest
from task_contexts import tiny_manager

from apps import SPECS
from apps.core.errors import InputError
from apps.shared.prompts import (
    BUILTIN_TEMPLATES,
    PromptTemplate,
    TemplateLibrary,
    clean_examples,
    exact_prompt,
    make_template,
    template_variables,
)
from apps.ui.context import TabContext
from apps.ui.prompt_templates import build_prompt_templates


def test_variables_in_order_braces_escaped() -> None:
    assert template_variables("Explain {topic} to a {age}-year-old; {topic} again, {{literal}}") == ["topic", "age"]
    for bad in ("a {", "b }", "{0}", "{}", "{a.b}", "{x:>10}", "{x!r}"):
        with pytest.raises(InputError, match=r"variable|brace"):
            template_variables(bad)


def test_fill_and_messages() -> None:
    template = PromptTemplate("t", "Tell me about {topic} in {{braces}}.", "Be brief.", (("Hi", "Hello!"),))
    assert template.fill({"topic": "owls {x}"}) == "Tell me about owls {x} in {braces}."
    assert template.messages({"topic": "owls"}) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me about owls in {braces}."},
    ]
    with pytest.raises(InputError, match=r"Fill in \{topic\}"):
        template.fill({"topic": "  "})


def test_examples_are_complete_pairs() -> None:
    assert clean_examples([["q", "a"], ["", ""], [" q2 ", "a2"]]) == (("q", "a"), ("q2", "a2"))
    with pytest.raises(InputError, match="Example 1 needs both"):
        clean_examples([["q", ""]])
    with pytest.raises(InputError, match="too many"):
        clean_examples([["q", "a"]] * 21)


def test_library_saves_loads_and_deletes(tmp_path: Path) -> None:
    library = TemplateLibrary(tmp_path / "prompt_templates")
    assert library.names() == [template.name for template in BUILTIN_TEMPLATES]
    mine = make_template("my-template", "Write a haiku about {subject}.", "You are a poet.", [["About rain", "Drops"]])
    library.save(mine)
    saved = tmp_path / "prompt_templates" / "my-template.json"
    assert json.loads(saved.read_text())["examples"] == [["About rain", "Drops"]]
    assert not list(saved.parent.glob(".*.tmp"))  # written through a temporary file, renamed over
    assert library.get("my-template") == mine and library.names()[-1] == "my-template"
    library.save(make_template("my-template", "Now about {thing}."))
    assert library.get("my-template").variables == ["thing"]
    library.delete("my-template")
    assert "my-template" not in library.names()
    with pytest.raises(InputError, match="built-in"):
        library.save(make_template("summarize", "x {y}"))
    with pytest.raises(InputError, match="built in"):
        library.delete("summarize")
    with pytest.raises(InputError, match="cannot be a template name"):
        library.get("../etc/passwd")
    with pytest.raises(InputError, match="There is no template"):
        library.get("nothing-here")


def test_exact_prompt_is_the_chat_template_applied(tiny_settings) -> None:
    manager = tiny_manager(tiny_settings)
    template = BUILTIN_TEMPLATES[2]  # few-shot sentiment
    messages = template.messages({"review": "Great coffee."})
    with manager.use("chat", manager.selection.get("chat")) as engine:
        prompt = exact_prompt(engine, messages)
        ids = engine.encode(messages)
    assert prompt.exact and prompt.tokens == len(ids) > 0
    for message in messages:
        assert message["content"] in prompt.text  # every turn, in the model's own chat format
    assert prompt.text.index("Lovely staff") < prompt.text.index("Great coffee.")


@pytest.fixture
def template_events(tiny_settings, tmp_path: Path) -> dict:
    """The section's event functions, built on a page of their own with a data folder of its own."""
    settings = tiny_settings.model_copy(update={"data_dir": tmp_path})
    ctx = TabContext(SPECS["chat"], settings, tiny_manager(tiny_settings), SPECS)
    with gr.Blocks() as demo:
        system, message, chatbot = gr.Textbox(), gr.Textbox(), gr.Chatbot()
        model = gr.Textbox(value="")
        build_prompt_templates(ctx, system, message, chatbot, model)
    return {fn.fn.__name__: fn.fn for fn in demo.fns.values() if fn.fn is not None} | {"data": tmp_path}


def test_the_section_fills_saves_and_shows_the_prompt(template_events: dict) -> None:
    events = template_events
    pairs = [["Review: Bad.\nSentiment:", "negative"]]
    form = [["review", "Nice!"]]
    system, shots, filled, note = events["use_template"](
        "mine", "Review: {review}\nSentiment:", "One word.", pairs, form
    )
    assert system == "One word." and filled == "Review: Nice!\nSentiment:"
    assert shots == [{"role": "user", "content": pairs[0][0]}, {"role": "assistant", "content": "negative"}]
    assert "1 example" in note
    dropdown, said = events["save_template"]("mine", "Review: {review}\nSentiment:", "One word.", pairs)
    assert (events["data"] / "prompt_templates" / "mine.json").is_file() and "Saved" in said
    assert dropdown.value == "mine" and "mine" in [choice[0] for choice in dropdown.choices]
    name, body, _system, rows, examples = events["load"]("mine", [["review", "kept"]])
    assert (name, body, rows, examples) == ("mine", "Review: {review}\nSentiment:", [["review", "kept"]], pairs)
    text, count = events["show_prompt"]("mine", body, "One word.", pairs, form, "", lambda *a, **k: None)
    assert "Review: Nice!" in text and "One word." in text and "tokens" in count
    with pytest.raises(gr.Error, match=r"Fill in \{review\}"):
        events["use_template"]("mine", body, "", pairs, [["review", ""]])
    events["delete_template"]("mine")
    assert not (events["data"] / "prompt_templates" / "mine.json").exists()
