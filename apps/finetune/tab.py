"""The Fine-tune tab: settings, the dataset check with its preview, a live loss chart, Stop, and the result.

The run lives in the server (apps/finetune/training.py), not in the page: a timer polls its status, so a
reloaded page re-attaches to the running job.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from apps.finetune import task, training
from apps.ui.components import SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors

ENGINE_NOTE = (
    "Adapters run on the transformers engine: a GGUF base is de-quantized to float for training and for chat "
    "with the adapter (a llama.cpp engine, where there is one, serves the plain GGUF model only)."
)


def _loss_frame(job: training.Job | None) -> Any:
    import pandas as pd

    rows = []
    for step, loss in job.train_loss if job else []:
        rows.append({"step": step, "loss": loss, "split": "train"})
    for step, loss in job.val_loss if job else []:
        rows.append({"step": step, "loss": loss, "split": "validation"})
    return pd.DataFrame(rows or [{"step": 0, "loss": None, "split": "train"}])


def build_tab(ctx: TabContext) -> None:
    chat_model = str(ctx.for_task("chat").configured_model())
    gr.Markdown(
        f"{ctx.spec.description}\n\nThe base model is the Chat tab's (`{chat_model}`) unless you name another. "
        f"{ENGINE_NOTE}"
    )
    with gr.Row():
        model = gr.Textbox(label="Base model", placeholder=f"empty: {chat_model}", scale=3)
        name = gr.Textbox(label="Adapter name", value="my-adapter", scale=2, elem_id="finetune-name")
    with gr.Row():
        dataset = gr.File(
            label="Dataset (.jsonl with messages or prompt/response, or .csv prompt,response)",
            file_types=[".jsonl", ".csv"],
            type="filepath",
            elem_id="finetune-dataset",
            scale=3,
        )
        dataset_id = gr.Textbox(
            label="…or a Hub dataset id",
            placeholder="org/name or org/name:split (columns messages, or prompt and response)",
            elem_id="finetune-dataset-id",
            scale=2,
        )
    with gr.Row():
        # The ranges TrainingConfig.checked accepts; SliderInput refuses anything else with a clear sentence.
        steps = SliderInput(1, 10_000, value=60, step=1, label="Steps")
        learning_rate = SliderInput(1e-5, 1, value=2e-3, step=1e-5, label="Learning rate")
        lora_r = SliderInput(1, 256, value=16, step=1, label="LoRA r")
        lora_alpha = SliderInput(1, 1024, value=32, step=1, label="LoRA alpha")
        max_length = SliderInput(16, 8192, value=256, step=16, label="Max length (tokens)")
        batch_size = SliderInput(1, 256, value=2, step=1, label="Batch size")
    with gr.Accordion("More settings", open=False, elem_id="finetune-more"):
        with gr.Row():
            epochs = SliderInput(0, 1000, value=0, step=0.5, label="Epochs (0 = train for the steps above)")
            accumulation = SliderInput(1, 256, value=1, step=1, label="Gradient accumulation (batches per step)")
            dropout = SliderInput(0, 0.9, value=0, step=0.01, label="LoRA dropout")
        with gr.Row():
            targets = gr.Textbox(
                value="all-linear",
                label="Target modules",
                info="all-linear, or layer names such as q_proj,v_proj",
                elem_id="finetune-targets",
            )
            held_out = SliderInput(0, 0.5, value=0.2, step=0.05, label="Validation fraction")
            seed = SliderInput(0, 100_000, value=0, step=1, label="Seed")
            long_rows = gr.Radio(
                ["truncate", "refuse"],
                value="truncate",
                label="Rows longer than the max length",
                elem_id="finetune-long-rows",
            )
    more = [epochs, accumulation, dropout, targets, held_out, seed, long_rows]  # task.MORE_SETTINGS, in order
    gr.Examples([[ctx.asset("finetune-fact.jsonl"), "quillby-fact"]], inputs=[dataset, name])
    settings = [
        model,
        dataset,
        name,
        steps,
        learning_rate,
        lora_r,
        lora_alpha,
        max_length,
        batch_size,
        dataset_id,
        *more,
    ]
    command = gr.Code(
        task.cli_command("", "", "my-adapter", 60, 2e-3, 16, 32, 256, 2),
        label="The same run from the command line",
        language="shell",
        interactive=False,
        elem_id="finetune-command",
    )
    with gr.Row():
        check = gr.Button("Check dataset")
        train = gr.Button("Train", variant="primary", elem_id="finetune-train")
        stop = gr.Button("Stop", variant="stop", elem_id="finetune-stop")
    report = gr.Markdown(elem_id="finetune-report")
    shown = gr.HighlightedText(label="First rows as the model sees them (highlighted: tokens that carry loss)")
    summary = gr.Markdown(label="summary", elem_id="finetune-summary")
    chart = gr.LinePlot(x="step", y="loss", color="split", label="Loss", height=260)
    loss = gr.Dataframe(headers=["step", "train loss", "validation loss"], label="Loss by step", interactive=False)
    adapter = gr.Textbox(label="Adapter model (use it in the Chat tab)", elem_id="finetune-adapter")
    status_json = gr.JSON(label="Status", visible=False)
    with gr.Accordion("Base vs fine-tuned, merge, push", open=False):
        prompt = gr.Textbox(label="Prompt", placeholder="A question from your dataset")
        compare = gr.Button("Compare")
        with gr.Row():
            base_answer = gr.Textbox(label="Base model")
            tuned_answer = gr.Textbox(label="Fine-tuned")
        merge = gr.Button("Merge and save as a full model folder")
        with gr.Row():
            repo = gr.Textbox(label="Hub repo (org/name)")
            token = gr.Textbox(label="Hugging Face token (write)", type="password")
        push = gr.Button("Push adapter to the Hub")
        result_note = gr.Markdown()

    def finetune_command(*values: Any) -> str:
        return task.cli_command(*values)

    gr.on([s.change for s in settings], finetune_command, settings, command, queue=False, api_visibility="private")

    @user_errors(ctx.spec.title)
    def finetune_check(
        model_text: str, file: str | None, length: float, hub_id: str, fraction: float, seed_value: float, rows: str
    ) -> tuple[str, list[Any]]:
        checked = task.validate(
            ctx,
            model_text,
            file,
            int(length or 256),
            hub_id,
            validation_fraction=fraction,
            seed=seed_value,
            long_rows=rows,
        )
        pieces = [piece for row in checked.preview for piece in [*row, ("\n\n", None)]]
        return checked.summary, pieces

    check.click(
        finetune_check,
        [model, dataset, max_length, dataset_id, held_out, seed, long_rows],
        [report, shown],
        api_visibility="private",
    )

    @user_errors(ctx.spec.title)
    def finetune(
        model: str,
        dataset: str | None,
        name: str,
        steps: float,
        learning_rate: float,
        lora_r: float,
        lora_alpha: float,
        max_length: float,
        batch_size: float,
        dataset_id: str,
        epochs: float = 0,
        gradient_accumulation: float = 1,
        lora_dropout: float = 0,
        target_modules: str = "all-linear",
        validation_fraction: float = 0.2,
        seed: float = 0,
        long_rows: str = "truncate",
    ):
        for update in task.finetune(
            ctx,
            model,
            dataset,
            name,
            steps,
            learning_rate,
            lora_r,
            lora_alpha,
            max_length,
            batch_size,
            dataset_id,
            epochs,
            gradient_accumulation,
            lora_dropout,
            target_modules,
            validation_fraction,
            seed,
            long_rows,
        ):
            yield update.summary, update.loss, update.adapter

    train.click(finetune, settings, [summary, loss, adapter], api_name="finetune", concurrency_limit=None)

    def finetune_status() -> dict[str, Any]:
        return task.status(ctx)

    def finetune_stop() -> dict[str, Any]:
        return task.stop(ctx)

    stop.click(finetune_stop, None, status_json, api_name="finetune_stop", queue=False)
    gr.Button(visible=False).click(finetune_status, None, status_json, api_name="finetune_status", queue=False)

    def finetune_poll() -> tuple[Any, ...]:
        job = training.current_job()
        if job is None:
            return gr.update(), gr.update(), gr.update(), gr.update()
        progress = task.progress_of(job)
        return progress.summary, progress.loss, progress.adapter, _loss_frame(job)

    # Polls the server-side run: keeps the chart live and re-attaches a reloaded page to a running job.
    timer = gr.Timer(2.0)
    timer.tick(finetune_poll, None, [summary, loss, adapter, chart], api_visibility="private", queue=False)
    ctx.on_page_load(finetune_poll, [summary, loss, adapter, chart])

    @user_errors(ctx.spec.title)
    def finetune_compare(text: str, adapter_name: str) -> tuple[str, str]:
        if not isinstance(text, str) or not text.strip():
            raise gr.Error("Type a prompt to compare.", print_exception=False)
        return task.compare(ctx, text, adapter_name)

    compare.click(finetune_compare, [prompt, name], [base_answer, tuned_answer], api_visibility="private")

    @user_errors(ctx.spec.title)
    def finetune_merge(adapter_name: str) -> str:
        return f"Merged model saved to `{task.merge_and_save(ctx, adapter_name)}`."

    merge.click(finetune_merge, [name], result_note, api_visibility="private")

    @user_errors(ctx.spec.title)
    def finetune_push(adapter_name: str, repo_id: str, hub_token: str) -> str:
        return f"Pushed to {task.push_to_hub(ctx, adapter_name, repo_id, hub_token)}."

    push.click(finetune_push, [name, repo, token], result_note, api_visibility="private")
