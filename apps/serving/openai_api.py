"""The OpenAI-compatible API under `/v1`, served beside the Gradio app on the same port.

Every route calls the task layer (the chat task's streaming function, `ctx.run_task` for the others) with
the same model manager, input limits and memory budget as the tabs. Model work runs in worker threads,
at most as many at once per task as the task's tab runs (one, or the similarity tab's batch size).

Errors are OpenAI's JSON (`{"error": {"message", "type", "param", "code"}}`): 400 bad input, 401 bad key,
404 unknown model, 413 too large, 503 memory budget or model unavailable.

Entry points a request counter (/metrics) can wrap: `list_models`, `chat_completions`, `embeddings`,
`transcriptions`, `translations`, `speech` (the route handlers, named as the routes' `name=`), or
`run_model_work` (every model call of every route goes through it, with its task key).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import numpy as np
from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from apps.core.auth import authorized
from apps.core.errors import InputError, MemoryBudgetError, ModelUnavailable
from apps.core.hub import NotCached
from apps.core.manager import ModelManager
from apps.core.settings import Settings
from apps.core.spec import TaskContext, TaskSpec
from apps.monitoring import metrics, tracing
from apps.shared.batching import MAX_BATCH
from apps.shared.chat_engine import message_text
from apps.shared.structured import from_response_format
from apps.shared.voices import VOICES
from apps.tasks.chat import DEFAULT_MAX_NEW_TOKENS, ChatUpdate, stream_chat
from apps.tasks.similarity import embed

log = logging.getLogger(__name__)

# The task behind each endpoint, in the order /v1/models lists them.
ENDPOINT_TASKS = {
    "chat": "/v1/chat/completions",
    "similarity": "/v1/embeddings",
    "asr": "/v1/audio/transcriptions",
    "tts": "/v1/audio/speech",
}
# How many requests of a task run at once: as many as its tab's event runs (gradio's queue limit).
CONCURRENCY = {"similarity": MAX_BATCH}
TRANSCRIPT_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
SPEECH_FORMATS = {"wav": ("WAV", "audio/wav"), "flac": ("FLAC", "audio/flac")}
JSON_SLACK_BYTES = 64 * 1024  # JSON quoting and the other fields around the longest text a request may carry


class APIError(Exception):
    """An error answered in OpenAI's shape with an HTTP status."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str, param: str | None = None) -> APIError:
    return APIError(400, message, "invalid_request_error", "invalid_value", param)


def api_error(exc: BaseException, *, other_model: bool = False) -> APIError:
    """The OpenAI error for an exception from the task layer. `other_model`: the request named a model that is
    not the task's configured one (a missing model is then the request's fault: 404, not 503)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, InputError):
        return bad_request(str(exc))
    if isinstance(exc, MemoryBudgetError):
        return APIError(503, str(exc), "server_error", "insufficient_memory")
    missing = isinstance(exc, NotCached) or "was not found" in str(exc)
    if isinstance(exc, ModelUnavailable):
        if other_model and missing:
            return APIError(404, str(exc), "invalid_request_error", "model_not_found", "model")
        return APIError(503, str(exc), "server_error", "model_unavailable")
    log.exception("/v1 request failed", exc_info=exc)
    return APIError(500, f"The server failed to answer ({type(exc).__name__}); see its log.", "server_error")


@dataclass
class Serving:
    """What the routes run with: the registry's specs, the settings and the tabs' model manager."""

    specs: Mapping[str, TaskSpec]
    settings: Settings
    manager: ModelManager
    limiters: dict[str, anyio.Semaphore] | None = None

    def context(self, task: str) -> TaskContext:
        return TaskContext(self.specs[task], self.settings, self.manager, self.specs)

    def limiter(self, task: str) -> anyio.Semaphore:
        # Made on first use, inside the event loop. A semaphore, not a CapacityLimiter: a stream takes it in
        # the route and gives it back from the response's own task.
        if self.limiters is None:
            self.limiters = {}
        if task not in self.limiters:
            self.limiters[task] = anyio.Semaphore(CONCURRENCY.get(task, 1))
        return self.limiters[task]

    def model_id(self, task: str) -> str:
        return str(self.manager.selection.get(task))

    def check_model(self, task: str, model: str | None) -> tuple[str, bool]:
        """(model text for the task function, whether it is another model than the configured one); 404 for
        a model this app does not run."""
        text = (model or "").strip()
        ctx = self.context(task)
        try:
            ref = ctx.resolve_model(text)
        except InputError as exc:
            raise APIError(404, str(exc), "invalid_request_error", "model_not_found", "model") from None
        return text, ref != ctx.configured_model()

    async def run_model_work(self, task: str, work: Callable[[], Any], *, other_model: bool = False) -> Any:
        """Run blocking model work in a worker thread, within the task's concurrency limit."""
        try:
            async with self.limiter(task):
                return await anyio.to_thread.run_sync(work)
        except Exception as exc:
            raise api_error(exc, other_model=other_model) from exc


