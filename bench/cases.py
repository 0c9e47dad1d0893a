"""One case per public endpoint: its reference request (the registry's) and the bare model call it is compared with.

The bare call is what someone would write with the library directly: the same loaded model object
(taken from the app's own manager, so same weights, threads and process) and the same input, already
decoded (a PIL image, a float waveform), with the same generation settings. Everything else the API
does — upload, decode, validate, pre/post-process, encode and download the outputs — is the app's cost.
Inputs that the app caches (image and corpus embeddings) change every round, so both sides do the work.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from apps.core.spec import Asset, Request

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from reference_requests import client_args, request_for, sent_inputs, task_of  # noqa: E402  # tests/ on the path

SENTENCES = "A cat sits on the mat.\nA kitten is sitting on a rug.\nStock markets fell sharply today.\nShares dropped."
PASSAGES = [
    "A cat is sleeping on the sofa.",
    "The stock market closed higher today.",
    "Kittens love to play with balls of yarn.",
    "The recipe needs two cups of flour.",
    "Heavy rain is expected over the weekend.",
]
CHAT_SYSTEM = "You are a helpful assistant."
CHAT_MESSAGE = "What is the capital of France?"
DOCUMENT = "The council made the old railway a park."  # one chunk even for the tiny model (64 tokens)
IMAGE_LABELS = ["apple", "banana", "car", "house"]
AUDIO_LABELS = ["a chime", "rain", "a person speaking"]
MATCH_TEXTS = ["a red apple on a table", "a green car on a road"]


@dataclass
class Case:
    """An endpoint's reference request (the registry's) measured against its bare model call.

    Each round sends the reference request with `measure` (the inputs this figure is defined on: the bench's
    sentences, document, image…) and `vary(n)` (inputs that change every round, so that caches do not answer)
    in place of some of its values; the bare call gets the same inputs.
    """

    request: Request
    task: str
    bare: Callable[[Any, dict[str, Any]], Any] | None  # the model call on the loaded model, given round n's inputs
    bare_note: str  # what the bare call is, for the report
    measure: dict[str, Any] = field(default_factory=dict)
    vary: Callable[[int], dict[str, Any]] = field(default=lambda n: {})

    @property
    def api_name(self) -> str:
        return self.request.api_name

    def inputs(self, n: int, **overrides: Any) -> dict[str, Any]:
        """Round n's inputs by parameter name, files as local paths (what the bare call reads)."""
        return sent_inputs(self.request, **{**self.measure, **self.vary(n), **overrides})

    def api_args(self, n: int, **overrides: Any) -> tuple[Any, ...]:
        """`client.predict` arguments for round n (e.g. `model=` another model: a Hub id or an allowed folder)."""
        return client_args(self.request, **{**self.measure, **self.vary(n), **overrides})


