"""The Arena tab: two anonymous chat models answer side by side, the visitor votes, the names and the board follow."""

from __future__ import annotations

from typing import Any

import gradio as gr

from apps.evals import arena
from apps.ui.components import SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors

EXAMPLES = (
    "What is the capital of France?",
    "Explain in two sentences why the sky is blue.",
    "Write a haiku about open-source software.",
)
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
VOTES = (("A is better", "A"), ("B is better", "B"), ("Tie", "tie"), ("Both are bad", "both bad"))


def build_tab(ctx: TabContext) -> None:
    gr.Markdown(
        "Two anonymous chat models answer the same prompt. Vote for the better answer: the names are shown "
        "after your vote, and every vote counts towards the Elo leaderboard below."
    )
    with gr.Row(equal_height=True):
        prompt = gr.Textbox(
            label="Prompt", placeholder="Ask both models something", lines=2, scale=6, elem_id="arena-prompt"
        )
        start = gr.Button("Battle", variant="primary", scale=1, min_width=100)
    gr.Examples([[example] for example in EXAMPLES], inputs=[prompt])
    with gr.Accordion("Models and length", open=False):
        models = gr.Textbox(
            label="Models (one per line; empty: the Chat tab's model and its curated alternatives)",
            lines=3,
            placeholder="org/name",
            elem_id="arena-models",
        )
        max_new = SliderInput(
            arena.MIN_NEW_TOKENS,
            arena.MAX_NEW_TOKENS,
            value=arena.DEFAULT_MAX_NEW_TOKENS,
            step=16,
            label="Max new tokens",
        )
    panes = []
    with gr.Row(equal_height=True):
        for side in ("A", "B"):
            with gr.Column(min_width=240):
                gr.Markdown(f"**Model {side}**")  # a Markdown's own label is not drawn
                panes.append(
                    gr.Markdown(
                        label=f"Model {side}",
                        container=True,
                        padding=True,
                        min_height=160,
                        max_height=480,
                        buttons=["copy"],
                        elem_id=f"arena-answer-{side.lower()}",
                    )
                )
    with gr.Row():
        buttons = [gr.Button(label, interactive=False, min_width=100) for label, _ in VOTES]
    verdict = gr.Markdown(elem_id="arena-verdict")
    leaderboard = gr.Dataframe(
        value=arena.ratings([]), label="Leaderboard", interactive=False, wrap=True, elem_id="arena-board"
    )
    summary = gr.Markdown(label="summary", elem_id="arena-summary")
    refresh = gr.Button("Refresh leaderboard", size="sm")
    # The battle's id: filled by /arena_battle, read by the votes (hidden: it tells a visitor nothing).
    battle_id = gr.Textbox(label="battle", visible=False)
    with gr.Group(visible=False):  # the public /arena_vote's own inputs and output
        api_battle = gr.Textbox(label="battle")
        api_choice = gr.Textbox(label="choice")
        api_vote = gr.JSON(label="vote")
        api_button = gr.Button()

    def arena_start():
        return *(gr.Button(interactive=False) for _ in buttons), ""

    @user_errors(ctx.spec.title)
    def arena_battle(
        prompt: str,
        models: str,
        max_new_tokens: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ):
        for update in arena.battle(ctx, prompt, models, max_new_tokens, progress):
            yield update.battle, update.answer_a, update.answer_b

    def arena_ready():
        return tuple(gr.Button(interactive=True) for _ in buttons)

    def vote_for(choice: str):
        @user_errors(ctx.spec.title)
        def arena_vote_button(battle: str):
            result = arena.vote(ctx, battle, choice)
            board = result.board
            return result.verdict, board.table, board.summary, *(gr.Button(interactive=False) for _ in buttons)

        return arena_vote_button

    @user_errors(ctx.spec.title)
    def arena_vote(battle: str, choice: str):
        result = arena.vote(ctx, battle, choice)
        revealed = {"battle": result.battle, "model_a": result.model_a, "model_b": result.model_b}
        return {**revealed, "choice": result.choice}, result.board.table, result.board.summary

    @user_errors(ctx.spec.title)
    def arena_board():
        board = arena.board(ctx)
        return board.table, board.summary

    gr.on([start.click, prompt.submit], arena_start, None, [*buttons, verdict], queue=False, **PRIVATE).then(
        arena_battle, [prompt, models, max_new], [battle_id, *panes], api_name="arena_battle", show_progress="minimal"
    ).success(arena_ready, None, buttons, queue=False, **PRIVATE)
    for button, (_, choice) in zip(buttons, VOTES, strict=True):
        button.click(vote_for(choice), [battle_id], [verdict, leaderboard, summary, *buttons], **PRIVATE)
    api_button.click(arena_vote, [api_battle, api_choice], [api_vote, leaderboard, summary], api_name="arena_vote")
    refresh.click(arena_board, None, [leaderboard, summary], api_name="arena_board")
    ctx.on_page_load(arena_board, [leaderboard, summary])
