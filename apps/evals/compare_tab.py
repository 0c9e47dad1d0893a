"""The Compare tab: one task, 2–4 models, one input; the outputs side by side with their costs.

The form's state (task, models, text) is kept in the page's address (`?compare_task=…&compare_models=…&
compare_text=…`) whenever Compare runs, and read back when a page opens with it, so a comparison can be shared.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from apps.core.spec import Kind
from apps.core.weights import format_bytes
from apps.evals.compare import COMPARE_TASKS, CONFIGURED, MAX_MODELS, Comparison, ModelRun, compare
from apps.ui.components import AudioInput, ImageInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.outputs import AudioOutput, GalleryOutput

QUERY = ("compare_task", "compare_models", "compare_text")  # the address's parameters, in the form's order
MAX_QUERY_TEXT = 2_000  # what the address keeps of the text (a long document is not worth sharing that way)

# Runs in the browser before the comparison: write the form into the address, pass the inputs on unchanged.
KEEP_IN_ADDRESS = f"""(...inputs) => {{
    const url = new URL(window.location.href);
    const names = {list(QUERY)!r};
    names.forEach((name, i) => {{
        const value = String(inputs[i] ?? "").slice(0, {MAX_QUERY_TEXT});
        if (value) url.searchParams.set(name, value); else url.searchParams.delete(name);
    }});
    window.history.replaceState(null, "", url);
    return inputs;
}}"""

# (task, text, (audio asset, image asset)): a comparison of each kind of input to start from.
EXAMPLES = (
    ("similarity", "A cat sits on the mat.\nA kitten rests on a rug.\nThe stock market fell today.", ("", "")),
    ("chat", "What is the capital of France? Answer in one word.", ("", "")),
    ("asr", "", ("audio-speech-en.wav", "")),
    ("captioning", "", ("", "mm-apple.png")),
)


def default_models(ctx: TabContext, task: str) -> str:
    """The task's configured model and its first curated alternatives, one per line: a comparison to start from."""
    own = ctx.for_task(task)
    configured = str(own.configured_model())
    others = [str(card.ref) for card in own.spec.cards if str(card.ref) != configured]
    return "\n".join([configured, *others][:2])


def card(number: int, run: ModelRun) -> str:
    """A model's output and its costs, as the Markdown of its column."""
    if run.error:
        return f"**Model {number}** · `{run.model}`\n\n⚠️ {run.error}"
    costs = [f"run {run.seconds:.2f} s"]
    costs.append(f"load {run.load_seconds:.2f} s" if run.load_seconds else "already loaded")
    if run.memory:
        costs.append(f"model {format_bytes(run.memory)}")
    if run.peak_memory:
        costs.append(f"process memory +{format_bytes(run.peak_memory)} at its peak")
    if run.tokens_per_second is not None:
        costs.append(f"{run.tokens_per_second:.1f} tokens/s")
    output = run.output or "*(empty output)*"
    return f"**Model {number}** · `{run.model}`\n\n{output}\n\n<small>{' · '.join(costs)}</small>"


def build_tab(ctx: TabContext) -> None:
    tasks = [key for key in COMPARE_TASKS if key in ctx.specs]
    first = "chat" if "chat" in tasks else tasks[0]
    gr.Markdown(
        f"Run one input on 2–{MAX_MODELS} models of a task, one after another within the memory budget, and see "
        "their outputs side by side with load time, run time, memory and (text generation) tokens per second. "
        f"Models: one per line (Hub ids, local folders, remote refs; `{CONFIGURED}` is the task's model). "
        "The address keeps the form: copy it to share the comparison."
    )
    with gr.Row():
        with gr.Column(scale=2):
            task = gr.Dropdown(tasks, value=first, label="Task", elem_id="compare-task")
            models = gr.Textbox(
                label=f"Models (2–{MAX_MODELS}, one per line)",
                value=default_models(ctx, first),
                lines=4,
                elem_id="compare-models",
            )
        with gr.Column(scale=3):
            text = gr.Textbox(label=f"Text: {COMPARE_TASKS[first].text_means}", lines=4, elem_id="compare-text")
            audio = AudioInput(label="Audio", visible=False)
            image = ImageInput(label="Image", visible=False, height=240)
            button = gr.Button("Compare", variant="primary")
    gr.Examples(
        [
            [key, default_models(ctx, key), example, *(ctx.asset(name) if name else None for name in files)]
            for key, example, files in EXAMPLES
            if key in tasks
        ],
        inputs=[task, models, text, audio, image],
    )
    table = gr.Dataframe(label="Side by side", interactive=False, wrap=True, elem_id="compare-table")
    with gr.Row(equal_height=False):
        cards = [
            gr.Markdown(visible=False, label=f"Model {n} output", elem_id=f"compare-output-{n}")
            for n in range(1, MAX_MODELS + 1)
        ]
    with gr.Row():
        sounds = [AudioOutput(label=f"Model {n}", visible=False, interactive=False) for n in range(1, MAX_MODELS + 1)]
    pictures = GalleryOutput(label="Images", visible=False, columns=MAX_MODELS, height="auto", interactive=False)

    def form_for(key: str, **text_value: Any) -> tuple[Any, Any, Any]:
        """The text box (labelled with what it means for the task), audio and image inputs the task reads."""
        needs = COMPARE_TASKS[key].needs
        means = COMPARE_TASKS[key].text_means
        return (
            gr.Textbox(label=f"Text: {means}" if means else "Text (not used)", interactive=bool(means), **text_value),
            gr.Audio(visible=Kind.AUDIO in needs),
            gr.Image(visible=Kind.IMAGE in needs),
        )

    def pick(key: str):
        return default_models(ctx, key)

    def shown(state: Comparison) -> list[Any]:
        runs = state.runs
        out: list[Any] = [state.table]
        out += [
            gr.Markdown(card(n, runs[n - 1]), visible=True) if n <= len(runs) else gr.Markdown(visible=False)
            for n in range(1, MAX_MODELS + 1)
        ]
        out += [
            gr.Audio(runs[n - 1].audio, visible=True)
            if n <= len(runs) and runs[n - 1].audio is not None
            else gr.Audio(None, visible=False)
            for n in range(1, MAX_MODELS + 1)
        ]
        images = [(run.image, f"{n}. {run.model}") for n, run in enumerate(runs, start=1) if run.image is not None]
        out.append(gr.Gallery(images, visible=bool(images)))
        return out

    # The parameter names are the API's (`client.predict(task=..., models=..., text=..., audio=..., image=...)`).
    @user_errors(ctx.spec.title)
    def run(
        task: str,
        models: str,
        text: str,
        audio: str | None,
        image: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ):
        for state in compare(ctx, task, models, text, audio, image, progress):
            yield shown(state)

    def from_address(request: gr.Request | None = None):
        """The form kept in the page's address, when it has one (else nothing changes)."""
        params = dict(request.query_params) if request is not None else {}
        key = params.get(QUERY[0], "")
        if key not in tasks:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        kept = params.get(QUERY[1]) or default_models(ctx, key)
        return (key, kept, *form_for(key, value=params.get(QUERY[2], "")))

    # A task picked by hand starts from its own models; any change of task (by hand, an example, the
    # address) shows the inputs that task reads.
    task.input(pick, [task], [models], api_visibility="private")
    task.change(form_for, [task], [text, audio, image], api_visibility="private")
    button.click(
        run,
        [task, models, text, audio, image],
        [table, *cards, *sounds, pictures],
        api_name="compare",
        js=KEEP_IN_ADDRESS,
    )
    ctx.on_page_load(from_address, [task, models, text, audio, image])
