"""Remote engines: a task's model served by an OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama, this app).

A model reference `openai+http(s)://HOST[:PORT]/v1#MODEL` makes the manager call one of these loaders instead
of downloading weights. Each returns an object with the interface its task already uses, so the task
functions and tabs run unchanged:

- chat: `RemoteChat`, a `ChatEngine` (`encode`, `count_tokens`, `stream`) streaming through the `openai` SDK;
- similarity and search: `RemoteEmbedder.encode(texts)` like a SentenceTransformer;
- asr: `RemoteTranscriber(inputs, generate_kwargs=..., return_timestamps=...)` like a Whisper pipeline;
- tts: `RemoteSpeaker(text)` like a text-to-speech pipeline.

Every failure of the server (down, timeout, an error status, an answer that is not what the API promises)
becomes a `ModelUnavailable` for that one request.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from apps.core.errors import InputError, ModelUnavailable
from apps.core.manager import LoadRequest
from apps.core.refs import ModelRef
from apps.core.settings import Settings

CHARS_PER_TOKEN = 4  # a remote tokenizer is out of reach: prompts are sized by this usual English ratio
REMOTE_CONTEXT = 32_768  # when the server does not say (vLLM's /v1/models gives `max_model_len`)
SPEECH_RATE = 24_000  # OpenAI's speech rate; what the server sends is resampled to it
ASR_RATE = 16_000


def client_for(ref: ModelRef, settings: Settings) -> Any:
    """An `openai.OpenAI` client for a remote ref's server, with the remote key and timeout, no retries."""
    import openai

    key = settings.remote_api_key.get_secret_value() if settings.remote_api_key is not None else ""
    return openai.OpenAI(
        base_url=ref.remote_url, api_key=key or "none", timeout=settings.remote_timeout_seconds, max_retries=0
    )


