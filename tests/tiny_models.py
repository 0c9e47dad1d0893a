"""Tiny random checkpoints for every task, built offline: `python tests/tiny_models.py OUTDIR`.

Writes one folder per task plus `OUTDIR/models.toml`, so `python app.py --models OUTDIR/models.toml`
runs the whole app with no network. The weights are random: outputs have the right shape and type,
not meaning. Each builder returns the models-file entry of its task.
"""

from __future__ import annotations

import hashlib
import json
import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUILDERS: dict[str, Callable[[Path], dict[str, Any]]] = {}
STAMP = ".tiny-kit"


def builder(task: str) -> Callable[[Callable[[Path], dict[str, Any]]], Callable[[Path], dict[str, Any]]]:
    def register(fn: Callable[[Path], dict[str, Any]]) -> Callable[[Path], dict[str, Any]]:
        BUILDERS[task] = fn
        return fn

    return register


# -- shared pieces ------------------------------------------------------------------------------

WORDS = (
    "a the is are on in of and to cat cats kitten dog sits sitting mat rug stock markets fell today "
    "shares dropped hello world what capital france paris i you it this that image photo"
).split()


def wordpiece_vocab() -> dict[str, int]:
    """BERT-style vocab: specials, characters, '##' continuations and a few words (any text tokenizes)."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens += chars + [f"##{c}" for c in chars] + WORDS
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


# -- builders -----------------------------------------------------------------------------------


@builder("similarity")
def build_similarity(out: Path) -> dict[str, Any]:
    """A 2-layer BERT with mean pooling, saved as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    raw = out / "bert"
    vocab = wordpiece_vocab()
    tokenizer = BertTokenizer(vocab=vocab)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    encoder = Transformer(str(raw), max_seq_length=128)
    pooling = Pooling(encoder.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[encoder, pooling], device="cpu").save(str(out))
    return {"model": str(out)}


# -- the kit ------------------------------------------------------------------------------------


def kit_version() -> str:
    """Changes whenever this file does, so a cached kit is rebuilt after an edit."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def build_kit(outdir: Path, tasks: list[str] | None = None) -> Path:
    """Build (or reuse) the tiny models of `tasks` (default all) and write `outdir/models.toml`."""
    import torch

    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    stamp = outdir / STAMP
    version = kit_version()
    entries: dict[str, dict[str, Any]] = {}
    previous = json.loads(stamp.read_text()) if stamp.exists() else {}
    if previous.get("version") != version:
        previous = {"version": version, "entries": {}}
    for task in tasks or list(BUILDERS):
        if task in previous["entries"] and (outdir / task).exists():
            entries[task] = previous["entries"][task]
            continue
        torch.manual_seed(0)
        entries[task] = BUILDERS[task](outdir / task)
    stamp.write_text(json.dumps({"version": version, "entries": {**previous["entries"], **entries}}))
    lines = []
    for task, entry in entries.items():
        lines.append(f"[{task}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
        lines.append("")
    path = outdir / "models.toml"
    path.write_text("\n".join(lines))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tests/tiny_models.py OUTDIR")
    print(build_kit(Path(sys.argv[1])))