# -- request bodies ---------------------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: Any = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    response_format: dict[str, Any] | None = None  # {"type": "text" | "json_object" | "json_schema", ...}


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: str
    voice: str | None = None
    response_format: str = "wav"
    speed: float | None = None


async def read_body(request: Request, model: type[BaseModel], settings: Settings) -> Any:
    """The JSON body as `model`; 413 when it is larger than any text the tabs take, 400 when it is not valid."""
    limit = max(settings.max_text_chars * 4 * 4, 0) + JSON_SLACK_BYTES  # a conversation: 4 × the text limit
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"The request body is larger than {limit:,} bytes.", "invalid_request_error", "too_large")
    raw = await request.body()
    if len(raw) > limit:
        raise APIError(413, f"The request body is larger than {limit:,} bytes.", "invalid_request_error", "too_large")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise bad_request(f"Invalid request body: `{where}`: {first.get('msg')}.", where or None) from None


# -- chat -------------------------------------------------------------------------------------------


@dataclass
class Conversation:
    """An OpenAI message list as the chat task takes it: system prompt, earlier turns, the new message."""

    system_prompt: str
    history: list[dict[str, str]]
    message: str


def conversation(messages: list[ChatMessage]) -> Conversation:
    """Split `messages` for the chat task; 400 unless the last one is the user's."""
    if not messages:
        raise bad_request("`messages` must hold at least one message.", "messages")
    system: list[str] = []
    history: list[dict[str, str]] = []
    for number, item in enumerate(messages):
        text = message_text(item.content)
        if item.role in ("system", "developer"):
            system.append(text)
        elif item.role in ("user", "assistant"):
            history.append({"role": item.role, "content": text})
        else:
            raise bad_request(
                f"messages[{number}] has role {item.role!r}: this server takes system, developer, user and "
                "assistant messages.",
                f"messages[{number}].role",
            )
    if not history or history[-1]["role"] != "user":
        raise bad_request("The last message must be the user's.", "messages")
    return Conversation("\n\n".join(part for part in system if part.strip()), history[:-1], history[-1]["content"])


def usage(stats: Any) -> dict[str, int]:
    prompt, completion = int(stats.prompt_tokens), int(stats.completion_tokens)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_updates(serving: Serving, body: ChatCompletionRequest, model: str) -> Iterator[ChatUpdate]:
    """The chat task's stream for this request (the same function the Chat tab streams)."""
    if body.n not in (None, 1):
        raise bad_request("This server answers with one choice (`n` = 1).", "n")
    talk = conversation(body.messages)
    max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_NEW_TOKENS
    return stream_chat(
        serving.context("chat"),
        talk.message,
        talk.history,
        talk.system_prompt,
        max_tokens,
        1.0 if body.temperature is None else body.temperature,  # OpenAI's defaults
        1.0 if body.top_p is None else body.top_p,
        1.0,
        model,
        stop=body.stop,
        seed=body.seed,
        json_schema=from_response_format(body.response_format),
    )


def sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


