"""`python -m bench.serving [--quick] [--rounds N] [--tokens N] [--out FILE]`: the OpenAI-compatible API's cost.

Issue 15's figures, measured side by side in one run, rounds interleaved (the order flips each round):

- chat first token: `/v1/chat/completions` streamed through the `openai` SDK, to its first content chunk,
  against a bare streamed `generate` on the same loaded model and prompt (target ≤ 1.2×);
- embeddings: `/v1/embeddings` against a bare `SentenceTransformer.encode` of the same texts, after taking off
  the fixed cost of one SDK round trip with nothing inside (`GET /v1/models`), as the API-overhead figure
  takes off its echo (target ≤ 1.10×);
- remote chat: a second app whose chat model is `openai+http://…/v1#MODEL` of the first, its `/v1` streamed
  reply against the first app's `/v1` directly, same request (target ≤ 1.15× + a fixed cost per request).

Both apps run in this process (their HTTP servers in threads), so the relay competes with the first app for
the same cores: an upper bound of the cost on two machines. On the real SmolLM2 and all-MiniLM-L6-v2 when
their packages are installed (chat on the transformers engine, which the bare `generate` needs), else on the
tiny kit; `--quick` is a smoke run on the tiny kit. Prints a table; writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.server import ROOT, Served, serve
from bench.stats import Stat, interleaved

FIRST_TOKEN_LIMIT = 1.2
EMBEDDINGS_LIMIT = 1.10
REMOTE_LIMIT = 1.15
REMOTE_FIXED_MS = 50.0  # what one more local HTTP hop and the relay of its stream may add per request


@dataclass
class Figure:
    name: str
    measured: str  # what the first column is
    against: str  # what the second column is
    kit: str
    a: list[float]
    b: list[float]
    fixed: list[float]  # seconds taken off `a` before the ratio (the round trip alone), or none
    limit: float
    fixed_allowed_ms: float = 0.0

    @property
    def ratio(self) -> float:
        a, b = Stat(self.a).median, Stat(self.b).median
        fixed = Stat(self.fixed).median if self.fixed else 0.0
        return (a - fixed) / b if b > 0 else math.nan

    @property
    def difference_ms(self) -> float:
        return (Stat(self.a).median - Stat(self.b).median) * 1000

    @property
    def met(self) -> bool:
        a, b = Stat(self.a).median, Stat(self.b).median
        fixed = Stat(self.fixed).median if self.fixed else 0.0
        return a - fixed <= self.limit * b + self.fixed_allowed_ms / 1000

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "a_median_s": Stat(self.a).median,
            "b_median_s": Stat(self.b).median,
            "ratio": self.ratio,
            "difference_ms": self.difference_ms,
            "met": self.met,
        }


def api_client(url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{url}v1", api_key="unused", max_retries=0, timeout=300)


def chat_messages() -> list[dict[str, str]]:
    from bench.cases import CHAT_MESSAGE, CHAT_SYSTEM

    return [{"role": "system", "content": CHAT_SYSTEM}, {"role": "user", "content": CHAT_MESSAGE}]


def streamed(api: Any, tokens: int) -> tuple[float, float]:
    """(seconds to the first content chunk, seconds to the end) of one greedy streamed chat completion."""
    started = time.perf_counter()
    first = None
    stream = api.chat.completions.create(
        model="", messages=chat_messages(), max_tokens=tokens, temperature=0, stream=True
    )
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    if first is None:
        raise RuntimeError("/v1/chat/completions streamed no content")
    return first, total


def texts(number: int) -> list[str]:
    """The embedding inputs of round `number`: the similarity case's sentences, made new every round."""
    from bench.cases import SENTENCES

    return [f"{line} ({number})" for line in SENTENCES.splitlines() if line.strip()]


def first_token(served: Served, kit: str, rounds: int, tokens: int, warmup: int) -> Figure:
    from bench.figures import first_token_bare

    api = api_client(served.url)
    with served.context("chat").use() as chat_model:
        stats = interleaved(
            {
                "v1": lambda n: streamed(api, tokens)[0],
                "bare": lambda n: first_token_bare(chat_model, tokens),
            },
            rounds,
            warmup,
            self_timed=True,
        )
    return Figure(
        "chat first token",
        "/v1/chat/completions (stream) first chunk",
        "bare streamed `generate` first piece",
        kit,
        stats["v1"].samples,
        stats["bare"].samples,
        [],
        FIRST_TOKEN_LIMIT,
    )


