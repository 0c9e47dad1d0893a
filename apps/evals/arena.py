"""Arena: two anonymous chat models answer the same prompt, the user votes, the votes feed an Elo board.

The answers come from the chat task's own streaming function (`ctx.stream_task("chat", ...)`), one model
after the other, so each is loaded (and evicted when the memory budget needs it) by the model manager as
for the Chat tab. Battles and votes are kept in SQLite under `SHOWCASE_DATA_DIR/arena/arena.db`; the
board is a Bradley–Terry fit over every vote, as the LMSYS Chatbot Arena computes its Elo ratings.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apps.core import hub
from apps.core.errors import InputError, ShowcaseError
from apps.core.inputs import require_text
from apps.core.manager import ProgressFn
from apps.core.spec import TaskContext

DEFAULT_MAX_NEW_TOKENS = 256
MIN_NEW_TOKENS, MAX_NEW_TOKENS = 16, 1024
MAX_MODELS_CHARS = 10_000
CHOICES = ("A", "B", "tie", "both bad")
BOARD_COLUMNS = ["rank", "model", "elo", "ci_low", "ci_high", "votes", "wins", "losses", "ties", "both_bad"]
# The LMSYS scale: a 400-point gap means 10:1 odds of winning; the ratings average 1000.
SCALE, BASE, ANCHOR = 400.0, 10.0, 1000.0
BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 0  # fixed: the same votes always give the same board
# A weak L2 prior on the ratings (scikit-learn's C): without it, a model that won every one of its votes
# would get an infinite rating; with hundreds of votes it moves a rating by well under a point.
PRIOR_C = 1.0
_BATTLE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class ArenaBattle:
    """One streamed step of a battle: both answers so far (the models stay hidden); `done` on the last one."""

    battle: str
    answer_a: str
    answer_b: str
    done: bool = False

    @property
    def text(self) -> str:
        """Both answers, labelled (what a pipeline step passes on)."""
        return f"Model A: {self.answer_a}\n\nModel B: {self.answer_b}"


@dataclass
class ArenaBoard:
    """The leaderboard: BOARD_COLUMNS, best first, and how many votes it is computed from."""

    table: pd.DataFrame
    votes: int

    @property
    def summary(self) -> str:
        if not self.votes:
            return "No votes yet: start a battle and vote."
        models = len(self.table)
        return (
            f"{self.votes} vote{'s' * (self.votes != 1)} on {models} model{'s' * (models != 1)}. Elo from a "
            f"Bradley–Terry fit of every vote (ties count half a win each way), 95 % intervals from "
            f"{BOOTSTRAP_ROUNDS} bootstrap rounds; rank = 1 + the models whose interval lies wholly above."
        )


@dataclass
class ArenaVote:
    """A vote cast: the battle, the two models revealed, the choice, and the board with the vote counted."""

    battle: str
    model_a: str
    model_b: str
    choice: str
    board: ArenaBoard

    @property
    def verdict(self) -> str:
        verdicts = {
            "A": "Model A is better",
            "B": "Model B is better",
            "tie": "A tie",
            "both bad": "Both are bad",
        }
        return (
            f"**Model A** was `{self.model_a}`, **model B** was `{self.model_b}`. Your vote: {verdicts[self.choice]}."
        )


# -- the store ----------------------------------------------------------------------------------


class ArenaStore:
    """Battles and votes in one SQLite file: each write is one transaction, one vote per battle.

    A connection per call (the server answers from many threads); WAL lets readers go on while one writes,
    and `synchronous=FULL` makes every commit durable, so a crash loses nothing already committed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(
                """
                CREATE TABLE IF NOT EXISTS battles (
                    id TEXT PRIMARY KEY, prompt TEXT NOT NULL, model_a TEXT NOT NULL, model_b TEXT NOT NULL,
                    answer_a TEXT NOT NULL, answer_b TEXT NOT NULL, created REAL NOT NULL
                );
                CREATE TABLE IF NOT EXISTS votes (
                    battle_id TEXT NOT NULL UNIQUE REFERENCES battles(id), choice TEXT NOT NULL,
                    created REAL NOT NULL
                );
                """
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            with connection:  # one transaction: committed on success, rolled back on any error
                yield connection
        finally:
            connection.close()

    def add_battle(self, battle: str, prompt: str, model_a: str, model_b: str, answer_a: str, answer_b: str) -> None:
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO battles VALUES (?, ?, ?, ?, ?, ?, ?)",
                (battle, prompt, model_a, model_b, answer_a, answer_b, time.time()),
            )

    def battle_models(self, battle: str) -> tuple[str, str] | None:
        """The (model A, model B) of a stored battle, or None if there is no such battle."""
        with self._connect() as connection:
            row = connection.execute("SELECT model_a, model_b FROM battles WHERE id = ?", (battle,)).fetchone()
        return (row[0], row[1]) if row else None

    def add_vote(self, battle: str, choice: str) -> tuple[str, str]:
        """Record the one vote of a battle: its (model A, model B). InputError if unknown or voted on already."""
        with self._connect() as connection:
            row = connection.execute("SELECT model_a, model_b FROM battles WHERE id = ?", (battle,)).fetchone()
            if row is None:
                raise InputError(
                    f"There is no finished battle `{battle}`: start a battle and vote once both answers are in."
                )
            try:
                connection.execute("INSERT INTO votes VALUES (?, ?, ?)", (battle, choice, time.time()))
            except sqlite3.IntegrityError:  # the UNIQUE battle_id: also when two votes race each other
                raise InputError(f"Battle `{battle}` has its vote already: start a new battle to vote again.") from None
        return row[0], row[1]

    def votes(self) -> list[tuple[str, str, str]]:
        """Every vote as (model A, model B, choice), oldest first."""
        with self._connect() as connection:
            return connection.execute(
                "SELECT b.model_a, b.model_b, v.choice FROM votes v JOIN battles b ON b.id = v.battle_id "
                "ORDER BY v.created, v.rowid"
            ).fetchall()


