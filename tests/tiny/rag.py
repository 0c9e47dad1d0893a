"""Tiny models for the Documents tab: the cross-encoder reranker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny import builder, wordpiece_vocab


@builder("rerank")
def build_rerank(out: Path) -> dict[str, Any]:
    """A 2-layer BERT with a one-logit head: what sentence-transformers' CrossEncoder loads."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    vocab = wordpiece_vocab()
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=256,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(out)
    BertTokenizer(vocab=vocab).save_pretrained(out)
    return {"model": str(out)}