def embeddings(served: Served, kit: str, rounds: int, warmup: int) -> Figure:
    api = api_client(served.url)
    with served.context("similarity").use() as encoder:
        stats = interleaved(
            {
                "v1": lambda n: api.embeddings.create(model="", input=texts(n)),
                "bare": lambda n: encoder.encode(texts(n), convert_to_numpy=True),
                "round trip": lambda n: api.models.list(),
            },
            rounds,
            warmup,
        )
    return Figure(
        "embeddings overhead",
        "/v1/embeddings",
        "bare `SentenceTransformer.encode`",
        kit,
        stats["v1"].samples,
        stats["bare"].samples,
        stats["round trip"].samples,
        EMBEDDINGS_LIMIT,
    )


def remote_chat(first: Served, second: Served, kit: str, rounds: int, tokens: int, warmup: int) -> list[Figure]:
    direct, relayed = api_client(first.url), api_client(second.url)
    firsts: dict[str, list[float]] = {"remote": [], "direct": []}

    def timed_reply(api: Any, name: str) -> float:
        started_first, total = streamed(api, tokens)
        firsts[name].append(started_first)
        return total

    stats = interleaved(
        {"remote": lambda n: timed_reply(relayed, "remote"), "direct": lambda n: timed_reply(direct, "direct")},
        rounds,
        warmup,
        self_timed=True,
    )
    # interleaved() also ran the warm-up rounds through timed_reply: keep the measured rounds' first tokens.
    firsts = {name: values[warmup:] for name, values in firsts.items()}
    common = ("second app's /v1 (chat = openai+http://first/v1#…)", "first app's /v1 directly")
    return [
        Figure(
            "remote chat reply",
            f"{common[0]}, whole streamed reply",
            common[1],
            kit,
            stats["remote"].samples,
            stats["direct"].samples,
            [],
            REMOTE_LIMIT,
            REMOTE_FIXED_MS,
        ),
        Figure(
            "remote chat first token",
            f"{common[0]}, first chunk",
            common[1],
            kit,
            firsts["remote"],
            firsts["direct"],
            [],
            REMOTE_LIMIT,
            REMOTE_FIXED_MS,
        ),
    ]


def models_for(quick: bool) -> tuple[Any, dict[str, str], str]:
    """(kit, task → model overrides, the kit's name): the real weights where installed, unless quick."""
    from bench.kits import real_models, tiny_kit

    kit = tiny_kit()
    if quick:
        return kit, {}, "tiny"
    real, models = real_models(), {}
    if real.minilm is not None:
        models["similarity"] = str(real.minilm)
    if real.smollm2 is not None:
        folder, gguf = real.smollm2
        models["chat"] = f"{folder}#{gguf}"
    return kit, models, "real" if models else "tiny"


def measure(quick: bool, rounds: int, tokens: int) -> list[Figure]:
    kit, models, name = models_for(quick)
    warmup = 1
    with ExitStack() as stack:
        first = stack.enter_context(serve(kit.models_file, models, local_dirs=(kit.folder,)))
        remote = {"chat": f"openai+{first.url}v1#{first.manager.selection.get('chat')}"}
        second = stack.enter_context(serve(kit.models_file, {**models, **remote}, local_dirs=(kit.folder,)))
        figures = [first_token(first, name, rounds, tokens, warmup), embeddings(first, name, rounds, warmup)]
        figures += remote_chat(first, second, name, rounds, tokens, warmup)
    return figures


def report(figures: list[Figure]) -> str:
    lines = [
        "| figure | kit | measured (median) | against (median) | ratio | difference (ms) | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for figure in figures:
        target = f"≤ {figure.limit}×" + (f" + {figure.fixed_allowed_ms:g} ms" if figure.fixed_allowed_ms else "")
        if figure.fixed:
            target += f" after {Stat(figure.fixed).median * 1000:.1f} ms of round trip (GET /v1/models) off"
        lines.append(
            f"| {figure.name} | {figure.kit} | {figure.measured}: {Stat(figure.a).ms()} | "
            f"{figure.against}: {Stat(figure.b).ms()} | {figure.ratio:.3f} | {figure.difference_ms:+.1f} | "
            f"{target} | {'yes' if figure.met else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on the tiny models (2 rounds)")
    parser.add_argument("--rounds", type=int, help="measured rounds per figure (default 7; quick: 2)")
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per chat reply")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench-serving.json")
    args = parser.parse_args(argv)
    # The bare `generate` runs on the loaded transformers model; a GGUF chat model stays on that engine here.
    os.environ.setdefault("SHOWCASE_GGUF_ENGINE", "transformers")
    rounds = args.rounds or (2 if args.quick else 7)
    figures = measure(args.quick, rounds, args.tokens)
    print(report(figures))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rounds": rounds, "figures": [f.as_json() for f in figures]}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
