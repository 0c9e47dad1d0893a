"""The Pipelines tab: build a chain of tasks, run it on an input and watch each step finish; `/run_pipeline`.

Also `build_app`, one pipeline served alone as a small Gradio app (`python app.py pipeline FILE`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import pandas as pd

from apps.core.audio import to_int16
from apps.core.errors import InputError
from apps.core.spec import Kind, TaskContext
from apps.pipelines import builder, store
from apps.pipelines.run import COLUMNS, PipelineRun, StepFailed, run, run_pipeline
from apps.pipelines.spec import Pipeline, read_file
from apps.ui.components import AudioInput, ImageInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.outputs import AudioOutput, ImageOutput

DEFAULT_EXAMPLE = "image-caption-translate-speak"
EXAMPLE_INPUTS = {  # what each kind of shipped example runs on
    Kind.IMAGE: {"image": "mm-sunset.png"},
    Kind.AUDIO: {"audio": "audio-speech-en.wav"},
    Kind.TEXT: {
        "text": "The council approved a plan to turn the old railway line into a park. Work starts next spring "
        "and should take two years. Local shops hope the park will bring more visitors to the town centre."
    },
}


def outputs_of(state: PipelineRun) -> tuple[Any, Any, Any, pd.DataFrame]:
    """(final text, final audio, final image, steps table) for the page and the API."""
    audio = None if state.audio is None else (state.audio[0], to_int16(state.audio[1]))
    return state.text or "", audio, state.image, pd.DataFrame(state.rows(), columns=COLUMNS)


def stream(runs: Iterator[PipelineRun]) -> Iterator[tuple[Any, Any, Any, pd.DataFrame]]:
    """The outputs after each step; a failed step's error still leaves the earlier outputs on the page."""
    try:
        for state in runs:
            yield outputs_of(state)
    except StepFailed as exc:
        if exc.run.steps:
            yield outputs_of(exc.run)
        raise


def _examples(ctx: TaskContext) -> list[list[Any]]:
    rows = []
    for path in store.example_files().values():
        pipeline = read_file(path, ctx.specs)
        inputs = EXAMPLE_INPUTS[pipeline.input]
        rows.append(
            [
                pipeline.dumps(),
                inputs.get("text", ""),
                ctx.asset(inputs["audio"]) if "audio" in inputs else None,
                ctx.asset(inputs["image"]) if "image" in inputs else None,
            ]
        )
    return rows


def result_boxes() -> tuple[Any, Any, Any, Any]:
    table = gr.Dataframe(
        headers=COLUMNS, label="Steps (each as it finishes)", interactive=False, elem_id="pipeline-steps", wrap=True
    )
    text = gr.Textbox(label="Final text", lines=3, interactive=False, elem_id="pipeline-text")
    audio = AudioOutput(label="Final audio (WAV)", type="numpy", format="wav", interactive=False)
    image = ImageOutput(label="Final image", interactive=False, elem_id="pipeline-image")
    return table, text, audio, image