class Inputs:
    """Input files and their decoded forms; `image(name, n)` differs in one pixel per round n."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-inputs-"))
        self._images: dict[tuple[str, int], Path] = {}
        self._audio: dict[tuple[str, int], Any] = {}

    def image_path(self, name: str, n: int) -> Path:
        """The asset `name` with pixel (0, 0) set from `n`: the same picture, a new content hash each round."""
        key = (name, n)
        if key not in self._images:
            image = Image.open(ASSETS / name).convert("RGB")
            image.putpixel((0, 0), (n % 256, (n // 256) % 256, 123))  # new content hash, same picture
            path = self.folder / f"{Path(name).stem}-{n + 1000}.png"
            image.save(path)
            self._images[key] = path
        return self._images[key]

    def image(self, path: str | Path) -> Image.Image:
        """The image as the app's model sees it (prepare_image's working copy; assets are under the pixel cap)."""
        from apps.core.images import prepare_image

        return prepare_image(str(path), 4_000_000).working

    def audio(self, path: str | Path, rate: int) -> Any:
        """The sound decoded at `rate`, once per file and rate (the bare call times the model, not the decoding)."""
        from apps.core.audio import prepare_audio

        key = (str(path), rate)
        if key not in self._audio:
            self._audio[key] = prepare_audio(str(path), rate, 600).samples
        return self._audio[key]


def cases(inputs: Inputs) -> list[Case]:
    """Every public endpoint with a model of its own (not the composite /speech_translate)."""
    from apps.tasks import asr, audio_classification, captioning, translation, vqa

    def case(api_name: str, bare: Callable[[Any, dict[str, Any]], Any] | None, note: str, **kwargs: Any) -> Case:
        return Case(request_for(api_name), task_of(api_name).key, bare, note, **kwargs)

    # -- language ---------------------------------------------------------------------------------
    def corpus(n: int) -> str:
        return "\n".join(
            [*PASSAGES, f"Note {n}: the corpus changes every round, so its embeddings are computed again."]
        )

    def bare_search(encoder: Any, sent: dict[str, Any]) -> Any:
        passages = lines(sent["corpus"])
        return encoder.encode(passages, convert_to_numpy=True), encoder.encode([sent["query"]], convert_to_numpy=True)

    def bare_chat(chat_model: Any, sent: dict[str, Any]) -> Any:
        import torch

        ids = chat_prompt(chat_model, sent["system_prompt"], sent["message"])
        with torch.inference_mode():
            return chat_model.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), **chat_options(chat_model, sent["max_new_tokens"])
            )

    def translate_codes(pipe: Any, sent: dict[str, Any]) -> tuple[str, str]:
        """The pipeline's codes of the languages asked for, or of two it has (the tiny kit's are few)."""
        names = list(pipe.sources)
        source = sent["source_language"] if sent["source_language"] in names else names[0]
        target = sent["target_language"]
        if target not in pipe.targets or target == source:
            target = next(t for t in pipe.targets if t != source)
        return pipe.sources[source], pipe.targets[target]

    def bare_translate(pipe: Any, sent: dict[str, Any]) -> Any:
        source, target = translate_codes(pipe, sent)
        cap = min(translation.MAX_OUTPUT_TOKENS, pipe.output_limit)
        budget = min(cap, 2 * pipe.count_tokens(sent["text"]) + 10)
        return pipe(sent["text"], src_lang=source, tgt_lang=target, max_new_tokens=budget)

    def bare_summarize(pipe: Any, sent: dict[str, Any]) -> Any:
        high = min(sent["max_tokens"], pipe.output_limit)
        return pipe(sent["text"], max_new_tokens=high, min_new_tokens=min(sent["min_tokens"], high))

    # -- audio ------------------------------------------------------------------------------------
    def bare_transcribe(pipe: Any, sent: dict[str, Any]) -> Any:
        return pipe({"raw": inputs.audio(sent["audio"], asr.SAMPLE_RATE), "sampling_rate": asr.SAMPLE_RATE})

    def bare_classify_audio(pipe: Any, sent: dict[str, Any]) -> Any:
        sound = inputs.audio(sent["audio"], audio_classification.SAMPLE_RATE)
        return pipe(sound, candidate_labels=labels(sent["labels"]))

    # -- vision and multimodal --------------------------------------------------------------------
    def bare_classify_image(clip: Any, sent: dict[str, Any]) -> Any:
        import torch

        prompts = [f"a photo of a {label}." for label in labels(sent["labels"])]
        encoded = clip.processor(text=prompts, images=inputs.image(sent["image"]), return_tensors="pt", padding=True)
        with torch.inference_mode():
            return clip.model(**encoded).logits_per_image.softmax(dim=-1)

    def bare_caption(pipe: Any, sent: dict[str, Any]) -> Any:
        return pipe(
            images=inputs.image(sent["image"]),
            text=sent["prefix"] or captioning.DEFAULT_PREFIX,
            return_full_text=False,
            generate_kwargs=captioning.GENERATION,
        )

    def bare_answer(pipe: Any, sent: dict[str, Any]) -> Any:
        question = {"image": inputs.image(sent["image"]), "question": sent["question"]}
        return pipe(question, max_new_tokens=vqa.MAX_ANSWER_TOKENS)

    def bare_segment(segmenter: Any, sent: dict[str, Any]) -> Any:
        import torch

        processor = segmenter.processor.image_processor
        points = [[[float(x), float(y)] for x, y, _label in sent["points"]]]
        encoded = segmenter.processor(images=inputs.image(sent["image"]), input_points=points, return_tensors="pt")
        with torch.inference_mode():
            output = segmenter.model(**encoded, multimask_output=True)
        return processor.post_process_masks(
            output.pred_masks, encoded["original_sizes"], encoded["reshaped_input_sizes"]
        )

    # The inputs each figure is defined on (BENCHMARKS.md), in place of the reference request's.
    return [
        case(
            "/similarity",
            lambda encoder, sent: encoder.encode(lines(sent["sentences"]), convert_to_numpy=True),
            "`SentenceTransformer.encode(sentences)`",
            measure={"sentences": SENTENCES},
        ),
        case(
            "/search",
            bare_search,
            "`encode(passages)` + `encode([query])` (new corpus every round: no cache)",
            measure={"query": "pets", "corpus_file": None, "top_k": 3},
            vary=lambda n: {"corpus": corpus(n)},
        ),
        case(
            "/chat",
            bare_chat,
            f"`apply_chat_template` + greedy `generate(max_new_tokens={CHAT_TOKENS})`",
            measure=chat_measure(),
        ),
        case(
            "/translate",
            bare_translate,
            "the translation `Pipeline` on the sentence (same languages and `max_new_tokens`)",
            measure={"text": TRANSLATE_TEXT, "engine": "Translation model"},
        ),
        case(
            "/summarize",
            bare_summarize,
            "the summarization `Pipeline` (one chunk, `min/max_new_tokens` 5/20)",
            measure={"text": DOCUMENT, "min_tokens": 5, "max_tokens": 20},
        ),
        case(
            "/transcribe",
            bare_transcribe,
            "ASR pipeline on the decoded 16 kHz waveform (6 s)",
            measure={"audio": Asset("audio-speech-en.wav"), "timestamps": False},
        ),
        case(
            "/speak",
            lambda pipe, sent: pipe(sent["text"]),
            "text-to-speech pipeline on the sentence",
            measure={"text": "Open models can speak."},
        ),
        case(
            "/classify_audio",
            bare_classify_audio,
            "zero-shot audio pipeline on the decoded 48 kHz waveform",
            measure={"audio": Asset("audio-chime.flac"), "labels": ", ".join(AUDIO_LABELS)},
        ),
        case(
            "/classify_image",
            bare_classify_image,
            "CLIP processor + `model(...)` on image and prompts (new image every round: no cache)",
            measure={"labels": ", ".join(IMAGE_LABELS), "template": ""},
            vary=lambda n: {"image": inputs.image_path("mm-apple.png", n)},
        ),
        case(
            "/caption",
            bare_caption,
            "image-text-to-text pipeline (same prompt and beam settings)",
            measure={"image": Asset("mm-apple.png"), "prefix": ""},
        ),
        case(
            "/answer",
            bare_answer,
            "VQA pipeline on image + question",
            measure={"image": Asset("mm-stop-sign.png"), "question": "What does the sign say?"},
        ),
        case(
            "/match",
            lambda pipe, sent: pipe({"image": inputs.image(sent["image"]), "texts": lines(sent["texts"])}),
            "BLIP ITM pipeline on image + texts",
            measure={"image": Asset("mm-apple.png"), "texts": "\n".join(MATCH_TEXTS)},
        ),
        case(
            "/depth",
            lambda pipe, sent: pipe(inputs.image(sent["image"]))["predicted_depth"],
            "depth-estimation pipeline's `predicted_depth`",
            measure={"image": Asset("vision-street.png")},
        ),
        case(
            "/segment",
            bare_segment,
            "SamProcessor + `SamModel(...)` + `post_process_masks` (new image every round: encoder runs)",
            measure={"points": [[110, 190, 1]], "mask_index": 0},
            vary=lambda n: {"image": inputs.image_path("vision-shapes.png", n)},
        ),
        case(
            "/narrate",
            lambda pipe, sent: pipe(inputs.image(sent["image"]), threshold=sent["threshold"]),
            "object-detection pipeline (not spoken)",
            measure={"image": Asset("vision-cat.jpg"), "threshold": 0.5, "speak": False},
        ),
        # Only cycled through by the memory figure: the app caches the gallery's embeddings on purpose.
        case(
            "/image_search",
            None,
            "",
            measure={"query": "a red apple", "images": None, "include_examples": True},
        ),
        # Training is measured per step against a bare peft loop by `python -m bench.finetune`; here the memory
        # figure only runs the reference request (2 steps), then asks for the status and stops nothing.
        case("/finetune", None, ""),
        case("/finetune_status", None, ""),
        case("/finetune_stop", None, ""),
    ]


def lines(text: str) -> list[str]:
    """Non-blank lines, stripped: the passages, sentences and texts the app reads from a text box."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def labels(text: str) -> list[str]:
    """Comma-separated labels, as the classification tabs read them."""
    return [label.strip() for label in text.split(",") if label.strip()]


