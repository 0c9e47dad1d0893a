"""Tiny text models: sentence embeddings."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from tiny import builder, wordpiece_vocab


@builder("similarity")
def build_similarity(out: Path) -> dict[str, Any]:
    """A 2-layer BERT with mean pooling, saved as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    # The plain BERT folder is only a stepping stone: keep it out of `out`, or the model's parameters
    # would be counted twice (the folder would hold two copies of the weights).
    raw = Path(tempfile.mkdtemp(prefix="tiny-bert-"))
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
    shutil.rmtree(raw, ignore_errors=True)
    return {"model": str(out)}
