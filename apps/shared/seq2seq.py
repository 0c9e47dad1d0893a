"""Translation and summarization pipelines for seq2seq models (transformers 5 has neither).

Each is a `transformers.Pipeline` subclass (preprocess → _forward → postprocess), so it behaves like
any pipeline: `pipe("text", src_lang="eng_Latn", tgt_lang="fra_Latn")` → `{"translation_text": ...}`.
This module imports torch and transformers: the tab modules import it only inside their loaders.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, Pipeline

from apps.core.errors import InputError
from apps.core.manager import LoadRequest
from apps.shared.languages import FLORES_NAMES, ISO_NAMES, marian_pair_from_name, name_for_iso

FALLBACK_INPUT_TOKENS = 512


class Seq2SeqPipeline(Pipeline):
    """Text in, generated text out, for one input that fits the model (callers split long text first)."""

    _pipeline_calls_generate = True
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True
    output_key = "generated_text"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tokenizer_lock = threading.Lock()  # tokenizer settings such as src_lang are shared state

    @property
    def input_limit(self) -> int:
        """Most tokens the encoder takes (specials included): the smaller of the tokenizer's and model's limits."""
        candidates = [getattr(self.tokenizer, "model_max_length", None)]
        candidates.append(getattr(self.model.config, "max_position_embeddings", None))
        limits = [int(value) for value in candidates if isinstance(value, int) and 0 < value < 1_000_000]
        return min(limits) if limits else FALLBACK_INPUT_TOKENS

    @property
    def output_limit(self) -> int:
        """Most tokens the decoder may generate: its position table, less the start and forced tokens."""
        config = self.model.config
        positions = getattr(config, "max_target_positions", None) or getattr(config, "max_position_embeddings", None)
        return max(1, int(positions) - 2) if isinstance(positions, int) and positions > 2 else FALLBACK_INPUT_TOKENS

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    @property
    def special_tokens(self) -> int:
        """How many special tokens the tokenizer adds around a text (language codes, BOS/EOS)."""
        return len(self.tokenizer("", add_special_tokens=True)["input_ids"])

    def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        preprocess = {key: kwargs.pop(key) for key in ("src_lang",) if key in kwargs}
        return preprocess, kwargs, {}

    def encode(self, text: str, **params: Any) -> dict[str, torch.Tensor]:
        return self.tokenizer(text, return_tensors="pt")

    def preprocess(self, inputs: str, **params: Any) -> dict[str, torch.Tensor]:
        if not isinstance(inputs, str):
            raise InputError("The pipeline takes text.")
        encoded = self.encode(inputs, **params)
        length = encoded["input_ids"].shape[1]
        if length > self.input_limit:
            raise InputError(
                f"This piece of text is {length} tokens; the model takes at most {self.input_limit}. "
                "Split it first (the tabs do this for you)."
            )
        return dict(encoded)

    def _forward(self, model_inputs: dict[str, torch.Tensor], **generate_kwargs: Any) -> dict[str, Any]:
        generate_kwargs = self._prepare_generate_kwargs(generate_kwargs)
        return {"output_ids": self.model.generate(**model_inputs, **generate_kwargs)}

    def postprocess(self, model_outputs: dict[str, Any]) -> dict[str, str]:
        text = self.tokenizer.decode(model_outputs["output_ids"][0], skip_special_tokens=True)
        return {self.output_key: text.strip()}


class SummarizationPipeline(Seq2SeqPipeline):
    """`pipe(text, max_new_tokens=…, min_new_tokens=…)` → `{"summary_text": ...}`."""

    output_key = "summary_text"

    def encode(self, text: str, **params: Any) -> Any:
        # T5-style models are told their task by a prefix in the config ("summarize: ").
        task_params = getattr(self.model.config, "task_specific_params", None) or {}
        prefix = (task_params.get("summarization") or {}).get("prefix") or getattr(self, "prefix", None) or ""
        return self.tokenizer(prefix + text, return_tensors="pt")


class TranslationPipeline(Seq2SeqPipeline):
    """`pipe(text, src_lang=code, tgt_lang=code)` → `{"translation_text": ...}` for NLLB, M2M100 and opus-mt."""

    output_key = "translation_text"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.family = translation_family(self.model.config, self.tokenizer)
        self.sources, self.targets = self._languages()

    def _languages(self) -> tuple[dict[str, str], dict[str, str]]:
        """{name: code} of the source and target languages this model's tokenizer really has."""
        vocab = self.tokenizer.get_vocab()
        if self.family == "nllb":
            table = {name: code for code, name in FLORES_NAMES.items() if code in vocab}
            return table, table
        if self.family == "m2m100":
            table = {name: code for code, name in ISO_NAMES.items() if f"__{code}__" in vocab}
            return table, table
        source, target = marian_pair(self.model.config.name_or_path, self.tokenizer)
        sources = {name_for_iso(source): source} if source else {}
        # Multi-target opus-mt models pick the target with a `>>code<<` token at the start of the input.
        tagged = {name_for_iso(m.group(1)): m.group(1) for t in vocab if (m := re.fullmatch(r">>(\w+)<<", t))}
        targets = tagged or ({name_for_iso(target): target} if target else {})
        return sources, targets

    def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        preprocess, forward, post = super()._sanitize_parameters(**kwargs)
        target = forward.pop("tgt_lang", None)
        if target is not None:
            preprocess["tgt_lang"] = target
            if self.family == "nllb":
                forward["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(target)
            elif self.family == "m2m100":
                forward["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(f"__{target}__")
        return preprocess, forward, post

    def encode(self, text: str, src_lang: str | None = None, tgt_lang: str | None = None, **params: Any) -> Any:
        if self.family == "marian" and tgt_lang and len(self.targets) > 1:
            text = f">>{tgt_lang}<< {text}"
        with self._tokenizer_lock:
            if src_lang and self.family in ("nllb", "m2m100"):
                self.tokenizer.src_lang = src_lang  # sets the language-code prefix the encoder expects
            return self.tokenizer(text, return_tensors="pt")


def translation_family(config: Any, tokenizer: Any) -> str:
    """ "nllb", "m2m100" or "marian": which language codes and which way of choosing the target."""
    if getattr(config, "model_type", "") == "marian":
        return "marian"
    name = type(tokenizer).__name__.lower()
    if "nllb" in name:
        return "nllb"
    if "m2m" in name:
        return "m2m100"
    vocab = tokenizer.get_vocab()
    if "eng_Latn" in vocab:
        return "nllb"
    if "__en__" in vocab:
        return "m2m100"
    return "marian"


def marian_pair(name: str, tokenizer: Any = None) -> tuple[str | None, str | None]:
    """(source, target) codes of an opus-mt model, from its tokenizer settings or its name (opus-mt-en-de)."""
    source = getattr(tokenizer, "source_lang", None)
    target = getattr(tokenizer, "target_lang", None)
    if source and target:
        return source, target
    return marian_pair_from_name(name)


def _load(request: LoadRequest, pipeline_class: type[Seq2SeqPipeline]) -> Seq2SeqPipeline:
    options: dict[str, Any] = {"trust_remote_code": request.trust_remote_code, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(str(request.path), **options)
    model = AutoModelForSeq2SeqLM.from_pretrained(str(request.path), dtype=request.dtype, **options)
    model.config.name_or_path = request.ref.name  # opus-mt pairs are read from the name
    return pipeline_class(model=model.eval(), tokenizer=tokenizer, device=torch.device(request.device))


def load_translation(request: LoadRequest) -> TranslationPipeline:
    """A TranslationPipeline for a local NLLB / M2M100 / opus-mt folder."""
    return _load(request, TranslationPipeline)  # type: ignore[return-value]


def load_summarization(request: LoadRequest) -> SummarizationPipeline:
    """A SummarizationPipeline for a local BART / Pegasus / T5-style folder."""
    return _load(request, SummarizationPipeline)  # type: ignore[return-value]