TRANSLATE_TEXT = "The weather is lovely today."
CHAT_TOKENS = 32


def chat_measure(max_new_tokens: int = CHAT_TOKENS) -> dict[str, Any]:
    """The chat figures' inputs in place of the reference request's: a question, a system prompt, greedy."""
    return {
        "message": CHAT_MESSAGE,
        "history": [],
        "system_prompt": CHAT_SYSTEM,
        "max_new_tokens": max_new_tokens,
        "temperature": 0,
    }


def chat_args(max_new_tokens: int = CHAT_TOKENS) -> tuple[Any, ...]:
    """`client.predict` arguments of /chat for the chat figures: the reference request with `chat_measure`."""
    return client_args(request_for("/chat"), **chat_measure(max_new_tokens))


def chat_prompt(chat_model: Any, system_prompt: str = CHAT_SYSTEM, message: str = CHAT_MESSAGE) -> Any:
    """The chat case's prompt as a (1, n) tensor of token ids, through the tokenizer's chat template."""
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": message}]
    encoded = chat_model.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    return encoded["input_ids"].to(chat_model.model.device)


def chat_options(chat_model: Any, max_new_tokens: int = CHAT_TOKENS) -> dict[str, Any]:
    """Greedy generation settings, as the API's temperature 0 gives them."""
    tokenizer = chat_model.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "pad_token_id": pad,
    }
