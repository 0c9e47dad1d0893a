"""One case per public endpoint: the `gradio_client` call and the bare model call it is compared with.

The bare call is what someone would write with the library directly: the same loaded model object
(taken from the app's own manager, so same weights, threads and process) and the same input, already
decoded (a PIL image, a float waveform), with the same generation settings. Everything else the API
does — upload, decode, validate, pre/post-process, encode and download the outputs — is the app's cost.
Inputs that the app caches (image and corpus embeddings) change every round, so both sides do the work.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"

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
    """An endpoint measured against its bare model call."""

    api_name: str
    task: str
    api_args: Callable[[int], tuple[Any, ...]]  # client.predict arguments for round n
    bare: Callable[[Any, int], Any] | None  # the model call on the loaded model for round n (None: API only)
    bare_note: str  # what the bare call is, for the report
    model_at: int = -1  # where the `model` argument is in api_args

    def with_model(self, args: tuple[Any, ...], model: str) -> tuple[Any, ...]:
        """The same arguments asking for another model (a Hub id or an allowed local folder)."""
        changed = list(args)
        changed[self.model_at] = model
        return tuple(changed)


class Inputs:
    """Input files and their decoded forms; `image(name, n)` differs in one pixel per round n."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-inputs-"))
        self._images: dict[tuple[str, int], Path] = {}

    def image_path(self, name: str, n: int | None = None) -> str:
        if n is None:
            return str(ASSETS / name)
        key = (name, n)
        if key not in self._images:
            image = Image.open(ASSETS / name).convert("RGB")
            image.putpixel((0, 0), (n % 256, (n // 256) % 256, 123))  # new content hash, same picture
            path = self.folder / f"{Path(name).stem}-{n + 1000}.png"
            image.save(path)
            self._images[key] = path
        return str(self._images[key])

    def image(self, name: str, n: int | None = None) -> Image.Image:
        """The image as the app's model sees it (prepare_image's working copy; assets are under the pixel cap)."""
        from apps.core.images import prepare_image

        return prepare_image(self.image_path(name, n), 4_000_000).working

    def audio(self, name: str, rate: int) -> Any:
        from apps.core.audio import prepare_audio

        return prepare_audio(str(ASSETS / name), rate, 600).samples


def cases(inputs: Inputs) -> list[Case]:
    """Every public endpoint with a model of its own (not the composite /speech_translate)."""
    from gradio_client import handle_file

    from apps.tasks import asr, audio_classification, captioning, translation, vqa

    def file(path: str) -> Any:
        return handle_file(path)

    # -- language ---------------------------------------------------------------------------------
    def corpus(n: int) -> list[str]:
        return [*PASSAGES, f"Note {n}: the corpus changes every round, so its embeddings are computed again."]

    def bare_search(encoder: Any, n: int) -> Any:
        return encoder.encode(corpus(n), convert_to_numpy=True), encoder.encode(["pets"], convert_to_numpy=True)

    def bare_chat(chat_model: Any, n: int) -> Any:
        import torch

        ids = chat_prompt(chat_model)
        with torch.inference_mode():
            return chat_model.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), **chat_options(chat_model)
            )

    def translate_codes(pipe: Any) -> tuple[str, str, str, str]:
        names = list(pipe.sources)
        source = "English" if "English" in names else names[0]
        target = "French" if "French" in pipe.targets else next(t for t in pipe.targets if t != source)
        return source, target, pipe.sources[source], pipe.targets[target]

    def bare_translate(pipe: Any, n: int) -> Any:
        _, _, source, target = translate_codes(pipe)
        cap = min(translation.MAX_OUTPUT_TOKENS, pipe.output_limit)
        budget = min(cap, 2 * pipe.count_tokens(TRANSLATE_TEXT) + 10)
        return pipe(TRANSLATE_TEXT, src_lang=source, tgt_lang=target, max_new_tokens=budget)

    def bare_summarize(pipe: Any, n: int) -> Any:
        high = min(20, pipe.output_limit)
        return pipe(DOCUMENT, max_new_tokens=high, min_new_tokens=min(5, high))

    # -- audio ------------------------------------------------------------------------------------
    speech = inputs.audio("audio-speech-en.wav", asr.SAMPLE_RATE)
    chime = inputs.audio("audio-chime.flac", audio_classification.SAMPLE_RATE)

    def bare_transcribe(pipe: Any, n: int) -> Any:
        return pipe({"raw": speech, "sampling_rate": asr.SAMPLE_RATE})

    # -- vision and multimodal --------------------------------------------------------------------
    def bare_classify_image(clip: Any, n: int) -> Any:
        import torch

        prompts = [f"a photo of a {label}." for label in IMAGE_LABELS]
        encoded = clip.processor(
            text=prompts, images=inputs.image("mm-apple.png", n), return_tensors="pt", padding=True
        )
        with torch.inference_mode():
            return clip.model(**encoded).logits_per_image.softmax(dim=-1)

    def bare_segment(segmenter: Any, n: int) -> Any:
        import torch

        processor = segmenter.processor.image_processor
        image = inputs.image("vision-shapes.png", n)
        encoded = segmenter.processor(images=image, input_points=[[[110.0, 190.0]]], return_tensors="pt")
        with torch.inference_mode():
            output = segmenter.model(**encoded, multimask_output=True)
        return processor.post_process_masks(
            output.pred_masks, encoded["original_sizes"], encoded["reshaped_input_sizes"]
        )

    return [
        Case(
            "/similarity",
            "similarity",
            lambda n: (SENTENCES, ""),
            lambda encoder, n: encoder.encode(SENTENCES.splitlines(), convert_to_numpy=True),
            "`SentenceTransformer.encode(sentences)`",
        ),
        Case(
            "/search",
            "search",
            lambda n: ("pets", "\n".join(corpus(n)), None, 3, ""),
            bare_search,
            "`encode(passages)` + `encode([query])` (new corpus every round: no cache)",
        ),
        Case(
            "/chat",
            "chat",
            lambda n: (CHAT_MESSAGE, [], CHAT_SYSTEM, CHAT_TOKENS, 0, 0.9, 1.0, ""),
            bare_chat,
            f"`apply_chat_template` + greedy `generate(max_new_tokens={CHAT_TOKENS})`",
        ),
        Case(
            "/translate",
            "translation",
            lambda n: (TRANSLATE_TEXT, "English", "French", "Translation model", ""),
            bare_translate,
            "the translation `Pipeline` on the sentence (same languages and `max_new_tokens`)",
        ),
        Case(
            "/summarize",
            "summarization",
            lambda n: (DOCUMENT, 5, 20, ""),
            bare_summarize,
            "the summarization `Pipeline` (one chunk, `min/max_new_tokens` 5/20)",
        ),
        Case(
            "/transcribe",
            "asr",
            lambda n: (file(str(ASSETS / "audio-speech-en.wav")), "", "transcribe", False, ""),
            bare_transcribe,
            "ASR pipeline on the decoded 16 kHz waveform (6 s)",
        ),
        Case(
            "/speak",
            "tts",
            lambda n: ("Open models can speak.", ""),
            lambda pipe, n: pipe("Open models can speak."),
            "text-to-speech pipeline on the sentence",
        ),
        Case(
            "/classify_audio",
            "audio_classification",
            lambda n: (file(str(ASSETS / "audio-chime.flac")), ", ".join(AUDIO_LABELS), ""),
            lambda pipe, n: pipe(chime, candidate_labels=AUDIO_LABELS),
            "zero-shot audio pipeline on the decoded 48 kHz waveform",
        ),
        Case(
            "/classify_image",
            "image_classification",
            lambda n: (file(inputs.image_path("mm-apple.png", n)), ", ".join(IMAGE_LABELS), "", ""),
            bare_classify_image,
            "CLIP processor + `model(...)` on image and prompts (new image every round: no cache)",
        ),
        Case(
            "/caption",
            "captioning",
            lambda n: (file(inputs.image_path("mm-apple.png")), "", ""),
            lambda pipe, n: pipe(
                images=inputs.image("mm-apple.png"),
                text=captioning.DEFAULT_PREFIX,
                return_full_text=False,
                generate_kwargs=captioning.GENERATION,
            ),
            "image-text-to-text pipeline (same prompt and beam settings)",
        ),
        Case(
            "/answer",
            "vqa",
            lambda n: (file(inputs.image_path("mm-stop-sign.png")), "What does the sign say?", ""),
            lambda pipe, n: pipe(
                {"image": inputs.image("mm-stop-sign.png"), "question": "What does the sign say?"},
                max_new_tokens=vqa.MAX_ANSWER_TOKENS,
            ),
            "VQA pipeline on image + question",
        ),
        Case(
            "/match",
            "matching",
            lambda n: (file(inputs.image_path("mm-apple.png")), "\n".join(MATCH_TEXTS), ""),
            lambda pipe, n: pipe({"image": inputs.image("mm-apple.png"), "texts": MATCH_TEXTS}),
            "BLIP ITM pipeline on image + texts",
        ),
        Case(
            "/depth",
            "depth",
            lambda n: (file(inputs.image_path("vision-street.png")), ""),
            lambda pipe, n: pipe(inputs.image("vision-street.png"))["predicted_depth"],
            "depth-estimation pipeline's `predicted_depth`",
        ),
        Case(
            "/segment",
            "segmentation",
            lambda n: (file(inputs.image_path("vision-shapes.png", n)), [[110, 190, 1]], 0, ""),
            bare_segment,
            "SamProcessor + `SamModel(...)` + `post_process_masks` (new image every round: encoder runs)",
        ),
        Case(
            "/narrate",
            "narration",
            lambda n: (file(inputs.image_path("vision-cat.jpg")), 0.5, False, ""),
            lambda pipe, n: pipe(inputs.image("vision-cat.jpg"), threshold=0.5),
            "object-detection pipeline (not spoken)",
        ),
        # Only cycled through by the memory figure: the app caches the gallery's embeddings on purpose.
        Case("/image_search", "image_search", lambda n: ("a red apple", None, True, ""), None, ""),
    ]


TRANSLATE_TEXT = "The weather is lovely today."
CHAT_TOKENS = 32


def chat_prompt(chat_model: Any) -> Any:
    """The chat case's prompt as a (1, n) tensor of token ids, through the tokenizer's chat template."""
    messages = [{"role": "system", "content": CHAT_SYSTEM}, {"role": "user", "content": CHAT_MESSAGE}]
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
