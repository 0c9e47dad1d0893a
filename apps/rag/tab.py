"""The Documents tab: add files to a collection, ask questions, see the cited answer and how it was found."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from apps.rag import task
from apps.rag.retrieve import Hit
from apps.ui.components import CheckboxInput, FileInput, SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

QUESTION = "What is the office Wi-Fi password?"
SOURCE_COLUMNS = ["rank", "document", "location", "score", "text"]
DOCUMENT_COLUMNS = ["document", "chunks", "characters", "locations", "hash", "added"]


def documents_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=DOCUMENT_COLUMNS)


def sources_frame(sources: list[task.Source]) -> pd.DataFrame:
    return pd.DataFrame([[s.rank, s.document, s.location, s.score, s.text] for s in sources], columns=SOURCE_COLUMNS)


def _hits_table(title: str, hits: list[Hit], limit: int = 10) -> str:
    if not hits:
        return f"**{title}**: (none)"
    rows = [f"| {n} | {h.chunk.document} | {h.chunk.location} | {h.score:.4f} |" for n, h in enumerate(hits[:limit], 1)]
    return "\n".join([f"**{title}**", "", "| # | document | location | score |", "|---|---|---|---|", *rows])


def trace_markdown(update: task.AskUpdate | None) -> str:
    """The "How this answer was found" panel: each stage's list with scores, and the exact prompt."""
    if update is None:
        return ""
    found = update.retrieval
    parts = [
        _hits_table("BM25 (keyword) list", found.bm25),
        _hits_table("Dense (embedding, cosine) list", found.dense),
        _hits_table("Fused (reciprocal-rank fusion)", found.fused),
        _hits_table("Reranked (cross-encoder)", found.reranked) if found.reranked else "**Reranked**: reranker off",
        f"Best dense score {found.dense[0].score if found.dense else 0:.3f} (threshold {task.MIN_DENSE_SCORE}); "
        f"question terms in the best BM25 chunk {found.coverage:.0%} (threshold {task.MIN_TERM_COVERAGE:.0%}).",
    ]
    if update.prompt:
        prompt = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in update.prompt)
        parts.append("**Exact prompt sent to the chat model**\n\n```text\n" + prompt.replace("```", "ʼʼʼ") + "\n```")
    else:
        parts.append("**Prompt**: none sent — nothing relevant enough was found, so the model was not asked.")
    return "\n\n".join(parts)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        collection = gr.Textbox(label="Collection", value="default", max_lines=1, elem_id="rag-collection", scale=2)
        refresh = gr.Button("Show documents", scale=1)
    with gr.Row():
        with gr.Column(scale=2):
            files = FileInput(label="Documents (.txt .md .pdf .html .csv)", file_count="multiple", elem_id="rag-files")
            text = gr.Textbox(label="…or paste text", lines=3)
            add = gr.Button("Add to collection", variant="primary", elem_id="rag-add")
            summary = gr.Markdown(label="summary", elem_id="rag-summary")
        with gr.Column(scale=3):
            documents = gr.Dataframe(label="Documents", interactive=False, wrap=True, elem_id="rag-documents")
            with gr.Row():
                remove_name = gr.Textbox(label="Document to remove", max_lines=1, scale=3)
                remove = gr.Button("Remove", scale=1)
    chatbot = gr.Chatbot(label="Conversation", height=300, elem_id="rag-chatbot")
    with gr.Row():
        question = gr.Textbox(label="Question", scale=4, elem_id="rag-question")
        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="rag-ask")
    with gr.Row():
        top_k = SliderInput(1, task.MAX_TOP_K, value=task.DEFAULT_TOP_K, step=1, label="Sources (top k)")
        rerank = CheckboxInput(label="Rerank with the cross-encoder", value=False)
    model = model_picker(ctx.for_task("chat"))
    gr.Examples([[QUESTION]], inputs=[question], label="Example question (after adding assets/rag_handbook.md)")
    answer = gr.Markdown(label="Answer", elem_id="rag-answer")
    sources = gr.Dataframe(label="Sources", interactive=False, wrap=True, elem_id="rag-sources")
    with gr.Accordion("How this answer was found", open=False, elem_id="rag-trace-panel"):
        trace = gr.Markdown(label="how this answer was found", elem_id="rag-trace")
    last = gr.State(None)
    gr.Examples([[[ctx.asset("rag_handbook.md")], "default"]], inputs=[files, collection], label="Example document")
    with gr.Accordion("Reranker model", open=False):
        model_picker(ctx.for_task("rerank"))

    @user_errors(ctx.spec.title)
    def rag_add(files: Any, text: str, collection: str, progress: gr.Progress = gr.Progress()):  # noqa: B008
        result = task.rag_add(ctx, files, text, collection, progress)
        return result.summary, documents_frame(result.documents)

    @user_errors(ctx.spec.title)
    def rag_ask(question: str, history: Any, collection: str, top_k: int, rerank: bool, model: str):
        update = None
        for update in task.stream_ask(ctx, question, history, collection, top_k, rerank, model):
            yield update.answer, sources_frame(update.sources), update

    @user_errors(ctx.spec.title)
    def rag_documents(collection: str):
        return documents_frame(task.rag_documents(ctx, collection))

    @user_errors(ctx.spec.title)
    def rag_remove(document: str, collection: str):
        message, rows = task.rag_remove(ctx, document, collection)
        return message, documents_frame(rows)

    def show(question: str, history: Any, answer: str, update: task.AskUpdate | None):
        history = list(history or [])
        if update is not None and answer:
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return trace_markdown(update), history, ""

    add.click(rag_add, [files, text, collection], [summary, documents], api_name="rag_add")

    def ask_in_tab(question: str, history: Any, collection: str, top_k: int, rerank: bool, model: str):
        yield from rag_ask(question, history, collection, top_k, rerank, model)

    ask_event = ask.click(
        ask_in_tab,
        [question, chatbot, collection, top_k, rerank, model],
        [answer, sources, last],
        api_visibility="private",
    )
    # The API's /rag_ask takes its history as JSON (as /chat does) and returns (answer, sources).
    with gr.Column(visible=False):
        api_history = gr.JSON(label="history")
        api_answer = gr.Textbox(label="answer")
        api_button = gr.Button()
    api_button.click(
        rag_ask,
        [question, api_history, collection, top_k, rerank, model],
        [api_answer, sources, last],
        api_name="rag_ask",
    )
    ask_event.success(show, [question, chatbot, answer, last], [trace, chatbot, question], api_visibility="private")
    refresh.click(rag_documents, [collection], [documents], api_name="rag_documents")
    remove.click(rag_remove, [remove_name, collection], [summary, documents], api_name="rag_remove")


def build_rerank_tab(ctx: TabContext) -> None:
    """The Reranking tab: the Documents tab's cross-encoder on a query and passages of your own."""
    model_header(ctx)
    with gr.Row():
        with gr.Column(scale=3):
            query = gr.Textbox(label="Query", max_lines=2)
            passages = gr.Textbox(label="Passages (one per line)", lines=6)
        with gr.Column(scale=2):
            model = model_picker(ctx)
            button = gr.Button("Rerank", variant="primary")
    gr.Examples(
        [["Which passage is about a pet?", "The market rose.\nMy cat sleeps all day.\nRain is expected."]],
        inputs=[query, passages],
    )
    ranked = gr.Dataframe(label="Passages, most relevant first", interactive=False, wrap=True, elem_id="rerank-table")

    @user_errors(ctx.spec.title)
    def rerank(query: str, passages: str, model: str):
        result = task.rerank(ctx, query, passages, model)
        rows = [[n, round(s, 4), p] for n, (p, s) in enumerate(zip(result.passages, result.scores, strict=True), 1)]
        return pd.DataFrame(rows, columns=["rank", "score", "passage"])

    button.click(rerank, [query, passages, model], [ranked], api_name="rerank")
