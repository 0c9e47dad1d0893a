"""CLIP image and text embeddings, shared by image search and zero-shot image classification.

Both tasks load their model with `load_clip`, so when they are configured with the same model the
manager (which keys loaded models by loader + model) holds it once, with one embedding cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from apps.core.errors import ModelUnavailable
from apps.core.images import image_hash
from apps.core.manager import LoadRequest
from apps.shared.cache import LRUCache

CACHE_SIZE = 1024  # image embeddings kept per model (~2-3 KB each for ViT-B/32)
IMAGE_BATCH = 16  # images per forward pass


class ClipEncoder:
    """A CLIP-style model + processor: unit-length image and text embeddings in one shared space."""

    def __init__(self, model: Any, processor: Any, cache_size: int = CACHE_SIZE) -> None:
        self.model = model
        self.processor = processor
        self.cache: LRUCache[np.ndarray] = LRUCache(cache_size)  # image embeddings by image content hash

    @property
    def logit_scale(self) -> float:
        """CLIP's learned temperature: similarity × scale are the logits of zero-shot classification."""
        return float(self.model.logit_scale.exp().item())

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, D) unit vectors; images seen before (same pixels) come from the cache, not the model."""
        keys = [image_hash(image) for image in images]
        found = {key: self.cache.get(key) for key in dict.fromkeys(keys)}
        missing = [key for key, value in found.items() if value is None]
        by_key = {key: images[keys.index(key)] for key in missing}
        for start in range(0, len(missing), IMAGE_BATCH):
            batch = missing[start : start + IMAGE_BATCH]
            vectors = self._encode_images([by_key[key] for key in batch])
            for key, vector in zip(batch, vectors, strict=True):
                self.cache.put(key, vector)
                found[key] = vector
        return np.stack([found[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) unit vectors of the texts (truncated to the model's context length)."""
        import torch

        inputs = self.processor(
            text=list(texts),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.model.config.text_config.max_position_embeddings,
        ).to(self.model.device)
        with torch.inference_mode():
            features = self.model.get_text_features(
                input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")
            )
        return _unit(_pooled(features))

    def _encode_images(self, images: list[Image.Image]) -> list[np.ndarray]:
        import torch

        inputs = self.processor(images=images, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.model.device, self.model.dtype)
        with torch.inference_mode():
            features = self.model.get_image_features(pixel_values=pixels)
        return list(_unit(_pooled(features)))


def _pooled(features: Any) -> Any:
    # transformers 5 returns a model output whose pooler_output is the projected embedding.
    return getattr(features, "pooler_output", features)


def _unit(tensor: Any) -> np.ndarray:
    array = tensor.float().cpu().numpy()
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return (array / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def load_clip(request: LoadRequest) -> ClipEncoder:
    """A CLIP model (any checkpoint with image and text towers in one space) and its processor."""
    from transformers import AutoModel, AutoProcessor

    model, info = AutoModel.from_pretrained(
        request.path, dtype=request.dtype, trust_remote_code=request.trust_remote_code, output_loading_info=True
    )
    towers = all(hasattr(model, name) for name in ("get_image_features", "get_text_features", "logit_scale"))
    # A checkpoint of another task can load into a CLIP-like class with fresh random weights (e.g. a
    # BLIP question-answering model as BlipModel); its embeddings would be noise, so refuse it.
    if not towers or info.get("missing_keys"):
        raise ModelUnavailable(
            f"`{request.ref.name}` is not a CLIP-style model with trained image and text embeddings "
            f"(it loads as {type(model).__name__}); choose a CLIP checkpoint such as openai/clip-vit-base-patch32."
        )
    processor = AutoProcessor.from_pretrained(request.path, trust_remote_code=request.trust_remote_code)
    return ClipEncoder(model.to(request.device).eval(), processor)
