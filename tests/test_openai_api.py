"""The OpenAI-compatible API (/v1) through the real `openai` SDK, against the running app.

Chat and embeddings run on the real SmolLM2 and all-MiniLM-L6-v2 (the session's real app); speech recognition
and text to speech on the tiny models. A second, small app on tiny models has an API key, a tiny upload
limit and a tiny memory budget, for 401, 413 and 503.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import free_port

openai = pytest.importorskip("openai")

SPEECH_FILE = Path(__file__).resolve().parent.parent / "assets" / "audio-speech-en.wav"
# With a system prompt: without one, SmolLM2's template puts in its own ("You are … SmolLM"), after which the
# 135M model's Q4_1 weights on llama.cpp answer greedily with a list of Paris landmarks, not "Paris".
QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
KEY = "test-key-7f3a"


@pytest.fixture(scope="module")
def api(real_app) -> openai.OpenAI:
    """An OpenAI client on the real app's /v1 (no key set there: any key is accepted)."""
    return openai.OpenAI(base_url=f"{real_app[0]}v1", api_key="unused", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def guarded(tiny_settings) -> Iterator[str]:
    """A second app on the tiny models with an API key, a 20 kB upload limit and a 1 kB memory budget: its URL."""
    from pydantic import SecretStr

    from app import build_demo, launch

    settings = tiny_settings.model_copy(
        update={"port": free_port(), "api_key": SecretStr(KEY), "memory_budget": "1KB", "max_upload_mb": 0.02}
    )
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{settings.port}/"
    demo.close()


def test_models_list_names_each_endpoint_task_model(api, real_app) -> None:
    manager = real_app[1].manager
    models = {model.task: model.id for model in api.models.list()}
    assert set(models) == {"chat", "similarity", "asr", "tts"}
    assert models["chat"] == str(manager.selection.get("chat"))
    assert models["similarity"] == str(manager.selection.get("similarity"))


@pytest.mark.real
def test_chat_completion_answers_with_usage(api) -> None:
    answer = api.chat.completions.create(model="", messages=QUESTION, max_tokens=16, temperature=0)
    choice = answer.choices[0]
    assert "Paris" in choice.message.content
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert answer.usage.prompt_tokens > 5
    assert 0 < answer.usage.completion_tokens <= 16
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


@pytest.mark.real
def test_chat_completion_honours_a_json_schema(api) -> None:
    import jsonschema

    schema = {
        "type": "object",
        "properties": {
            "city": {"enum": ["Paris", "Lyon", "Marseille"]},
            "country": {"type": "string", "maxLength": 20},
        },
        "required": ["city", "country"],
    }
    answer = api.chat.completions.create(
        model="",
        messages=QUESTION,
        max_tokens=64,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "capital", "schema": schema}},
    )
    reply = json.loads(answer.choices[0].message.content)
    jsonschema.validate(reply, schema)
    assert reply["city"] == "Paris"
    plain = api.chat.completions.create(
        model="", messages=QUESTION, max_tokens=48, temperature=0, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(plain.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError):
        api.chat.completions.create(
            model="",
            messages=QUESTION,
            max_tokens=8,
            response_format={"type": "json_schema", "json_schema": {"schema": {"type": 7}}},
        )


@pytest.mark.real
def test_chat_completion_streams_the_same_answer(api, real_app) -> None:
    chunks = list(
        api.chat.completions.create(
            model=str(real_app[1].manager.selection.get("chat")),
            messages=[{"role": "system", "content": "You are a helpful assistant."}, *QUESTION],
            max_completion_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1, "the reply came in one piece: not streamed"
    assert "Paris" in "".join(pieces)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.real
def test_chat_completion_length_stop_and_seed(api) -> None:
    short = api.chat.completions.create(model="", messages=QUESTION, max_tokens=2, temperature=0)
    assert short.choices[0].finish_reason == "length"
    assert short.usage.completion_tokens == 2
    stopped = api.chat.completions.create(model="", messages=QUESTION, max_tokens=16, temperature=0, stop=["Paris"])
    assert "Paris" not in stopped.choices[0].message.content
    assert stopped.choices[0].finish_reason == "stop"
    sampled = [
        api.chat.completions.create(model="", messages=QUESTION, max_tokens=8, temperature=1.0, top_p=0.9, seed=7)
        .choices[0]
        .message.content
        for _ in range(2)
    ]
    assert sampled[0] == sampled[1]


@pytest.mark.real
def test_embeddings_equal_sentence_transformers_encode(api, real_app) -> None:
    texts = ["A cat sits on the mat.", "Stock markets fell sharply today.", "Ein Hund bellt."]
    answer = api.embeddings.create(model="", input=texts)  # the SDK asks for base64 and decodes it
    floats = api.embeddings.create(model="", input=texts[0], encoding_format="float")
    with real_app[1].manager.use("similarity") as encoder:  # the very SentenceTransformer the tab uses
        expected = encoder.encode(texts, convert_to_numpy=True)
    got = np.array([row.embedding for row in answer.data])
    assert got.shape == expected.shape == (3, 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(floats.data[0].embedding, expected[0], atol=1e-5)
    assert answer.usage.prompt_tokens > len(texts)


def test_transcription_formats(api, real_context) -> None:
    ctx = real_context("asr")  # the same manager and tiny Whisper as the app
    expected = ctx.spec.run(ctx, SPEECH_FILE.read_bytes())
    timed = ctx.spec.run(ctx, SPEECH_FILE.read_bytes(), "en", "transcribe", True)
    with SPEECH_FILE.open("rb") as file:
        plain = api.audio.transcriptions.create(model="", file=file)
    assert plain.text == expected.text
    with SPEECH_FILE.open("rb") as file:
        verbose = api.audio.transcriptions.create(model="", file=file, response_format="verbose_json", language="en")
    assert verbose.text == timed.text
    assert verbose.duration == pytest.approx(timed.duration)
    assert verbose.language == "en"
    with SPEECH_FILE.open("rb") as file:
        srt = api.audio.transcriptions.create(model="", file=file, response_format="srt", language="en")
    with SPEECH_FILE.open("rb") as file:
        vtt = api.audio.transcriptions.create(model="", file=file, response_format="vtt", language="en")
    with SPEECH_FILE.open("rb") as file:
        text = api.audio.transcriptions.create(model="", file=file, response_format="text")
    assert text.strip() == expected.text
    assert vtt.startswith("WEBVTT")
    if timed.text:  # the tiny random Whisper may hear nothing; when it hears words, each format carries them
        assert verbose.segments and " --> " in srt and " --> " in vtt
        assert [s.text for s in verbose.segments] == [s["text"] for s in segments_of(timed)]
    # The tiny Whisper is English-only: translating is the task's own clear refusal, as a 400.
    with SPEECH_FILE.open("rb") as file, pytest.raises(openai.BadRequestError, match="English only"):
        api.audio.translations.create(model="", file=file, response_format="json")


def segments_of(transcript) -> list[dict]:
    from apps.serving.openai_api import transcript_segments

    return transcript_segments(transcript)


@pytest.mark.parametrize("response_format", ["wav", "flac"])
def test_speech_is_audio(api, response_format: str) -> None:
    import soundfile

    answer = api.audio.speech.create(model="", voice="alloy", input="Hello there.", response_format=response_format)
    samples, rate = soundfile.read(io.BytesIO(answer.content))
    assert rate > 0 and len(samples) > rate // 100
    assert soundfile.info(io.BytesIO(answer.content)).format == response_format.upper()


def test_bad_input_is_400(api) -> None:
    cases = [
        lambda: api.chat.completions.create(model="", messages=[]),
        lambda: api.chat.completions.create(model="", messages=[{"role": "assistant", "content": "Hi"}]),
        lambda: api.chat.completions.create(model="", messages=QUESTION, temperature=5),
        lambda: api.chat.completions.create(model="", messages=[{"role": "user", "content": "x" * 60_000}]),
        lambda: api.embeddings.create(model="", input=[""]),
        lambda: api.audio.speech.create(model="", voice="alloy", input="Hi", response_format="mp3"),
    ]
    for case in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            case()
        assert caught.value.status_code == 400
        assert caught.value.body["message"], caught.value.body
    with pytest.raises(openai.BadRequestError):
        api.audio.transcriptions.create(model="", file=("notes.wav", b"not audio at all"))


def test_unknown_model_is_404(api) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        api.chat.completions.create(model="no-such-org/no-such-model", messages=QUESTION)
    assert caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        api.embeddings.create(model="no such model!", input="Hello")


def test_api_key_is_required_when_set(guarded) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(base_url=f"{guarded}v1", api_key="wrong", max_retries=0).models.list()
    assert caught.value.status_code == 401
    assert httpx.get(f"{guarded}v1/models").status_code == 401
    listed = openai.OpenAI(base_url=f"{guarded}v1", api_key=KEY, max_retries=0).models.list()
    assert {model.task for model in listed} == {"chat", "similarity", "asr", "tts"}
    assert httpx.get(guarded).status_code == 200  # the UI stays open without SHOWCASE_API_KEY_UI


def test_too_large_upload_is_413_and_full_budget_503(guarded) -> None:
    api = openai.OpenAI(base_url=f"{guarded}v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        api.audio.transcriptions.create(model="", file=("big.wav", SPEECH_FILE.read_bytes() + b"\0" * 30_000))
    assert caught.value.status_code == 413
    with pytest.raises(openai.InternalServerError) as caught:
        api.embeddings.create(model="", input="Hello")
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "insufficient_memory"


def test_api_key_ui_guards_the_page(tiny_settings) -> None:
    from pydantic import SecretStr

    from app import build_demo, launch

    settings = tiny_settings.model_copy(update={"port": free_port(), "api_key": SecretStr(KEY), "api_key_ui": True})
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{settings.port}/"
    try:
        assert httpx.get(f"{url}config").status_code == 401
        login = httpx.post(f"{url}login", data={"username": "any", "password": KEY})
        assert login.status_code == 200
        assert httpx.get(f"{url}config", cookies=login.cookies).status_code == 200
        assert httpx.post(f"{url}login", data={"username": "any", "password": "wrong"}).status_code == 400
    finally:
        demo.close()
