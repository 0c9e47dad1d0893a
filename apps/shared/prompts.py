"""Prompt templates for the Chat tab: a named message with `{variables}`, a system prompt, few-shot examples.

A template's `{name}` fields are filled from a form; its few-shot examples are (user, assistant) message
pairs sent before the filled message. A few templates are built in; those saved by visitors are JSON files
in `SHOWCASE_DATA_DIR/prompt_templates/`, written atomically (apps/core/storage.py). `exact_prompt` shows
the text a chat model really receives (after its chat template) and how many tokens it is.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.core.errors import InputError
from apps.core.storage import check_name, read_json, write_json

MAX_TEMPLATE_CHARS = 20_000
MAX_EXAMPLES = 20


@dataclass(frozen=True)
class PromptTemplate:
    """A message with `{variables}`, the system prompt it goes with and few-shot (user, assistant) examples."""

    name: str
    text: str
    system_prompt: str = ""
    examples: tuple[tuple[str, str], ...] = ()

    @property
    def variables(self) -> list[str]:
        """The `{names}` of the message, in order of first use (`{{` and `}}` are literal braces)."""
        return template_variables(self.text)

    def fill(self, values: Mapping[str, Any]) -> str:
        """The message with every variable replaced by its value; InputError naming any left empty."""
        missing = [name for name in self.variables if not str(values.get(name) or "").strip()]
        if missing:
            raise InputError(f"Fill in {', '.join(f'{{{name}}}' for name in missing)} before using the template.")
        return self.text.format_map({name: str(values[name]) for name in self.variables})

    def messages(self, values: Mapping[str, Any]) -> list[dict[str, str]]:
        """System prompt, the few-shot pairs as turns, then the filled message: what the chat model is sent."""
        system = [{"role": "system", "content": self.system_prompt.strip()}] if self.system_prompt.strip() else []
        shots = [
            message
            for user, assistant in self.examples
            for message in ({"role": "user", "content": user}, {"role": "assistant", "content": assistant})
        ]
        return [*system, *shots, {"role": "user", "content": self.fill(values)}]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text": self.text,
            "system_prompt": self.system_prompt,
            "examples": [list(pair) for pair in self.examples],
        }


def template_variables(text: str) -> list[str]:
    """The `{names}` in `text`, in order; InputError for a field that is not a plain name or for stray braces."""
    names: list[str] = []
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        raise InputError(
            "The template has a lone `{` or `}`: write `{name}` for a variable and `{{` or `}}` for a brace."
        ) from None
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise InputError(
                f"`{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}` is not a variable: "
                "use a plain name such as `{topic}` (letters, digits and _), and `{{` `}}` for braces."
            )
        if name not in names:
            names.append(name)
    return names


def clean_examples(rows: Iterable[Any] | None) -> tuple[tuple[str, str], ...]:
    """Few-shot pairs from table rows [user, assistant]: blank rows dropped; InputError for half-filled ones."""
    pairs = []
    for number, row in enumerate(rows or [], start=1):
        cells = [str(cell if cell is not None else "").strip() for cell in list(row)[:2]]
        cells += [""] * (2 - len(cells))
        if not any(cells):
            continue
        if not all(cells):
            raise InputError(f"Example {number} needs both a user message and the assistant's answer.")
        pairs.append((cells[0], cells[1]))
    if len(pairs) > MAX_EXAMPLES:
        raise InputError(f"{len(pairs)} examples is too many for one prompt; keep at most {MAX_EXAMPLES}.")
    return tuple(pairs)


def make_template(
    name: Any, text: Any, system_prompt: Any = "", examples: Iterable[Any] | None = None
) -> PromptTemplate:
    """A checked template: a safe name, a message with valid variables, complete example pairs."""
    name = check_name(name, "template")
    if not isinstance(text, str) or not text.strip():
        raise InputError("Write the template's message, with `{variables}` where the form's values go.")
    system_prompt = system_prompt if isinstance(system_prompt, str) else ""
    if len(text) + len(system_prompt) > MAX_TEMPLATE_CHARS:
        raise InputError(f"The template is too long: keep it under {MAX_TEMPLATE_CHARS:,} characters.")
    template_variables(text)
    return PromptTemplate(name, text, system_prompt, clean_examples(examples))


BUILTIN_TEMPLATES: tuple[PromptTemplate, ...] = (
    PromptTemplate(
        "summarize",
        "Summarize the following text in {sentences} sentences:\n\n{text}",
        "You write short, faithful summaries.",
    ),
    PromptTemplate(
        "explain-simply",
        "Explain {topic} to a {age}-year-old in a few sentences.",
        "You are a patient teacher who uses everyday words.",
        (
            (
                "Explain rain to a 6-year-old in a few sentences.",
                "Clouds are made of tiny drops of water. When many "
                "drops join together they get heavy and fall down. That is rain!",
            ),
        ),
    ),
    PromptTemplate(
        "classify-sentiment",
        "Review: {review}\nSentiment:",
        "Answer with one word: positive, negative or neutral.",
        (
            ("Review: The soup was cold and the waiter rude.\nSentiment:", "negative"),
            ("Review: Lovely staff, I will come back!\nSentiment:", "positive"),
        ),
    ),
    PromptTemplate(
        "translate",
        "Translate into {language}:\n\n{text}",
        "You are a translator. Reply with the translation only.",
    ),
)


class TemplateLibrary:
    """The built-in templates plus those saved in `folder` (one JSON file each); saved ones are editable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.builtin = {template.name: template for template in BUILTIN_TEMPLATES}

    def names(self) -> list[str]:
        """Built-in names first, then the saved ones in alphabetical order."""
        saved = sorted(path.stem for path in self.folder.glob("*.json")) if self.folder.is_dir() else []
        return [*self.builtin, *(name for name in saved if name not in self.builtin)]

    def get(self, name: Any) -> PromptTemplate:
        name = check_name(name, "template")
        if name in self.builtin:
            return self.builtin[name]
        data = read_json(self.folder / f"{name}.json")
        if not isinstance(data, dict):
            raise InputError(f"There is no template `{name}`: choose one of {', '.join(self.names())}.")
        return make_template(name, data.get("text"), data.get("system_prompt", ""), data.get("examples"))

    def save(self, template: PromptTemplate) -> None:
        """Write the template (atomically); built-in names are taken."""
        if template.name in self.builtin:
            raise InputError(f"`{template.name}` is a built-in template: save your version under another name.")
        write_json(self.folder / f"{template.name}.json", template.as_dict())

    def delete(self, name: Any) -> None:
        name = check_name(name, "template")
        if name in self.builtin:
            raise InputError(f"`{name}` is built in and cannot be deleted.")
        path = self.folder / f"{name}.json"
        if not path.is_file():
            raise InputError(f"There is no saved template `{name}`.")
        path.unlink()


@dataclass(frozen=True)
class ExactPrompt:
    """What a chat model receives for some messages: the text after its chat template, and its token count."""

    text: str
    tokens: int
    exact: bool  # False where the engine cannot show its tokens as text (a remote server): messages instead


def exact_prompt(engine: Any, messages: list[dict[str, str]]) -> ExactPrompt:
    """The prompt `engine` builds from `messages` (its chat template applied), with its length in tokens."""
    ids = engine.encode(messages)
    decode = getattr(engine, "decode", None)
    if decode is None:  # a remote server applies its template itself; the count is its estimate
        text = "\n\n".join(f"[{message['role']}]\n{message['content']}" for message in messages)
        return ExactPrompt(text, len(ids), exact=False)
    return ExactPrompt(decode(list(ids)), len(ids), exact=True)