def store(ctx: TaskContext) -> ArenaStore:
    return ArenaStore(ctx.settings.data_path / "arena" / "arena.db")


# -- the ratings --------------------------------------------------------------------------------


def _outcome_rows(votes: Sequence[tuple[str, str, str]], models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Votes grouped into distinct (A, B, outcome) rows: their ±1 model indicators and how many votes each has.

    The outcome is 1 (A won), 0 (B won) or 0.5 (a tie, or both bad).
    """
    index = {model: i for i, model in enumerate(models)}
    keys = [(index[a], index[b], {"A": 1.0, "B": 0.0}.get(choice, 0.5)) for a, b, choice in votes]
    distinct, counts = np.unique(np.array(keys, dtype=float), axis=0, return_counts=True)
    return distinct, counts.astype(float)


def _fit(distinct: np.ndarray, counts: np.ndarray, n_models: int) -> np.ndarray:
    """Elo ratings from a Bradley–Terry logistic regression on weighted (A, B, outcome) rows."""
    from sklearn.linear_model import LogisticRegression

    keep = counts > 0
    distinct, counts = distinct[keep], counts[keep]
    rows = np.arange(len(distinct))
    features = np.zeros((len(distinct), n_models))
    features[rows, distinct[:, 0].astype(int)] = math.log(BASE)
    features[rows, distinct[:, 1].astype(int)] = -math.log(BASE)
    # A tie is half a win for each side: the row twice, once won by A and once by B, at half weight. Each row
    # is also given mirrored (B's indicators, B's outcome) at half weight: the same likelihood, and both
    # classes are always present, as scikit-learn needs, even when A's side won every vote.
    won = distinct[:, 2]
    x = np.vstack([features, features, -features, -features])
    y = np.concatenate([np.ones(len(distinct)), np.zeros(len(distinct))] * 2)
    weight = np.concatenate([counts * won, counts * (1.0 - won), counts * (1.0 - won), counts * won]) / 2
    present = weight > 0
    model = LogisticRegression(fit_intercept=False, C=PRIOR_C, tol=1e-8, max_iter=1000)
    model.fit(x[present], y[present], sample_weight=weight[present])
    coefficients = model.coef_[0]
    return ANCHOR + SCALE * (coefficients - coefficients.mean())


def ratings(
    votes: Sequence[tuple[str, str, str]], rounds: int = BOOTSTRAP_ROUNDS, seed: int = BOOTSTRAP_SEED
) -> pd.DataFrame:
    """The board of these votes ((model A, model B, choice) each): BOARD_COLUMNS, best first.

    Elo is the Bradley–Terry fit of all votes; ci_low/ci_high the 2.5th/97.5th percentiles of the fit over
    `rounds` resamples of the votes (with replacement, a fixed seed). Rank is 1 + the number of models whose
    lower bound is above this model's upper bound, so models that cannot be told apart share a rank.
    """
    if not votes:
        return pd.DataFrame(columns=BOARD_COLUMNS)
    models = sorted({model for a, b, _ in votes for model in (a, b)})
    distinct, counts = _outcome_rows(votes, models)
    elo = _fit(distinct, counts, len(models))
    # Resampling the votes = drawing how many times each distinct row occurs (multinomial on the counts).
    generator = np.random.default_rng(seed)
    draws = generator.multinomial(len(votes), counts / counts.sum(), size=rounds)
    samples = np.array([_fit(distinct, draw.astype(float), len(models)) for draw in draws])
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    tally = {model: dict.fromkeys(("wins", "losses", "ties", "both_bad"), 0) for model in models}
    for a, b, choice in votes:
        if choice == "A":
            tally[a]["wins"], tally[b]["losses"] = tally[a]["wins"] + 1, tally[b]["losses"] + 1
        elif choice == "B":
            tally[b]["wins"], tally[a]["losses"] = tally[b]["wins"] + 1, tally[a]["losses"] + 1
        else:
            column = "ties" if choice == "tie" else "both_bad"
            tally[a][column] += 1
            tally[b][column] += 1
    rows = []
    for i, model in enumerate(models):
        counted = tally[model]
        rank = 1 + int(sum(low[j] > high[i] for j in range(len(models)) if j != i))
        votes_of = sum(counted.values())
        rows.append([rank, model, round(elo[i], 1), round(low[i], 1), round(high[i], 1), votes_of, *counted.values()])
    table = pd.DataFrame(rows, columns=BOARD_COLUMNS)
    return table.sort_values(["elo", "model"], ascending=[False, True], ignore_index=True)


# -- the task functions -------------------------------------------------------------------------


def candidates(ctx: TaskContext) -> list[str]:
    """The models an arena draws from when none are given: the Chat tab's model, then its curated alternatives
    in the registry's order, those that can be loaded now (offline: only those in the local cache)."""
    chat = ctx.for_task("chat")
    configured = chat.configured_model()
    found = [str(configured)]
    offline = ctx.settings.is_offline or ctx.manager.offline
    for card in chat.spec.cards:
        ref = card.ref
        if str(ref) not in found and (not offline or hub.cached_path(ref) is not None):
            found.append(str(ref))
    return found


def check_models(ctx: TaskContext, models: Any) -> list[str]:
    """Newline-separated chat model refs → the distinct refs (checked, not loaded); empty → `candidates`."""
    if models is not None and not isinstance(models, str):
        raise InputError("The models must be text: one chat model reference per line (empty for the app's own).")
    if models and len(models) > MAX_MODELS_CHARS:
        raise InputError(
            f"The model list is {len(models):,} characters long; the limit is {MAX_MODELS_CHARS:,}: "
            "give a few model references, one per line."
        )
    chat = ctx.for_task("chat")
    lines = [line.strip() for line in (models or "").splitlines() if line.strip()]
    if not lines:
        found = candidates(ctx)
        if len(found) < 2:
            raise InputError(
                f"The arena needs at least two chat models it can load, and only `{found[0]}` can be loaded "
                "here (the app is offline and no other curated chat model is cached): list two or more "
                "model references, one per line."
            )
        return found
    refs = list(dict.fromkeys(str(chat.resolve_model(line)) for line in lines))
    if len(refs) < 2:
        raise InputError("The arena needs at least two different chat models: give two or more, one per line.")
    return refs


def check_max_new_tokens(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"Max new tokens must be a number from {MIN_NEW_TOKENS} to {MAX_NEW_TOKENS}.")
    if not MIN_NEW_TOKENS <= value <= MAX_NEW_TOKENS:
        raise InputError(f"Max new tokens must be from {MIN_NEW_TOKENS} to {MAX_NEW_TOKENS}, not {value:g}.")
    return int(value)


def check_choice(choice: Any) -> str:
    """The vote, as one of CHOICES (any case, spaces or `_` between the words of "both bad")."""
    text = " ".join(choice.replace("_", " ").split()).lower() if isinstance(choice, str) else ""
    for known in CHOICES:
        if text == known.lower():
            return known
    shown = f"“{choice[:40]}”" if isinstance(choice, str) and choice.strip() else "nothing"
    raise InputError(f"Vote with one of A, B, tie or both bad, not {shown}.")


def check_battle(battle: Any) -> str:
    """A battle id as `/arena_battle` gives it (32 hexadecimal digits)."""
    if not isinstance(battle, str) or not battle.strip():
        raise InputError("Say which battle the vote is for: the battle id that /arena_battle gave.")
    battle = battle.strip().lower()
    if not _BATTLE_ID.fullmatch(battle):
        raise InputError(f"“{battle[:40]}” is not a battle id: use the 32-character id that /arena_battle gave.")
    return battle


def battle(
    ctx: TaskContext,
    prompt: str,
    models: str = "",
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    progress: ProgressFn | None = None,
) -> Iterator[ArenaBattle]:
    """Two anonymous chat models, drawn at random from `models` (one per line; empty: the Chat tab's model and
    its curated alternatives), answer the prompt one after the other; yields both answers so far as they stream.

    The last update has `done` set; the battle is then stored and can be voted on with its `battle` id. The
    models are revealed only by the vote.
    """
    prompt = require_text(prompt, ctx.settings.max_text_chars, what="prompt", empty="Type a prompt for the two models.")
    tokens = check_max_new_tokens(max_new_tokens)
    refs = check_models(ctx, models)
    model_a, model_b = random.sample(refs, 2)  # a random pair in a random order
    battle_id = uuid.uuid4().hex
    arena = store(ctx)  # before the models run: an unwritable data folder fails at once
    answers = {"A": "", "B": ""}
    yield ArenaBattle(battle_id, "", "")
    for side, model in (("A", model_a), ("B", model_b)):
        try:
            for update in ctx.stream_task("chat", prompt, [], max_new_tokens=tokens, model=model, progress=progress):
                answers[side] = update.reply
                yield ArenaBattle(battle_id, answers["A"], answers["B"])
        except ShowcaseError as exc:
            raise type(exc)(f"Model {side} could not answer: {exc}") from exc
    arena.add_battle(battle_id, prompt, model_a, model_b, answers["A"], answers["B"])
    yield ArenaBattle(battle_id, answers["A"], answers["B"], done=True)


def vote(ctx: TaskContext, battle: str, choice: str) -> ArenaVote:
    """Vote on a finished battle (A, B, tie or both bad; one vote per battle): the two models revealed and the
    updated board."""
    battle_id, choice = check_battle(battle), check_choice(choice)
    model_a, model_b = store(ctx).add_vote(battle_id, choice)
    return ArenaVote(battle_id, model_a, model_b, choice, board(ctx))


def board(ctx: TaskContext) -> ArenaBoard:
    """The Elo leaderboard of every vote so far, with 95 % bootstrap intervals and each model's vote counts."""
    votes = store(ctx).votes()
    return ArenaBoard(ratings(votes), len(votes))
