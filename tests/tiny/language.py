"""Tiny language models: a chat model with a chat template, NLLB-like translation, BART-like summarization, search."""

from __future__ import annotations

import shutil
import string
from pathlib import Path
from typing import Any

from tiny import WORDS, builder

# ChatML, as SmolLM2 and Qwen2.5 use it; a system message is used only when one is given.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHAT_CONTEXT = 512  # small, so tests can overflow the context window with a few turns


def _char_vocab(specials: list[str]) -> dict[str, int]:
    """Specials, '▁', printable ASCII characters and '▁word' pieces: any ASCII text tokenizes (≈ 1 token a char)."""
    pieces = [*specials, "▁", *(c for c in string.printable if not c.isspace()), *(f"▁{word}" for word in WORDS)]
    return {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}


@builder("chat")
def build_chat(out: Path) -> dict[str, Any]:
    """A 2-layer Qwen2 with a ChatML template; its EOS is never the greedy choice, so greedy replies fill max tokens.

    Also writes `out/no-template`: the same model without a chat template (for the error test).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    pieces = [*specials, *bytes_to_unicode().values(), *(f"Ġ{word}" for word in WORDS)]
    vocab = {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}
    # Byte-level BPE like SmolLM2 and Qwen2.5 (no merges: about one token per character).
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=["<|im_start|>"],
        model_max_length=CHAT_CONTEXT,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = Qwen2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=CHAT_CONTEXT,
        tie_word_embeddings=False,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<|endoftext|>"],
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight[vocab["<|im_end|>"]].zero_()  # logit 0: never the max of ~150 random logits
    model.generation_config = GenerationConfig(eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|endoftext|>"])
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    plain = out / "no-template"
    model.save_pretrained(plain)
    tokenizer.chat_template = None
    tokenizer.save_pretrained(plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    return {"model": str(out)}


@builder("translation")
def build_translation(out: Path) -> dict[str, Any]:
    """A 1-layer M2M100 (NLLB's architecture) with an NLLB tokenizer holding all FLORES-200 language codes.

    `model_max_length` is 48 tokens so that a paragraph must be split into several chunks.
    """
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    tokenizer = NllbTokenizer(vocab=_char_vocab(["<s>", "<pad>", "</s>", "<unk>"]), merges=[], model_max_length=48)
    config = M2M100Config(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    M2M100ForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"model": str(out)}


@builder("summarization")
def build_summarization(out: Path) -> dict[str, Any]:
    """A 1-layer BART with a byte-level BPE tokenizer and only 64 positions, so long documents need map-reduce."""
    from transformers import BartConfig, BartForConditionalGeneration, RobertaTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    pieces = [*specials, *bytes_to_unicode().values(), *(f"Ġ{word}" for word in WORDS)]
    vocab = {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}
    tokenizer = RobertaTokenizer(vocab=vocab, merges=[], model_max_length=64)
    config = BartConfig(
        vocab_size=len(vocab),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["</s>"],
        forced_bos_token_id=vocab["<s>"],
    )
    BartForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"model": str(out)}


@builder("search")
def build_search(out: Path) -> dict[str, Any]:
    """The similarity tab's tiny sentence-transformer, built again in its own folder."""
    from tiny.text import build_similarity

    shutil.rmtree(out, ignore_errors=True)
    return build_similarity(out)
