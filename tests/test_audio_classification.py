"""Zero-shot audio classification: label parsing, score averaging, the task function's scores, every kind
of input through the API."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import soundfile as sf
from audio_inputs import BAD, GOOD, LONG, SILENCE, SPEECH, endpoint_parameters, kit_context, make_inputs, send
from gradio_client import Client, handle_file

from apps import SPECS
from apps.core.errors import InputError
from apps.core.labels import MAX_LABELS, LabelScores
from apps.core.settings import Settings
from apps.core.spec import Kind, TaskContext
from apps.tasks.audio_classification import AudioLabelScores, average_scores, classify_audio, parse_labels

LABELS = "speech, a musical tone, rain, silence"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, tiny_settings: Settings) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("clap"), tiny_settings.max_audio_seconds)


def assert_scores(result: dict, labels: list[str]) -> None:
    """A gr.Label value: every label once, confidences summing to 1, best first."""
    confidences = result["confidences"]
    assert sorted(item["label"] for item in confidences) == sorted(labels)
    scores = [item["confidence"] for item in confidences]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-4)
    assert result["label"] == confidences[0]["label"]


def test_parse_labels_strips_and_deduplicates() -> None:
    assert parse_labels(" dog barking ,rain, Dog barking,  music ") == ["dog barking", "rain", "music"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least two"),
        ("   ", "at least two"),
        (None, "at least two"),
        ("dog", "at least two different"),
        ("dog, DOG, dog ", "at least two different"),
        ("dog,,rain", "Label 2 is empty"),
        ("dog, rain,", "Label 3 is empty"),
        (",dog, rain", "Label 1 is empty"),
        ("dog, " + "x" * 101, "Label 2 is 101 characters"),
        (", ".join(f"label {n}" for n in range(MAX_LABELS + 1)), "too many"),
    ],
)
def test_parse_labels_rejects_bad_lists(text: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_labels(text)


def test_average_scores_over_windows() -> None:
    windows = [
        [{"label": "a", "score": 0.9}, {"label": "b", "score": 0.1}],
        [{"label": "b", "score": 0.7}, {"label": "a", "score": 0.3}],
    ]
    assert average_scores(windows, ["a", "b"]) == pytest.approx({"a": 0.6, "b": 0.4})
    assert list(average_scores(windows, ["b", "a"])) == ["a", "b"]  # best first


def test_label_scores_best_first() -> None:
    scores = LabelScores({"rain": 0.7, "a chime": 0.2, "a voice": 0.1})
    assert scores.best == "rain" and scores.labels == ["rain", "a chime", "a voice"]


# -- the task function, on the tiny CLAP -----------------------------------------------------------


@pytest.fixture(scope="module")
def clap_context(tiny_models_file: Path) -> TaskContext:
    return kit_context(tiny_models_file.parent, "audio_classification")


def test_classify_audio_gives_label_scores(clap_context: TaskContext, inputs: dict[str, Path]) -> None:
    result = classify_audio(clap_context, str(inputs["speech-44k-stereo-float.wav"]), "speech, Speech, rain,  music")
    assert isinstance(result, AudioLabelScores) and isinstance(result, LabelScores)
    assert sorted(result.labels) == ["music", "rain", "speech"]  # repeats dropped, spaces collapsed
    scores = list(result.scores.values())
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0, abs=1e-4)
    assert result.best == result.labels[0] and result.windows == 1
    assert result.duration == pytest.approx(sf.info(SPEECH).duration, abs=0.01)  # the asset, resampled


def test_long_sound_is_averaged_over_windows(clap_context: TaskContext, inputs: dict[str, Path]) -> None:
    result = classify_audio(clap_context, str(inputs[LONG]), "speech, music")
    assert 18 <= result.windows <= 23 and result.duration == pytest.approx(180.0)
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_the_registry_runs_classify_audio(clap_context: TaskContext) -> None:
    spec = SPECS["audio_classification"]
    assert spec.run is classify_audio and spec.takes == (Kind.AUDIO,) and spec.gives == Kind.LABELS
    (request,) = spec.requests
    result = clap_context.run_task("audio_classification", audio=str(request.inputs["audio"].path), labels="a, b")
    assert isinstance(result, AudioLabelScores) and set(result.labels) == {"a", "b"}
    public = [name for name in inspect.signature(classify_audio).parameters if name not in ("ctx", "progress")]
    assert request.api_name == "/classify_audio" and list(request.inputs) == public


def test_the_reference_request_names_every_parameter_and_answers(client: Client) -> None:
    (request,) = SPECS["audio_classification"].requests
    assert endpoint_parameters(client, request.api_name) == list(request.inputs)
    assert_scores(send(client, request), parse_labels(request.inputs["labels"]))


# -- through the API -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*GOOD, SILENCE])
def test_every_format_through_the_api(client: Client, inputs: dict[str, Path], name: str) -> None:
    result = client.predict(handle_file(str(inputs[name])), LABELS, "", api_name="/classify_audio")
    assert_scores(result, parse_labels(LABELS))


def test_three_minutes_are_heard_in_windows(
    client: Client, inputs: dict[str, Path], tiny_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = handle_file(str(inputs["speech-8k-int16.wav"]))
    client.predict(audio, "speech, music", "", api_name="/classify_audio")  # loads the model
    heard: list[int] = []
    with tiny_app[1].manager.use("audio_classification") as pipe:
        listen = pipe.preprocess
        monkeypatch.setattr(
            pipe, "preprocess", lambda audio, **kwargs: heard.append(len(audio)) or listen(audio, **kwargs)
        )
    result = client.predict(handle_file(str(inputs[LONG])), "speech, music", "", api_name="/classify_audio")
    assert_scores(result, ["speech", "music"])
    assert 18 <= len(heard) <= 23  # 10 s windows, each cut in a pause of its last 2 s (8 s at least)
    assert sum(heard) == 180 * 48_000 and max(heard) <= 10 * 48_000  # all of it, at 48 kHz, in CLAP-sized bites


def test_example_assets_classify(client: Client) -> None:
    for name in SPECS["audio_classification"].examples:
        result = client.predict(handle_file(f"assets/{name}"), "a chime, rain, a voice", "", api_name="/classify_audio")
        assert_scores(result, ["a chime", "rain", "a voice"])


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_are_clear_errors_and_the_app_keeps_serving(
    client: Client, inputs: dict[str, Path], name: str
) -> None:
    with pytest.raises(Exception, match=BAD[name]) as info:
        client.predict(handle_file(str(inputs[name])), LABELS, "", api_name="/classify_audio")
    assert "Traceback" not in str(info.value)
    result = client.predict(handle_file(str(inputs["speech-8k-int16.wav"])), LABELS, "", api_name="/classify_audio")
    assert_scores(result, parse_labels(LABELS))


def test_bad_labels_through_the_api(client: Client, inputs: dict[str, Path]) -> None:
    with pytest.raises(Exception, match="Label 2 is empty"):
        client.predict(handle_file(str(inputs["speech-8k-int16.wav"])), "dog,,rain", "", api_name="/classify_audio")
