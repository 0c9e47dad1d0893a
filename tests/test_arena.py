"""Arena: the Elo board from votes (Bradley–Terry, bootstrap intervals), the SQLite store, battles on the tiny
chat models (in-process and through the API), and one battle with the real SmolLM2."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import KIT_DIR
from gradio_client import Client

from apps.core.errors import InputError
from apps.evals import arena
from apps.evals.arena import BOARD_COLUMNS, ArenaStore, ratings

TINY_CHAT = (str(KIT_DIR / "chat"), str(KIT_DIR / "finetune"))  # the tiny kit's two chat checkpoints
PROMPT = "What is the capital of France?"


def synthetic_votes(true_elo: dict[str, float], count: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """`count` votes between random pairs, each won with the Bradley–Terry probability of the true ratings."""
    generator = random.Random(seed)
    models, votes = list(true_elo), []
    for _ in range(count):
        a, b = generator.sample(models, 2)
        p_a = 1 / (1 + 10 ** ((true_elo[b] - true_elo[a]) / 400))
        votes.append((a, b, "A" if generator.random() < p_a else "B"))
    return votes


# -- the ratings ------------------------------------------------------------------------------------


def test_votes_from_a_known_ordering_converge_to_it_with_separate_intervals() -> None:
    true_elo = {"alpha": 1300.0, "bravo": 1150.0, "charlie": 1000.0, "delta": 850.0}
    board = ratings(synthetic_votes(true_elo, 2000))
    assert list(board.columns) == BOARD_COLUMNS
    assert list(board["model"]) == ["alpha", "bravo", "charlie", "delta"]
    assert list(board["rank"]) == [1, 2, 3, 4]  # each interval lies wholly below the one above it
    assert all(board["ci_high"].iloc[i + 1] < board["ci_low"].iloc[i] for i in range(3))
    assert all(board["ci_low"] <= board["elo"]) and all(board["elo"] <= board["ci_high"])
    assert board["elo"].mean() == pytest.approx(1000, abs=0.5)  # anchored: the ratings average 1000
    for row in board.itertuples():  # the gaps, not just the order: within 40 points of the true ones
        assert row.elo - board["elo"].iloc[0] == pytest.approx(true_elo[row.model] - 1300, abs=40), row
    assert board["votes"].sum() == 2 * 2000 and (board["wins"] + board["losses"] == board["votes"]).all()


def test_more_votes_narrow_the_interval() -> None:
    true_elo = {"alpha": 1100.0, "bravo": 1000.0, "charlie": 900.0}
    few, many = ratings(synthetic_votes(true_elo, 60)), ratings(synthetic_votes(true_elo, 1500))
    width = lambda board: (board["ci_high"] - board["ci_low"]).mean()  # noqa: E731
    assert width(many) < width(few) / 2


def test_a_tie_is_half_a_win_each_way_and_both_bad_is_a_tie_counted_apart() -> None:
    two_ties = ratings([("x", "y", "tie"), ("x", "y", "tie"), ("x", "z", "A")])
    win_and_loss = ratings([("x", "y", "A"), ("x", "y", "B"), ("x", "z", "A")])
    both_bad = ratings([("x", "y", "both bad"), ("x", "y", "both bad"), ("x", "z", "A")])
    for board in (win_and_loss, both_bad):
        assert board.set_index("model")["elo"].to_dict() == two_ties.set_index("model")["elo"].to_dict()
    x = both_bad.set_index("model").loc["x"]
    assert (x["votes"], x["wins"], x["losses"], x["ties"], x["both_bad"]) == (3, 1, 0, 0, 2)
    assert two_ties.set_index("model").loc["y", "ties"] == 2


def test_only_ties_rate_both_models_alike() -> None:
    board = ratings([("x", "y", "tie")] * 5)
    assert list(board["elo"]) == [1000.0, 1000.0] and list(board["rank"]) == [1, 1]


def test_one_vote_gives_a_finite_board_and_the_same_votes_the_same_board() -> None:
    board = ratings([("x", "y", "A")])
    assert list(board["model"]) == ["x", "y"] and 1000 < board["elo"].iloc[0] < 1400
    votes = synthetic_votes({"alpha": 1100.0, "bravo": 1000.0, "charlie": 950.0}, 80)
    assert ratings(votes).equals(ratings(votes))  # a fixed bootstrap seed: a stable board


def test_an_empty_board_is_the_columns_with_no_rows() -> None:
    board = ratings([])
    assert list(board.columns) == BOARD_COLUMNS and len(board) == 0


# -- the store --------------------------------------------------------------------------------------


def add_battle(store: ArenaStore, model_a: str = "x", model_b: str = "y") -> str:
    import uuid

    battle = uuid.uuid4().hex
    store.add_battle(battle, PROMPT, model_a, model_b, "answer a", "answer b")
    return battle


def test_the_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "arena" / "arena.db"
    store = ArenaStore(path)
    first, second = add_battle(store), add_battle(store, "y", "z")
    store.add_vote(first, "A")
    store.add_vote(second, "tie")
    del store
    reopened = ArenaStore(path)
    assert reopened.votes() == [("x", "y", "A"), ("y", "z", "tie")]
    assert reopened.battle_models(second) == ("y", "z")
    import sqlite3

    with sqlite3.connect(path) as connection:  # WAL: readers keep reading while a vote is written
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_second_vote_an_unknown_battle_and_a_bad_choice_are_clear_errors(tiny) -> None:
    ctx = tiny("arena")
    battle = add_battle(arena.store(ctx))
    assert arena.vote(ctx, battle, "b").choice == "B"  # any case
    with pytest.raises(InputError, match="has its vote already: start a new battle"):
        arena.vote(ctx, battle, "A")
    with pytest.raises(InputError, match="There is no finished battle"):
        arena.vote(ctx, "f" * 32, "A")
    with pytest.raises(InputError, match="is not a battle id"):
        arena.vote(ctx, "../etc", "A")
    with pytest.raises(InputError, match="Vote with one of A, B, tie or both bad, not “C”"):
        arena.vote(ctx, add_battle(arena.store(ctx)), "C")
    assert arena.vote(ctx, add_battle(arena.store(ctx)), " Both_Bad ").choice == "both bad"


def test_concurrent_votes_count_once_per_battle(tmp_path: Path) -> None:
    store = ArenaStore(tmp_path / "arena.db")
    battles = [add_battle(store, f"m{n % 3}", f"m{n % 3 + 1}") for n in range(12)]
    accepted, refused, lock = [], [], threading.Lock()
    start = threading.Barrier(6)

    def voter(seat: int) -> None:
        start.wait()  # every thread votes on every battle at the same moment
        for battle in battles:
            try:
                store.add_vote(battle, random.choice(arena.CHOICES))
                with lock:
                    accepted.append(battle)
            except InputError:
                with lock:
                    refused.append(battle)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(voter, range(6)))
    assert sorted(accepted) == sorted(battles)  # exactly one vote won each battle
    assert len(refused) == 5 * len(battles)
    assert len(store.votes()) == len(battles)


# -- battles on the tiny chat models ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_settings, tmp_path_factory):
    from task_contexts import tiny_context, tiny_manager

    settings = tiny_settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("arena-data")})
    manager = tiny_manager(settings)
    return lambda key: tiny_context(key, settings, manager)


def test_a_battle_streams_both_answers_in_turn_and_is_stored_when_done(tiny) -> None:
    ctx = tiny("arena")
    updates = list(arena.battle(ctx, PROMPT, "\n".join(TINY_CHAT), 16))
    last = updates[-1]
    assert last.done and not any(update.done for update in updates[:-1])
    assert len({update.battle for update in updates}) == 1
    assert last.answer_a and last.answer_b
    # A's answer is finished before B's begins: the two models take turns inside the memory budget.
    first_b = next(i for i, update in enumerate(updates) if update.answer_b)
    assert all(update.answer_a == last.answer_a for update in updates[first_b:])
    assert set(arena.store(ctx).battle_models(last.battle)) == set(TINY_CHAT)
    shown = {value for update in updates for value in vars(update).values() if isinstance(value, str)}
    assert not shown & set(TINY_CHAT)  # the models are not named before the vote


def test_the_pair_and_its_order_are_drawn_at_random(tiny) -> None:
    ctx = tiny("arena")
    random.seed(3)
    orders = set()
    for _ in range(6):
        battle = list(arena.battle(ctx, PROMPT, "\n".join(TINY_CHAT), 16))[-1].battle
        orders.add(arena.store(ctx).battle_models(battle))
    assert orders == {TINY_CHAT, TINY_CHAT[::-1]}


def test_the_prompt_and_the_models_are_checked_before_anything_loads(tiny) -> None:
    ctx = tiny("arena")
    models = f"{TINY_CHAT[0]}\nnobody/no-such-model-here"
    with pytest.raises(InputError, match="Type a prompt"):
        next(arena.battle(ctx, "   ", models))
    with pytest.raises(InputError, match="characters long; the limit is"):
        next(arena.battle(ctx, "x" * (ctx.settings.max_text_chars + 1), models))
    with pytest.raises(InputError, match="at least two different chat models"):
        next(arena.battle(ctx, PROMPT, f"{TINY_CHAT[0]}\n{TINY_CHAT[0]}"))
    with pytest.raises(InputError, match="Max new tokens must be from 16 to 1024"):
        next(arena.battle(ctx, PROMPT, models, 5000))
    # Offline, the tiny app can load only its own chat model: no curated alternative is cached.
    with pytest.raises(InputError, match="at least two chat models it can load"):
        next(arena.battle(ctx, PROMPT, ""))


def test_vote_reveals_the_models_and_the_board_counts_it(tiny) -> None:
    ctx = tiny("arena")
    assert arena.board(ctx).summary  # empty or not, a sentence
    before = arena.board(ctx).votes
    battle = list(arena.battle(ctx, PROMPT, "\n".join(TINY_CHAT), 16))[-1].battle
    result = arena.vote(ctx, battle, "A")
    assert (result.model_a, result.model_b) == arena.store(ctx).battle_models(battle)
    assert f"`{result.model_a}`" in result.verdict and "Model A is better" in result.verdict
    assert result.board.votes == before + 1
    table = result.board.table.set_index("model")
    assert table.loc[result.model_a, "elo"] > table.loc[result.model_b, "elo"]


# -- through the API ----------------------------------------------------------------------------------


def test_battle_vote_and_board_through_the_api(client: Client) -> None:
    job = client.submit(PROMPT, "\n".join(TINY_CHAT), 16, api_name="/arena_battle")
    updates = list(job)
    battle, answer_a, answer_b = job.result()
    assert len(updates) >= 2 and len(battle) == 32 and answer_a and answer_b
    assert not {answer_a, answer_b} & set(TINY_CHAT)
    before, _ = client.predict(api_name="/arena_board")
    revealed, board, summary = client.predict(battle, "tie", api_name="/arena_vote")
    assert {revealed["model_a"], revealed["model_b"]} == set(TINY_CHAT) and revealed["choice"] == "tie"
    assert board["headers"] == BOARD_COLUMNS and "vote" in summary
    votes = {row[1]: row[5] for row in board["data"]}
    earlier = {row[1]: row[5] for row in before["data"]}
    assert all(votes[model] == earlier.get(model, 0) + 1 for model in TINY_CHAT)
    after, _ = client.predict(api_name="/arena_board")
    assert after["data"] == board["data"]
    with pytest.raises(Exception, match="has its vote already"):
        client.predict(battle, "A", api_name="/arena_vote")


# -- the real SmolLM2 -----------------------------------------------------------------------------------


@pytest.mark.real
def test_real_smollm2_battles_the_tiny_model_with_real_answers(real_context, tmp_path: Path) -> None:
    from conftest import smollm2_ref

    ctx = real_context("arena")
    ctx = type(ctx)(ctx.spec, ctx.settings.model_copy(update={"data_dir": tmp_path}), ctx.manager, ctx.specs)
    real = str(ctx.for_task("chat").resolve_model(smollm2_ref()))
    last = list(arena.battle(ctx, PROMPT, f"{smollm2_ref()}\n{TINY_CHAT[0]}", 32))[-1]
    result = arena.vote(ctx, last.battle, "A")
    assert {result.model_a, result.model_b} == {real, TINY_CHAT[0]}
    answer = last.answer_a if result.model_a == real else last.answer_b
    assert len(answer.split()) >= 3 and any(character.isalpha() for character in answer), answer