async def chat_stream(
    serving: Serving, updates: Iterator[ChatUpdate], first: ChatUpdate | None, body: ChatCompletionRequest, name: str
) -> AsyncIterator[str]:
    """SSE chunks in OpenAI's format, from the first update (already produced) to the last, then `[DONE]`.

    Runs while holding the chat task's limiter (taken by the route); closing the task's generator when the
    client goes away stops generation.
    """
    limiter = serving.limiter("chat")
    chunk_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [choice],
        }

    try:
        yield sse(chunk({"role": "assistant", "content": ""}))
        sent, update = "", first
        while update is not None:
            if len(update.reply) > len(sent):
                yield sse(chunk({"content": update.reply[len(sent) :]}))
                sent = update.reply
            if update.done:
                yield sse(chunk({}, update.stats.finish_reason or "stop"))
                if body.stream_options is not None and body.stream_options.include_usage:
                    yield sse(
                        {
                            "id": chunk_id,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": name,
                            "choices": [],
                            "usage": usage(update.stats),
                        }
                    )
                break
            update = await anyio.to_thread.run_sync(next, updates, None)
        yield sse("[DONE]")
    except Exception as exc:  # after the headers: the error goes in the stream, as OpenAI sends it
        yield sse(api_error(exc).body())
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(updates.close)
            limiter.release()


# -- transcripts ------------------------------------------------------------------------------------


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def transcript_segments(transcript: Any) -> list[dict[str, Any]]:
    """The transcript's timed segments (one for the whole audio when the model gave no timestamps)."""
    segments = [(s.start, s.end, s.text) for s in transcript.segments]
    if not segments and transcript.text:
        segments = [(0.0, float(transcript.duration), transcript.text)]
    return [
        {"id": n, "start": float(start), "end": float(end), "text": text}
        for n, (start, end, text) in enumerate(segments)
    ]


def transcript_response(transcript: Any, response_format: str) -> Response:
    """The transcript in the asked-for format: json, text, srt, vtt or verbose_json."""
    segments = transcript_segments(transcript)
    if response_format == "text":
        return PlainTextResponse(transcript.text)
    if response_format == "srt":
        blocks = [
            f"{n + 1}\n{_timestamp(s['start'], ',')} --> {_timestamp(s['end'], ',')}\n{s['text']}\n"
            for n, s in enumerate(segments)
        ]
        return PlainTextResponse("\n".join(blocks))
    if response_format == "vtt":
        cues = [f"{_timestamp(s['start'], '.')} --> {_timestamp(s['end'], '.')}\n{s['text']}\n" for s in segments]
        return PlainTextResponse("WEBVTT\n\n" + "\n".join(cues), media_type="text/vtt")
    if response_format == "verbose_json":
        return JSONResponse(
            {
                "task": transcript.task,
                "language": transcript.language or "",
                "duration": float(transcript.duration),
                "text": transcript.text,
                "segments": segments,
            }
        )
    return JSONResponse({"text": transcript.text})


async def read_upload(file: UploadFile, settings: Settings) -> bytes:
    """The uploaded file's bytes; 413 above the upload limit the tabs have."""
    limit = settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise APIError(
            413,
            f"The file is larger than the {settings.max_upload_mb:g} MB upload limit.",
            "invalid_request_error",
            "too_large",
            "file",
        )
    if not data:
        raise bad_request("The uploaded file is empty.", "file")
    return data


# -- the routes -------------------------------------------------------------------------------------