def remote_failure(ref: ModelRef, exc: BaseException) -> ModelUnavailable | InputError:
    """The error a visitor sees when the remote server fails: which server, what happened, what to do."""
    import openai

    where = f"The remote server {ref.remote_url} (model `{ref.remote_model}`)"
    if isinstance(exc, openai.APITimeoutError):
        return ModelUnavailable(f"{where} did not answer in time. Try again, or check that the server is running.")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailable(f"{where} cannot be reached: is it running? Try again once it is.")
    if isinstance(exc, openai.APIStatusError):
        message = _error_message(exc)
        if exc.status_code == 400:  # the server's own words about the request
            return InputError(f"{where} refused the request: {message}")
        return ModelUnavailable(f"{where} answered HTTP {exc.status_code}: {message}")
    return ModelUnavailable(f"{where} sent an answer this app cannot read ({type(exc).__name__}).")


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        detail = body.get("message") or (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        if detail:
            return str(detail)[:300]
    return str(getattr(exc, "message", "") or exc)[:300]


def calling(ref: ModelRef, call: Callable[[], Any]) -> Any:
    """`call()`, its failures turned into `remote_failure`."""
    try:
        return call()
    except (ModelUnavailable, InputError):
        raise
    except Exception as exc:
        raise remote_failure(ref, exc) from exc


def reachable(ref: ModelRef, settings: Settings, timeout: float = 3.0) -> bool:
    """Whether the remote server answers `GET /models` now (the System tab's state)."""
    try:
        client_for(ref, settings).with_options(timeout=timeout).models.list()
    except Exception:
        return False
    return True


# -- chat -------------------------------------------------------------------------------------------


class RemotePrompt(list):
    """The 'token ids' a remote chat engine hands itself: as many as the prompt's estimated tokens, with the
    messages they stand for (the server applies its own chat template)."""

    messages: list[dict[str, str]]


@dataclass
class RemoteChat:
    """A `ChatEngine` whose model runs on an OpenAI-compatible server; replies stream through the SDK."""

    ref: ModelRef
    client: Any
    context_length: int = REMOTE_CONTEXT
    name: str = ""
    engine: str = field(default="remote")

    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        text = "".join(message["content"] for message in messages)
        prompt = RemotePrompt([0] * (len(text) // CHARS_PER_TOKEN + 4 * len(messages)))
        prompt.messages = messages
        return prompt

    def count_tokens(self, text: str) -> int:
        return len(text) // CHARS_PER_TOKEN

    def stream(self, input_ids: list[int], settings: Any, stats: Any) -> Iterator[str]:
        messages = getattr(input_ids, "messages", None)
        if messages is None:
            raise InputError("A remote chat model takes the prompt its own `encode` made.")
        options: dict[str, Any] = {
            "model": self.ref.remote_model,
            "messages": messages,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if settings.stop:
            options["stop"] = list(settings.stop)
        if settings.seed is not None:
            options["seed"] = settings.seed
        stats.prompt_tokens, stats.completion_tokens, stats.finish_reason = len(input_ids), 0, ""
        started = time.monotonic()
        chunks = calling(self.ref, lambda: self.client.chat.completions.create(**options))
        try:
            while True:
                chunk = calling(self.ref, lambda: next(chunks, None))
                if chunk is None:
                    break
                if getattr(chunk, "usage", None) is not None:
                    stats.prompt_tokens = int(chunk.usage.prompt_tokens)
                    stats.completion_tokens = int(chunk.usage.completion_tokens)
                for choice in chunk.choices or ():
                    piece = getattr(choice.delta, "content", None) or ""
                    if choice.finish_reason:
                        stats.finish_reason = "length" if choice.finish_reason == "length" else "stop"
                    if piece:
                        if stats.first_token_seconds is None:
                            stats.first_token_seconds = time.monotonic() - started
                        if getattr(chunk, "usage", None) is None:
                            stats.completion_tokens += 1  # until the server's own count arrives
                        yield piece
            stats.finish_reason = stats.finish_reason or "stop"
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # closes the HTTP stream: the server stops generating


def load_remote_chat(request: LoadRequest, settings: Settings) -> RemoteChat:
    client = client_for(request.ref, settings)
    return RemoteChat(request.ref, client, REMOTE_CONTEXT, request.ref.remote_model)


# -- embeddings -------------------------------------------------------------------------------------


@dataclass
class RemoteEmbedder:
    """Embeddings from `/v1/embeddings`, called like `SentenceTransformer.encode`."""

    ref: ModelRef
    client: Any
    batch_size: int = 256

    def encode(self, sentences: list[str] | str, convert_to_numpy: bool = True, **_: Any) -> np.ndarray:
        texts = [sentences] if isinstance(sentences, str) else list(sentences)
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            answer = calling(
                self.ref, lambda batch=batch: self.client.embeddings.create(model=self.ref.remote_model, input=batch)
            )
            data = sorted(answer.data, key=lambda row: row.index)
            if len(data) != len(batch):
                raise ModelUnavailable(
                    f"The remote server {self.ref.remote_url} sent {len(data)} embeddings for {len(batch)} texts."
                )
            rows += [list(row.embedding) for row in data]
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors[0] if isinstance(sentences, str) else vectors


def load_remote_embedder(request: LoadRequest, settings: Settings) -> RemoteEmbedder:
    return RemoteEmbedder(request.ref, client_for(request.ref, settings))


# -- speech recognition ----------------------------------------------------------------------------


@dataclass
class RemoteTranscriber:
    """`/v1/audio/transcriptions` (and translations), called like a multilingual Whisper pipeline."""

    ref: ModelRef
    client: Any
    type: str = "seq2seq_whisper"
    feature_extractor: Any = field(default_factory=lambda: SimpleNamespace(sampling_rate=ASR_RATE))
    model: Any = field(default_factory=lambda: SimpleNamespace(generation_config=SimpleNamespace(is_multilingual=True)))

    def __call__(
        self, inputs: dict[str, Any], generate_kwargs: dict[str, Any] | None = None, return_timestamps: bool = False
    ) -> dict[str, Any]:
        import soundfile

        options = dict(generate_kwargs or {})
        buffer = io.BytesIO()
        soundfile.write(buffer, np.asarray(inputs["raw"], dtype=np.float32), int(inputs["sampling_rate"]), format="WAV")
        upload = ("audio.wav", buffer.getvalue(), "audio/wav")
        form = "verbose_json" if return_timestamps else "json"
        if options.get("task") == "translate":
            call = lambda: self.client.audio.translations.create(  # noqa: E731
                model=self.ref.remote_model, file=upload, response_format=form
            )
        else:
            language = {"language": options["language"]} if options.get("language") else {}
            call = lambda: self.client.audio.transcriptions.create(  # noqa: E731
                model=self.ref.remote_model, file=upload, response_format=form, **language
            )
        answer = calling(self.ref, call)
        chunks = [
            {"text": segment.text, "timestamp": (float(segment.start), float(segment.end))}
            for segment in (getattr(answer, "segments", None) or ())
        ]
        return {"text": str(answer.text), "chunks": chunks}


def load_remote_transcriber(request: LoadRequest, settings: Settings) -> RemoteTranscriber:
    return RemoteTranscriber(request.ref, client_for(request.ref, settings))


# -- text to speech ----------------------------------------------------------------------------------


@dataclass
class RemoteSpeaker:
    """`/v1/audio/speech` (WAV), called like a text-to-speech pipeline; speech comes back at SPEECH_RATE."""

    ref: ModelRef
    client: Any
    voice: str = "alloy"
    sampling_rate: int = SPEECH_RATE

    def __call__(self, text: str) -> dict[str, Any]:
        import soundfile

        from apps.core.audio import resample, to_mono

        answer = calling(
            self.ref,
            lambda: self.client.audio.speech.create(
                model=self.ref.remote_model, voice=self.voice, input=text, response_format="wav"
            ),
        )
        try:
            samples, rate = soundfile.read(io.BytesIO(answer.content), dtype="float32", always_2d=True)
        except Exception as exc:
            raise remote_failure(self.ref, exc) from exc
        return {"audio": resample(to_mono(samples), int(rate), self.sampling_rate), "sampling_rate": self.sampling_rate}


def load_remote_speaker(request: LoadRequest, settings: Settings) -> RemoteSpeaker:
    return RemoteSpeaker(request.ref, client_for(request.ref, settings))


REMOTE_LOADERS = {
    "chat": load_remote_chat,
    "similarity": load_remote_embedder,
    "search": load_remote_embedder,
    "asr": load_remote_transcriber,
    "tts": load_remote_speaker,
}


def remote_loaders(settings: Settings) -> dict[str, Callable[[LoadRequest], Any]]:
    """Task → loader of a remote model, with the settings' key and timeout (for the model manager)."""
    return {task: (lambda request, load=load: load(request, settings)) for task, load in REMOTE_LOADERS.items()}
