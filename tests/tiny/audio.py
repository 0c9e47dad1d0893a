"""Tiny audio models: Whisper (speech recognition), VITS (text-to-speech), CLAP (zero-shot audio)."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from tiny import WORDS, builder

# Characters a tiny VITS voice knows: plain letters and the IPA symbols espeak-ng writes, so the same
# vocabulary serves a character voice (MMS style) and a phonemizing one (vits-ljs style).
IPA = "ɐɑɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'̩'ᵻ"


def byte_level_vocab(specials: tuple[str, ...] = ()) -> dict[str, int]:
    """`specials` first, then the GPT-2 byte-level alphabet (every text encodes) and a few whole words."""
    from tokenizers import pre_tokenizers

    tokens = [*specials, *sorted(pre_tokenizers.ByteLevel.alphabet()), *("Ġ" + word for word in WORDS)]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


@builder("asr")
def build_asr(out: Path) -> dict[str, Any]:
    """A 1-layer English-only Whisper: real 80-bin feature extractor, byte-level tokenizer, timestamps."""
    return whisper_checkpoint(out)


def whisper_checkpoint(out: Path, languages: tuple[str, ...] = ()) -> dict[str, Any]:
    """A tiny Whisper; English-only without `languages`, else multilingual (language picker, translate)."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    vocab = byte_level_vocab()
    vocab["<|endoftext|>"] = len(vocab)
    # Specials in Whisper's order; `<|notimestamps|>` must be the last special, timestamps follow it.
    language_tokens = [f"<|{code}|>" for code in languages or ("en",)]
    specials = ["<|startoftranscript|>", *language_tokens, "<|translate|>", "<|transcribe|>", "<|startofprev|>"]
    specials += ["<|nocaptions|>", "<|notimestamps|>"]
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[], add_prefix_space=False)
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.add_tokens([f"<|{seconds * 0.02:.2f}|>" for seconds in range(1501)])
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ["<|endoftext|>", *specials]}
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_source_positions=1500,  # 30 s of 10 ms frames, halved by the conv stride: fixed by the features
        max_target_positions=64,
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        begin_suppress_tokens=None,
    )
    model = WhisperForConditionalGeneration(config)
    with torch.no_grad():
        # Random weights mostly pick one of the 1,501 timestamps: a transcript without timestamps drops
        # them (so it would be empty), and with timestamps Whisper re-decodes from each one (dozens of
        # generate calls per window). Louder text tokens make the tiny model write text, one segment per
        # window; a silent <|endoftext|> keeps it from stopping before its few tokens.
        model.get_output_embeddings().weight[: ids["<|endoftext|>"]] *= 50
        model.get_output_embeddings().weight[ids["<|endoftext|>"]] = 0
    model.save_pretrained(out)
    multilingual = {
        "lang_to_id": {token: ids[token] for token in language_tokens},
        "task_to_id": {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
    }
    generation = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        no_timestamps_token_id=ids["<|notimestamps|>"],
        is_multilingual=bool(languages),
        forced_decoder_ids=None,
        suppress_tokens=None,
        begin_suppress_tokens=None,
        max_initial_timestamp_index=50,
        max_new_tokens=8,  # random weights never say <|endoftext|>: keep each window short
        **(multilingual if languages else {}),
    )
    generation.save_pretrained(out)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tokenizer).save_pretrained(out)
    return {"model": str(out)}


def write_vits_vocab(out: Path) -> Path:
    """vocab.json of a character voice: blank first (VITS intersperses it), letters, punctuation, IPA."""
    symbols = ["_", "<unk>", " ", *string.ascii_lowercase, *string.digits, *",.!?;:'\"-()", *IPA]
    vocab = {symbol: index for index, symbol in enumerate(dict.fromkeys(symbols))}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "vocab.json"
    path.write_text(json.dumps(vocab, ensure_ascii=False))
    return path


@builder("tts")
def build_tts(out: Path) -> dict[str, Any]:
    """A tiny VITS voice reading characters (MMS style, `phonemize=False`) at 16 kHz."""
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    tokenizer = VitsTokenizer(vocab_file=str(write_vits_vocab(out)), pad_token="_", phonemize=False)
    config = VitsConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=16,
        upsample_initial_channel=16,
        upsample_rates=[8, 8, 4],  # 256 samples per frame, as in the real voices
        upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        duration_predictor_filter_channels=16,
        duration_predictor_num_flows=1,
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        depth_separable_num_layers=1,
        sampling_rate=16_000,
    )
    VitsModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"model": str(out)}


@builder("audio_classification")
def build_audio_classification(out: Path) -> dict[str, Any]:
    """A tiny CLAP (HTSAT depths [1, 1, 1, 1], 2-layer RoBERTa) with the real 48 kHz feature extractor."""
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        ClapTextConfig,
        RobertaTokenizer,
    )

    vocab = byte_level_vocab(("<s>", "<pad>", "</s>", "<unk>", "<mask>"))  # RoBERTa's ids 0-4
    tokenizer = RobertaTokenizer(vocab=vocab, merges=[])
    text = ClapTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=80,
        projection_dim=16,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    audio = ClapAudioConfig(
        depths=[1, 1, 1, 1],
        num_attention_heads=[1, 1, 1, 1],
        patch_embeds_hidden_size=8,
        hidden_size=64,  # patch_embeds_hidden_size * 2**3 after the four stages
        projection_dim=16,
        num_mel_bins=64,
        spec_size=256,
        window_size=8,
    )
    ClapModel(ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)).save_pretrained(
        out
    )
    # The unfused model reads one 10 s crop ("rand_trunc"); "fusion" would feed it four channels.
    ClapProcessor(ClapFeatureExtractor(truncation="rand_trunc"), tokenizer).save_pretrained(out)
    return {"model": str(out)}