def build_router(serving: Serving) -> APIRouter:
    """The /v1 routes, guarded by the API key when one is set."""

    def check_key(request: Request) -> None:
        if not authorized(serving.settings, request.headers.get("authorization")):
            raise APIError(
                401,
                "Invalid or missing API key: send `Authorization: Bearer <key>`.",
                "invalid_request_error",
                "invalid_api_key",
            )

    router = APIRouter(prefix="/v1", dependencies=[Depends(check_key)])

    @router.get("/models", name="list_models")
    async def list_models() -> dict[str, Any]:
        rows = [
            {
                "id": serving.model_id(task),
                "object": "model",
                "created": 0,
                "owned_by": "open-model-showcase",
                "task": task,
                "endpoint": endpoint,
            }
            for task, endpoint in ENDPOINT_TASKS.items()
            if task in serving.specs
        ]
        return {"object": "list", "data": rows}

    @router.post("/chat/completions", name="chat_completions")
    async def chat_completions(request: Request) -> Response:
        body = await read_body(request, ChatCompletionRequest, serving.settings)
        model, other = serving.check_model("chat", body.model)
        name = body.model or serving.model_id("chat")
        try:
            updates = chat_updates(serving, body, model)  # reads the response format: a bad schema is a 400
        except InputError as exc:
            raise api_error(exc) from exc
        if body.stream:
            # The first update is produced before answering, so that bad input, an unknown model or a full
            # memory budget still get their HTTP status; the stream then holds the limiter until it ends.
            limiter = serving.limiter("chat")
            await limiter.acquire()
            try:
                first = await anyio.to_thread.run_sync(next, updates, None)
            except BaseException as exc:
                limiter.release()
                raise api_error(exc, other_model=other) from exc
            return StreamingResponse(
                chat_stream(serving, updates, first, body, name),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )

        def whole() -> ChatUpdate:
            last = ChatUpdate("", "")
            for last in updates:  # noqa: B007  # the last update is the finished reply
                pass
            return last

        last = await serving.run_model_work("chat", whole, other_model=other)
        message = {"role": "assistant", "content": last.reply, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": last.stats.finish_reason or "stop"}
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": name,
                "choices": [choice],
                "usage": usage(last.stats),
            }
        )

    @router.post("/embeddings", name="embeddings")
    async def embeddings(request: Request) -> Response:
        body = await read_body(request, EmbeddingsRequest, serving.settings)
        model, other = serving.check_model("similarity", body.model)
        texts = [body.input] if isinstance(body.input, str) else body.input
        ctx = serving.context("similarity")
        result = await serving.run_model_work("similarity", lambda: embed(ctx, texts, model), other_model=other)
        if body.dimensions is not None and body.dimensions != result.vectors.shape[1]:
            raise bad_request(f"This model's embeddings have {result.vectors.shape[1]} dimensions.", "dimensions")
        rows = []
        for index, vector in enumerate(result.vectors):
            value: Any = (
                base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else [float(x) for x in vector]
            )
            rows.append({"object": "embedding", "index": index, "embedding": value})
        return JSONResponse(
            {
                "object": "list",
                "data": rows,
                "model": body.model or serving.model_id("similarity"),
                "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
            }
        )

    async def transcript(
        file: UploadFile, model: str, language: str | None, response_format: str, task: str
    ) -> Response:
        if response_format not in TRANSCRIPT_FORMATS:
            raise bad_request(f"response_format must be one of {', '.join(TRANSCRIPT_FORMATS)}.", "response_format")
        data = await read_upload(file, serving.settings)
        text, other = serving.check_model("asr", model)
        timestamps = response_format in ("srt", "vtt", "verbose_json")
        ctx = serving.context("asr")
        result = await serving.run_model_work(
            "asr",
            lambda: ctx.run_task("asr", data, language or None, task, timestamps, text),
            other_model=other,
        )
        return transcript_response(result, response_format)

    @router.post("/audio/transcriptions", name="transcriptions")
    async def transcriptions(
        file: UploadFile = File(...),  # noqa: B008
        model: str = Form(""),
        language: str | None = Form(None),
        response_format: str = Form("json"),
    ) -> Response:
        return await transcript(file, model, language, response_format, "transcribe")

    @router.post("/audio/translations", name="translations")
    async def translations(
        file: UploadFile = File(...),  # noqa: B008
        model: str = Form(""),
        response_format: str = Form("json"),
    ) -> Response:
        return await transcript(file, model, None, response_format, "translate")

    @router.post("/audio/speech", name="speech")
    async def speech(request: Request) -> Response:
        body = await read_body(request, SpeechRequest, serving.settings)
        if body.response_format not in SPEECH_FORMATS:
            raise bad_request(f"response_format must be one of {', '.join(SPEECH_FORMATS)}.", "response_format")
        if body.speed not in (None, 1.0):
            raise bad_request("This server speaks at speed 1.0 only.", "speed")
        voice = voice_model(body.voice)
        model, other = serving.check_model("tts", voice or body.model)
        ctx = serving.context("tts")
        spoken = await serving.run_model_work("tts", lambda: ctx.run_task("tts", body.input, model), other_model=other)
        import soundfile

        buffer = io.BytesIO()
        kind, media_type = SPEECH_FORMATS[body.response_format]
        soundfile.write(buffer, spoken.samples, spoken.rate, format=kind)
        return Response(buffer.getvalue(), media_type=media_type)

    return router


