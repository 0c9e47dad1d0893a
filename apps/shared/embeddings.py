"""Sentence embeddings (sentence-transformers), shared by sentence similarity and semantic search.

Both tasks load their model with `load_sentence_transformer`, so when they are configured with the same
model the manager (which keys loaded models by loader + model + device + dtype) holds one copy for both.
"""

from __future__ import annotations

from typing import Any

from apps.core.manager import LoadRequest


def load_sentence_transformer(request: LoadRequest) -> Any:
    """A sentence-transformers model from a local folder (plain transformers folders get mean pooling)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(
        str(request.path),
        device=request.device,
        trust_remote_code=request.trust_remote_code,
        local_files_only=True,
        model_kwargs={"dtype": request.dtype},
    )
