"""Tiny multimodal models: BLIP (question answering, captioning, image–text matching) and CLIP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny import builder, wordpiece_vocab

HIDDEN = 32
IMAGE_SIZE = 32


def _blip(out: Path, model_class: str) -> dict[str, Any]:
    """A 2-layer BLIP of `model_class` with a BERT wordpiece tokenizer and a PIL image processor."""
    import transformers
    from transformers import BertTokenizer, BlipConfig, BlipImageProcessorPil, BlipProcessor

    vocab = wordpiece_vocab()
    vocab["[DEC]"] = len(vocab)  # BLIP's decoder start token, as in the real checkpoints
    tokenizer = BertTokenizer(vocab=vocab, bos_token="[DEC]")
    layers = {"num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}
    config = BlipConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": HIDDEN,
            "encoder_hidden_size": HIDDEN,
            "max_position_embeddings": 64,
            "bos_token_id": vocab["[DEC]"],
            "pad_token_id": vocab["[PAD]"],
            "sep_token_id": vocab["[SEP]"],
            "eos_token_id": vocab["[SEP]"],
            **layers,
        },
        vision_config={"hidden_size": HIDDEN, "image_size": IMAGE_SIZE, "patch_size": 8, **layers},
        projection_dim=HIDDEN,
        image_text_hidden_size=16,
    )
    getattr(transformers, model_class)(config).save_pretrained(out)
    image_processor = BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return {"model": str(out)}


@builder("vqa")
def build_vqa(out: Path) -> dict[str, Any]:
    return _blip(out, "BlipForQuestionAnswering")


@builder("captioning")
def build_captioning(out: Path) -> dict[str, Any]:
    return _blip(out, "BlipForConditionalGeneration")


@builder("matching")
def build_matching(out: Path) -> dict[str, Any]:
    return _blip(out, "BlipForImageTextRetrieval")


def _clip(out: Path) -> dict[str, Any]:
    """A 2-layer CLIP with a byte-level BPE tokenizer (characters only, no merges)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    alphabet = sorted(ByteLevel.alphabet())
    tokens = specials + alphabet + [f"{char}</w>" for char in alphabet]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    layers = {"hidden_size": HIDDEN, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "max_position_embeddings": 77,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
            **layers,
        },
        vision_config={"image_size": IMAGE_SIZE, "patch_size": 8, **layers},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(out)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return {"model": str(out)}


@builder("image_search")
def build_image_search(out: Path) -> dict[str, Any]:
    return _clip(out)


@builder("image_classification")
def build_image_classification(out: Path) -> dict[str, Any]:
    return _clip(out)