def build_tab(ctx: TabContext) -> None:
    gr.Markdown(
        "Chain tasks into your own app: each step's output is the next step's input. Pick an example, or "
        "build one step by step; the spec below is the pipeline (JSON, see the README for the format)."
    )
    first = store.example_files()[DEFAULT_EXAMPLE]
    with gr.Row():
        with gr.Column():
            spec = gr.Textbox(
                value=read_file(first, ctx.specs).dumps(),
                label="Pipeline (JSON)",
                lines=12,
                max_lines=30,
                elem_id="pipeline-spec",
            )
            status = gr.Markdown(elem_id="pipeline-status")
            with gr.Accordion("Build", open=True):
                start = gr.Radio(["text", "audio", "image"], value="image", label="Starts from")
                with gr.Row():
                    task = gr.Dropdown(label="Add a step", choices=[], elem_id="pipeline-add-task")
                    settings_box = gr.Textbox(
                        label="Its settings (JSON)", placeholder='e.g. {"target_language": "French"}', max_lines=1
                    )
                    model_box = gr.Textbox(label="Its model (optional)", placeholder="empty: the task's", max_lines=1)
                add = gr.Button("Add step")
                why_not = gr.Markdown(elem_id="pipeline-why-not")
                with gr.Row():
                    number = gr.Number(value=1, precision=0, minimum=1, label="Step", elem_id="pipeline-step-number")
                    remove = gr.Button("Remove step")
                    up = gr.Button("Move up")
                    down = gr.Button("Move down")
            with gr.Accordion("Input", open=True):
                text = gr.Textbox(label="Text", lines=3, elem_id="pipeline-input-text")
                audio = AudioInput(label="Audio")
                image = ImageInput(label="Image", height=240)
            button = gr.Button("Run pipeline", variant="primary")
            with gr.Accordion("Load and save", open=False), gr.Row():
                saved = gr.Dropdown(
                    choices=store.choices(ctx.settings), label="Pipeline", elem_id="pipeline-load-choice"
                )
                load = gr.Button("Load")
                name = gr.Textbox(label="Save as", placeholder="my-pipeline", max_lines=1)
                save = gr.Button("Save")
        with gr.Column():
            table, out_text, out_audio, out_image = result_boxes()
    gr.Examples(_examples(ctx), inputs=[spec, text, audio, image], label="Example pipelines")

    def refreshed(spec_text: str) -> tuple[Any, str, str, Any]:
        choices, note = builder.options(spec_text, ctx.specs)
        try:  # the radio follows the spec (an example or a loaded pipeline sets what it starts from)
            starts = builder.read(spec_text).get("input")
        except InputError:
            starts = None
        radio = gr.Radio(value=starts) if starts in ("text", "audio", "image") else gr.Radio()
        return gr.Dropdown(choices=choices, value=None), note, builder.describe(spec_text, ctx.specs), radio

    after_edit = {
        "fn": refreshed,
        "inputs": [spec],
        "outputs": [task, why_not, status, start],
        "api_visibility": "private",
    }
    spec.change(**after_edit)
    ctx.on_page_load(lambda: gr.Dropdown(choices=store.choices(ctx.settings)), [saved])

    @user_errors("Pipelines")
    def add_step(spec_text: str, key: str, settings_text: str, model: str) -> str:
        return builder.add_step(spec_text, key, settings_text, model, ctx.specs)

    add.click(add_step, [spec, task, settings_box, model_box], [spec], api_visibility="private")
    remove.click(user_errors("Pipelines")(builder.remove_step), [spec, number], [spec], api_visibility="private")
    up.click(
        user_errors("Pipelines")(lambda s, n: builder.move_step(s, n, -1)),
        [spec, number],
        [spec],
        api_visibility="private",
    )
    down.click(
        user_errors("Pipelines")(lambda s, n: builder.move_step(s, n, 1)),
        [spec, number],
        [spec],
        api_visibility="private",
    )
    start.input(user_errors("Pipelines")(builder.set_input), [spec, start], [spec], api_visibility="private")

    @user_errors("Pipelines")
    def load_pipeline(choice: str) -> tuple[str, str]:
        pipeline = store.load(ctx.settings, choice, ctx.specs)
        return pipeline.dumps(), str(pipeline.input)

    load.click(load_pipeline, [saved], [spec, start], api_visibility="private")

    @user_errors("Pipelines")
    def save_pipeline(name: str, spec_text: str) -> tuple[Any, str]:
        pipeline = store.save(ctx.settings, name, spec_text, ctx.specs)
        gr.Info(f"Saved the pipeline “{pipeline.name}”.")
        return gr.Dropdown(choices=store.choices(ctx.settings), value=pipeline.name), pipeline.dumps()

    save.click(save_pipeline, [name, spec], [saved, spec], api_visibility="private")

    # The parameter names are the API's: client.predict(spec=..., text=..., audio=..., image=...).
    @user_errors("Pipelines")
    def run_it(
        spec: str,
        text: str,
        audio: str | None,
        image: str | None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> Iterator[tuple[Any, Any, Any, pd.DataFrame]]:
        yield from stream(run_pipeline(ctx, spec, text, audio, image, progress))

    button.click(run_it, [spec, text, audio, image], [out_text, out_audio, out_image, table], api_name="run_pipeline")


def build_app(ctx: TaskContext, pipeline: Pipeline) -> gr.Blocks:
    """One pipeline as its own small app: its input, a Run button, each step and the outputs. Its endpoint
    `/run_pipeline(text, audio, image)` runs only this pipeline (it takes no spec)."""
    with gr.Blocks(title=pipeline.name) as demo:
        chain = " → ".join([str(pipeline.input), *(step.task for step in pipeline.steps)])
        gr.Markdown(f"# {pipeline.name}\n{pipeline.description}\n\n{chain}")
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="Text", lines=3, visible=pipeline.input == Kind.TEXT)
                audio = AudioInput(label="Audio", visible=pipeline.input == Kind.AUDIO)
                image = ImageInput(label="Image", visible=pipeline.input == Kind.IMAGE)
                button = gr.Button("Run", variant="primary")
            with gr.Column():
                table, out_text, out_audio, out_image = result_boxes()

        @user_errors(pipeline.name)
        def run_it(
            text: str,
            audio: str | None,
            image: str | None,
            progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
        ) -> Iterator[tuple[Any, Any, Any, pd.DataFrame]]:
            yield from stream(run(ctx, pipeline, text, audio, image, progress))

        button.click(run_it, [text, audio, image], [out_text, out_audio, out_image, table], api_name="run_pipeline")
    return demo