def voice_model(voice: str | None) -> str | None:
    """The voice model a `voice` names (a language such as `French`, or a voice's Hub id); None for any other
    voice name (OpenAI's `alloy` and the like), which means the configured voice."""
    text = (voice or "").strip()
    for language, card in VOICES.items():
        if text.lower() in (language.lower(), card.id.lower()):
            return card.id
    return None


def routes(specs: Mapping[str, TaskSpec]) -> Callable[[FastAPI, Any, Settings], None]:
    """The route adder for app.py's ROUTES: /v1 on the app's port, with the demo's model manager."""

    def add_openai_routes(app: FastAPI, demo: Any, settings: Settings) -> None:
        manager = getattr(demo, "manager", None)
        if manager is None:  # a Blocks that runs no task (a test page with the app's CSS): nothing to serve
            return
        serving = Serving(specs, settings, manager)
        app.include_router(build_router(serving))

        async def openai_error(request: Request, exc: Exception) -> Response:
            return exc.response() if isinstance(exc, APIError) else api_error(exc).response()

        async def invalid_request(request: Request, exc: Exception) -> Response:
            if not request.url.path.startswith("/v1/"):
                return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]
            errors = getattr(exc, "errors", lambda: [])()
            first = errors[0] if errors else {}
            where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
            return bad_request(f"Invalid request: `{where}`: {first.get('msg', 'invalid')}.", where or None).response()

        app.add_exception_handler(APIError, openai_error)
        app.add_exception_handler(RequestValidationError, invalid_request)
        if settings.metrics or tracing.requested():
            app.add_middleware(V1Observer, count=settings.metrics, trace=tracing.requested())

    return add_openai_routes


# The /v1 routes as metric labels (any other path under /v1 counts as `/v1/other`: labels stay bounded).
V1_ROUTES = frozenset(
    f"/v1/{name}"
    for name in (
        "models",
        "chat/completions",
        "embeddings",
        "audio/transcriptions",
        "audio/translations",
        "audio/speech",
    )
)


def outcome_of_status(status: int) -> str:
    """The metrics outcome of an OpenAI-style answer: its status code says whose fault a failure was."""
    if status < 400:
        return "ok"
    if status in (401, 429, 503):
        return "rejected"
    return "user_error" if status < 500 else "model_error"


class V1Observer:
    """ASGI middleware: count and time every /v1 request like a Gradio endpoint
    (`showcase_requests_total{endpoint="/v1/…"}`, when `count`) and give it a span (`POST /v1/chat/completions`,
    when `trace`), current while it runs so that a chat's own spans are its children.

    Both end when the answer starts: a streamed chat's own speed is in the chat metrics. Plain ASGI rather than
    Starlette's `BaseHTTPMiddleware`, which would put every request of the app (Gradio's queue and its event
    stream included) through its own task and body streams: any other path goes straight to the app.
    """

    def __init__(self, app: Any, count: bool = True, trace: bool = False) -> None:
        self.app = app
        self.count = count
        self.trace = trace

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "").rstrip("/") if scope["type"] == "http" else ""
        if not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        route = path if path in V1_ROUTES else "/v1/other"
        method = scope.get("method", "GET")
        tracked = metrics.track(route) if self.count else None
        call = tracked.__enter__() if tracked is not None else None
        span = (
            tracing.start(f"{method} {route}", {"http.request.method": method, "http.route": route})
            if self.trace
            else None
        )
        started = False

        async def answer_starts(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                status = int(message["status"])
                if call is not None:
                    call.outcome = outcome_of_status(status)
                    tracked.__exit__(None, None, None)
                tracing.set_attributes(span, {"http.response.status_code": status})
                tracing.end(span, None)
            await send(message)

        try:
            with tracing.current(span):
                await self.app(scope, receive, answer_starts)
        except BaseException as exc:
            if not started:  # no answer began: the failure is the request's outcome
                if tracked is not None:
                    tracked.__exit__(type(exc), exc, exc.__traceback__)
                tracing.end(span, exc)
            raise
        else:
            if not started:  # an app that answered nothing (a client that went away first)
                if tracked is not None:
                    tracked.__exit__(None, None, None)
                tracing.end(span, None)
