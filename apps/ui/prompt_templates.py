"""The Chat tab's prompt templates: pick or write one, fill its `{variables}` in a form, edit its few-shot
examples, save it (SHOWCASE_DATA_DIR/prompt_templates), use it in the chat, or see the exact prompt sent.

Its events are the page's own (kept out of the API); the templates themselves are apps/shared/prompts.py.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from apps.core.errors import InputError
from apps.shared.prompts import (
    PromptTemplate,
    TemplateLibrary,
    exact_prompt,
    make_template,
    template_variables,
)
from apps.ui.context import TabContext
from apps.ui.errors import user_errors

PRIVATE = {"api_visibility": "private"}


def library_of(ctx: TabContext) -> TemplateLibrary:
    return TemplateLibrary(ctx.settings.data_path / "prompt_templates")


def form_rows(names: list[str], rows: list[list[Any]] | None = None) -> list[list[str]]:
    """[variable, value] rows for `names`, keeping the values already typed for names still there."""
    typed = {str(row[0]): str(row[1] if row[1] is not None else "") for row in rows or [] if len(row) >= 2}
    return [[name, typed.get(name, "")] for name in names]


def form_values(rows: list[list[Any]] | None) -> dict[str, str]:
    return {str(row[0]).strip(): str(row[1] if row[1] is not None else "") for row in rows or [] if len(row) >= 2}


def example_rows(template: PromptTemplate) -> list[list[str]]:
    return [list(pair) for pair in template.examples] or [["", ""]]


def build_prompt_templates(ctx: TabContext, system: Any, message: Any, chatbot: Any, model: Any) -> None:
    """The "Prompt templates" section; `system`, `message`, `chatbot` and `model` are the Chat tab's boxes."""
    library = library_of(ctx)
    first = library.get(library.names()[0])
    with gr.Accordion("Prompt templates", open=False, elem_id="chat-templates"):
        with gr.Row(equal_height=True):
            choice = gr.Dropdown(choices=library.names(), value=first.name, label="Template", scale=3)
            name = gr.Textbox(label="Save as", value=first.name, scale=3)
            save = gr.Button("Save", scale=1, min_width=80)
            delete = gr.Button("Delete", scale=1, min_width=80)
        text = gr.Textbox(
            label="Message, with {variables} the form fills in ({{ and }} for braces)", value=first.text, lines=3
        )
        template_system = gr.Textbox(label="System prompt of the template", value=first.system_prompt, lines=2)
        form = gr.Dataframe(
            value=form_rows(first.variables),
            headers=["variable", "value"],
            column_count=(2, "fixed"),
            type="array",
            interactive=True,
            label="Form: a value for each {variable}",
            elem_id="chat-template-form",
        )
        examples = gr.Dataframe(
            value=example_rows(first),
            headers=["user", "assistant"],
            column_count=(2, "fixed"),
            row_count=(1, "dynamic"),
            type="array",
            interactive=True,
            wrap=True,
            label="Few-shot examples: message pairs sent before yours (add rows to add examples)",
            elem_id="chat-template-examples",
        )
        with gr.Row():
            use = gr.Button("Use in a new chat", variant="primary")
            show = gr.Button("Show the exact prompt")
        status = gr.Markdown(elem_id="chat-template-status")
        exact = gr.Code(label="The exact prompt (after the model's chat template)", interactive=False, lines=6)

    def current(template_name: str, body: str, system_text: str, pairs: list[list[Any]]) -> PromptTemplate:
        return make_template(template_name or "untitled", body, system_text, pairs)

    @user_errors("Prompt templates")
    def load(template_name: str, rows: list[list[Any]]):
        template = library.get(template_name)
        return (
            template.name,
            template.text,
            template.system_prompt,
            form_rows(template.variables, rows),
            example_rows(template),
        )

    def refresh_form(body: str, rows: list[list[Any]]):
        try:
            return form_rows(template_variables(body or ""), rows), ""
        except InputError as exc:  # half-typed braces: keep the form, say what is wrong
            return gr.skip(), str(exc)

    @user_errors("Prompt templates")
    def save_template(template_name: str, body: str, system_text: str, pairs: list[list[Any]]):
        template = make_template(template_name, body, system_text, pairs)
        library.save(template)
        return gr.Dropdown(choices=library.names(), value=template.name), f"Saved `{template.name}`."

    @user_errors("Prompt templates")
    def delete_template(template_name: str):
        library.delete(template_name)
        names = library.names()
        return gr.Dropdown(choices=names, value=names[0]), f"Deleted `{template_name}`."

    @user_errors("Prompt templates")
    def use_template(template_name: str, body: str, system_text: str, pairs: list[list[Any]], rows: list[list[Any]]):
        template = current(template_name, body, system_text, pairs)
        filled = template.fill(form_values(rows))
        shots = template.messages(form_values(rows))[(1 if template.system_prompt.strip() else 0) : -1]
        note = f" and {len(template.examples)} example(s) in the conversation" if template.examples else ""
        return template.system_prompt, shots, filled, f"Filled in{note}: press **Send**."

    @user_errors("Prompt templates")
    def show_prompt(
        template_name: str,
        body: str,
        system_text: str,
        pairs: list[list[Any]],
        rows: list[list[Any]],
        model_name: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        messages = current(template_name, body, system_text, pairs).messages(form_values(rows))
        with ctx.use(model_name, progress) as engine:
            prompt = exact_prompt(engine, messages)
        how = "tokens" if prompt.exact else "tokens (estimated: the remote server applies its own chat template)"
        return prompt.text, f"The prompt is **{prompt.tokens:,}** {how}."

    template_boxes = [name, text, template_system, examples]
    choice.input(load, [choice, form], [name, text, template_system, form, examples], **PRIVATE)
    text.change(refresh_form, [text, form], [form, status], **PRIVATE)
    save.click(save_template, template_boxes, [choice, status], **PRIVATE)
    delete.click(delete_template, [choice], [choice, status], **PRIVATE)
    use.click(use_template, [*template_boxes, form], [system, chatbot, message, status], **PRIVATE)
    show.click(show_prompt, [*template_boxes, form, model], [exact, status], **PRIVATE)
    # Templates saved in another session appear when a page opens.
    ctx.on_page_load(lambda: gr.Dropdown(choices=library.names()), [choice])
