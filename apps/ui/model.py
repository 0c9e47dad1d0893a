"""Small UI pieces every tab shares: its header (model, size, licence) and its model picker."""

from __future__ import annotations

import gradio as gr

from apps.core import storage
from apps.core.spec import ModelCard
from apps.ui.context import TabContext


def _card_line(card: ModelCard) -> str:
    note = f" — {card.note}" if card.note else ""
    # A plain link, not `code`: gradio draws code inside a link without the link's colour.
    return f"[{card.id}]({card.url}) · {card.params} parameters · {card.size} · licence {card.licence}{note}"


def _model_line(ctx: TabContext) -> str:
    """The task's configured model: link, size and licence when curated; where it was set."""
    ref = ctx.configured_model()
    card = ctx.spec.card_for(ref)
    if card is not None:
        model = _card_line(card)
    elif ref.is_local:
        model = f"local folder `{ref.source}`" + (f" (`{ref.gguf_file}`)" if ref.gguf_file else "")
    else:
        model = f"[{ref}](https://huggingface.co/{ref.source})"
    return f"{model} ({ctx.manager.selection.origin(ctx.spec.key)})"


def header_markdown(ctx: TabContext) -> str:
    """Tab header: title, what it does, and the configured model with its size and licence.

    A task that calls other tabs' models (`spec.uses`: narration speaks with the text-to-speech
    model) lists those too, each under its tab's name.
    """
    spec = ctx.spec
    lines = [f"## {spec.title}", spec.description]
    if spec.load is not None:
        lines.append(f"**Model:** {_model_line(ctx)}")
    if spec.uses:
        others = [f"- {ctx.specs[key].title}: {_model_line(ctx.for_task(key))}" for key in spec.uses]
        intro = "**Also uses** these tabs' models:" if spec.load is not None else "**Models** (those of these tabs):"
        lines.append("\n".join([intro, *others]))
    return "\n\n".join(line for line in lines if line)


def model_choices(ctx: TabContext) -> list[tuple[str, str]]:
    """(label, value) pairs: the configured model first, then the curated ones."""
    configured = str(ctx.configured_model())
    choices = [(f"{configured} (configured)", configured)]
    for card in ctx.spec.cards:
        if card.id != configured and str(card.ref) != configured:
            choices.append((f"{card.id} · {card.params} · {card.licence}", str(card.ref)))
    if ctx.spec.key == "chat":
        choices.extend(adapter_choices(ctx))
    return choices


def adapter_choices(ctx: TabContext) -> list[tuple[str, str]]:
    """The adapters the Fine-tune tab saved (SHOWCASE_DATA_DIR/adapters/NAME/training.json), as chat models."""
    root = ctx.settings.data_path / "adapters"
    choices = []
    for training in sorted(root.glob("*/training.json")) if root.is_dir() else []:
        base = (storage.read_json(training) or {}).get("base")
        if isinstance(base, str) and base:
            ref = f"{base}+adapter:{training.parent.name}"
            choices.append((f"{ref} (fine-tuned)", ref))
    return choices


def model_header(ctx: TabContext) -> gr.Markdown:
    """The tab's header, refreshed on page load so a model chosen at run time shows."""
    header = gr.Markdown(header_markdown(ctx))
    ctx.on_page_load(lambda: header_markdown(ctx), [header])
    return header


def model_picker(ctx: TabContext) -> gr.Dropdown:
    """Model choice for this tab: configured + curated models, or any Hub id when allowed."""
    with gr.Accordion("Model", open=False):
        picker = gr.Dropdown(
            choices=model_choices(ctx),
            value=str(ctx.configured_model()),
            label="Model",
            info="A listed model, or type any Hub id (org/name) or GGUF ref (org/name#file.gguf)."
            if ctx.settings.allow_custom_models
            else "Models this app offers for this task.",
            allow_custom_value=ctx.settings.allow_custom_models,
            filterable=True,
        )
        if len(ctx.spec.cards) > 1:
            gr.Markdown("\n".join(f"- {_card_line(card)}" for card in ctx.spec.cards))
    ctx.on_page_load(lambda: gr.Dropdown(choices=model_choices(ctx), value=str(ctx.configured_model())), [picker])
    return picker
