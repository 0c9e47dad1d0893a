"""Translation: text in one language → another, with a seq2seq translation model or the chat model.

Languages are chosen by human name ("English", "French") and mapped to the model's codes (FLORES-200
for NLLB, ISO 639-1 for M2M100, the fixed pair of an opus-mt model). Long text is split into
sentence-aware chunks that fit the model; every chunk is translated and the line layout is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from apps.core.errors import InputError
from apps.core.inputs import require_text
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.chat_engine import MAX_NEW_TOKENS, require_template
from apps.shared.code import literal
from apps.shared.languages import FLORES_NAMES, ISO_NAMES, find_code, require_code
from apps.shared.text import chunk_lines
from apps.shared.translation_languages import languages_without_loading, model_languages
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

CHUNK_TOKENS = 200  # translation models are trained on sentences; shorter chunks translate better
MAX_OUTPUT_TOKENS = 512
TRANSLATION_MODEL = "Translation model"
CHAT_MODEL = "Chat model"
ENGINES = (TRANSLATION_MODEL, CHAT_MODEL)
CHAT_LANGUAGES = sorted(ISO_NAMES.values())  # a chat model is asked by name: offer the common ones


def load_translation(request: LoadRequest) -> Any:
    """A TranslationPipeline (apps/shared/seq2seq.py) for a local NLLB / M2M100 / opus-mt folder."""
    from apps.shared.seq2seq import load_translation as load

    return load(request)


# -- languages ----------------------------------------------------------------------------------


def _default(names: list[str], preferred: str, other: str | None = None) -> str | None:
    for name in (preferred, "English", *names):
        if name in names and name != other:
            return name
    return names[0] if names else None


def picker_updates(ctx: TaskContext, engine: str, model: str | None, source: str | None, target: str | None) -> Any:
    """Dropdown updates for the source and target lists of the chosen engine/model, keeping valid choices."""
    if engine == CHAT_MODEL:
        sources = targets = CHAT_LANGUAGES
    else:
        tables = model_languages(ctx, model)
        sources, targets = sorted(tables[0]), sorted(tables[1])
    new_source = source if source in sources else _default(sources, "English")
    new_target = target if target in targets and target != new_source else _default(targets, "French", new_source)
    return gr.Dropdown(choices=sources, value=new_source), gr.Dropdown(choices=targets, value=new_target)


# -- translating --------------------------------------------------------------------------------


@dataclass
class Translation:
    """A translated text and what made it: the languages (names and codes), the engine, the model, the chunks."""

    text: str
    source_language: str  # the language's name as the engine knows it ("English"), whatever alias was asked
    target_language: str
    engine: str  # TRANSLATION_MODEL or CHAT_MODEL
    model: str  # the model that translated (the translation task's, or the chat task's)
    chunks: int  # how many pieces the text was translated in (long text is split between sentences)
    source_code: str  # the model's code for the source ("eng_Latn"); the name itself for the chat model
    target_code: str


def validate_text(text: Any, max_chars: int) -> str:
    """The text to translate without leading and trailing blank lines; InputError if not text, blank or too long."""
    return require_text(text, max_chars, what="text to translate", empty="Enter some text to translate.", strip="\n")


def _report(progress: ProgressFn | None, done: int, total: int, what: str) -> None:
    if progress is not None and total:
        progress((done, total), desc=f"{what} chunk {min(done + 1, total)} of {total}…")


def _name_of(code: str, table: dict[str, str]) -> str:
    """The language name a {name: code} table gives `code` (the code itself if it has none)."""
    return next((name for name, known in table.items() if known == code), code)


def translate(
    ctx: TaskContext,
    text: str,
    source_language: str,
    target_language: str,
    engine: str = TRANSLATION_MODEL,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Translation:
    """The whole text translated, line by line (long lines are split between sentences and all translated).

    `engine` is TRANSLATION_MODEL (the task's translation model, or `model`) or CHAT_MODEL (the chat
    task's model follows a prompt; `model` is then not used). Languages are names, aliases or codes.
    """
    if engine in (CHAT_MODEL, "chat"):
        return _translate_with_chat(ctx, text, source_language, target_language, progress)
    if engine not in (TRANSLATION_MODEL, "", None, "translation"):
        raise InputError(f"Unknown engine {engine!r}: use {TRANSLATION_MODEL!r} or {CHAT_MODEL!r}.")
    return _translate_with_model(ctx, text, source_language, target_language, model, progress)


def _translate_with_model(
    ctx: TaskContext,
    text: str,
    source_language: str,
    target_language: str,
    model: str | None,
    progress: ProgressFn | None,
) -> Translation:
    text = validate_text(text, ctx.settings.max_text_chars)
    ref = ctx.resolve_model(model)
    with ctx.use(model, progress) as pipe:
        source = require_code(source_language, pipe.sources, "source", ref.name)
        target = require_code(target_language, pipe.targets, "target", ref.name)
        if source == target and len(pipe.targets) > 1:
            raise InputError("The source and target languages are the same: choose another target language.")
        limit = max(8, min(pipe.input_limit - pipe.special_tokens - 4, CHUNK_TOKENS))
        lines = chunk_lines(text, pipe.count_tokens, limit)
        total, done, output = sum(len(chunks) for chunks in lines), 0, []
        for chunks in lines:
            pieces = []
            for chunk in chunks:
                _report(progress, done, total, "Translating")
                cap = min(MAX_OUTPUT_TOKENS, pipe.output_limit)
                budget = min(cap, 2 * pipe.count_tokens(chunk) + 10)
                result = pipe(chunk, src_lang=source, tgt_lang=target, max_new_tokens=budget)
                pieces.append(result["translation_text"])
                done += 1
            output.append(" ".join(pieces))
        source_name, target_name = _name_of(source, pipe.sources), _name_of(target, pipe.targets)
    return Translation(
        text="\n".join(output),
        source_language=source_name,
        target_language=target_name,
        engine=TRANSLATION_MODEL,
        model=str(ref),
        chunks=total,
        source_code=source,
        target_code=target,
    )


def chat_prompt(text: str, source: str, target: str) -> str:
    return f"Translate this text from {source} to {target}. Reply with the translation only.\n\n{text}"


CHAT_SYSTEM_PROMPT = "You are a professional translator. You reply with the translation only: no notes, no quotes."


def _translate_with_chat(
    ctx: TaskContext, text: str, source_language: str, target_language: str, progress: ProgressFn | None
) -> Translation:
    """The chat task's model translates through a prompt, greedily, chunk by chunk (through the task layer)."""
    text = validate_text(text, ctx.settings.max_text_chars)
    names = {name: name for name in CHAT_LANGUAGES}
    source = require_code(source_language, names, "source", "The chat model")
    target = require_code(target_language, names, "target", "The chat model")
    if source == target:
        raise InputError("The source and target languages are the same: choose another target language.")
    chat_ctx = ctx.for_task("chat")
    # The chat model is held for the whole text: its tokenizer sizes the chunks, and no chunk waits on a reload.
    with chat_ctx.use(None, progress) as chat_engine:
        require_template(chat_engine)
        count = chat_engine.count_tokens
        lines = chunk_lines(text, count, max(16, min(chat_engine.context_length // 4, 400)))
        total, done, output = sum(len(chunks) for chunks in lines), 0, []
        for chunks in lines:
            pieces = []
            for chunk in chunks:
                _report(progress, done, total, "Translating")
                answer = ctx.run_task(
                    "chat",
                    chat_prompt(chunk, source, target),
                    system_prompt=CHAT_SYSTEM_PROMPT,
                    max_new_tokens=min(MAX_NEW_TOKENS, 2 * count(chunk) + 32),
                    temperature=0.0,
                )
                pieces.append(answer.text.strip())
                done += 1
            output.append(" ".join(pieces))
    return Translation(
        text="\n".join(output),
        source_language=source,
        target_language=target,
        engine=CHAT_MODEL,
        model=str(chat_ctx.resolve_model(None)),
        chunks=total,
        source_code=source,
        target_code=target,
    )


# -- the tab ------------------------------------------------------------------------------------

EXAMPLES = ("The weather is lovely today. Shall we go for a walk in the park?\nI will bring some sandwiches.",)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    start_sources, start_targets = languages_without_loading(ctx.configured_model())
    with gr.Row():
        with gr.Column():
            engine = gr.Radio(
                list(ENGINES),
                value=TRANSLATION_MODEL,
                label="Translate with",
                info="The translation model below, or the Chat tab's model following a prompt.",
            )
            with gr.Row(equal_height=True):
                source = gr.Dropdown(
                    sorted(start_sources),
                    value=_default(sorted(start_sources), "English"),
                    label="From",
                    filterable=True,
                    allow_custom_value=True,  # API callers may use aliases or codes; translate() checks
                    scale=4,
                    elem_id="translation-source",
                )
                swap = gr.Button("⇄", scale=1, min_width=50, elem_id="translation-swap")
                target = gr.Dropdown(
                    sorted(start_targets),
                    value=_default(sorted(start_targets), "French", "English"),
                    label="To",
                    filterable=True,
                    allow_custom_value=True,  # API callers may use aliases or codes; translate() checks
                    scale=4,
                    elem_id="translation-target",
                )
            text = gr.Textbox(label="Text", lines=8, placeholder=EXAMPLES[0])
            model = model_picker(ctx)
            button = gr.Button("Translate", variant="primary")
        with gr.Column():
            output = gr.Textbox(label="Translation", lines=12, buttons=["copy"], elem_id="translation-output")
    gr.Examples([[example] for example in EXAMPLES], inputs=[text])

    def translation_languages(engine_name: str, model_name: str, source_name: str, target_name: str):
        return picker_updates(ctx, engine_name, model_name, source_name, target_name)

    @user_errors(ctx.spec.title)
    def translation_swap(engine_name: str, model_name: str, source_name: str, target_name: str):
        if engine_name != CHAT_MODEL:
            sources, targets = model_languages(ctx, model_name)
            if find_code(target_name, sources) is None or find_code(source_name, targets) is None:
                raise InputError(f"This model translates only {', '.join(sources)} → {', '.join(targets)}.")
        return target_name, source_name

    @user_errors(ctx.spec.title)
    def run(
        text: str,
        source_language: str,
        target_language: str,
        engine: str,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> str:
        return translate(ctx, text, source_language, target_language, engine, model, progress).text

    pickers = [engine, model, source, target]
    gr.on([engine.change, model.change], translation_languages, pickers, [source, target], api_visibility="private")
    swap.click(translation_swap, pickers, [source, target], api_visibility="private")
    ctx.on_page_load(lambda: picker_updates(ctx, TRANSLATION_MODEL, None, "English", "French"), [source, target])
    gr.on(
        [button.click, text.submit],
        run,
        [text, source, target, engine, model],
        [output],
        api_name="translate",
    )


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------


def _code_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """The languages' codes in the two systems the code checks for (NLLB's FLORES-200, M2M100's ISO 639-1)."""
    flores = {name: code for code, name in FLORES_NAMES.items()}
    fields = {}
    for side in ("source", "target"):
        name = str(values.get(f"{side}_language") or "")
        iso = find_code(name, ISO_CODES)
        fields[f"flores_{side}"] = literal(find_code(name, flores))
        fields[f"iso_{side}"] = literal(iso)
        fields[f"m2m_{side}"] = literal(f"__{iso}__" if iso else None)
    return fields


ISO_CODES = {name: code for code, name in ISO_NAMES.items()}
CODE = CodeRecipe(
    no_pipeline="transformers 5 removed the `translation` pipeline: the model is loaded directly (below).",
    direct="""import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

$pick_device
tokenizer = AutoTokenizer.from_pretrained($model$model_options)
model = AutoModelForSeq2SeqLM.from_pretrained($model$model_options).to(device)
text = $text
# NLLB names languages with FLORES-200 codes, M2M100 with ISO 639-1 codes; an opus-mt model knows one pair.
# (The app also splits long text between sentences and translates each piece.)
options = {}
vocab = tokenizer.get_vocab()
if $flores_target in vocab:
    tokenizer.src_lang = $flores_source
    options["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids($flores_target)
elif $m2m_target in vocab:
    tokenizer.src_lang = $iso_source
    options["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids($m2m_target)
inputs = tokenizer(text, return_tensors="pt").to(device)
# At most 512 new tokens, and never past the decoder's position table.
limit = min(512, model.config.max_position_embeddings - 2)
output = model.generate(**inputs, max_new_tokens=limit, **options)
print(tokenizer.decode(output[0], skip_special_tokens=True))
""",
    fields=_code_fields,
)
