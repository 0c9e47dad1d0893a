"""What the audio tasks' tests share: audio files of every rate, layout and sample type people upload
(and bad ones), a task context on the tiny kit's models, and the reference request sent as a client would.

`make_inputs(folder, max_seconds)` writes the files once per test module; names say what each one is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from gradio_client import Client, handle_file

from apps import SPECS
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import Asset, Request, TaskContext

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "assets" / "audio-speech-en.wav"

# Good inputs: (rate, channels, soundfile subtype, container).
GOOD = {
    "speech-8k-int16.wav": (8_000, 1, "PCM_16", "WAV"),
    "speech-44k-stereo-float.wav": (44_100, 2, "FLOAT", "WAV"),
    "speech-48k-int32.wav": (48_000, 1, "PCM_32", "WAV"),
    "speech-48k-stereo.flac": (48_000, 2, "PCM_16", "FLAC"),
    "speech-22k.ogg": (22_050, 1, "VORBIS", "OGG"),
    "speech-16k.mp3": (16_000, 1, "MPEG_LAYER_III", "MP3"),
}
LONG = "long-3min-8k.wav"
SILENCE = "silence-48k.wav"
# Bad inputs and the words their error must contain.
BAD = {
    "zero-length.wav": "empty",
    "empty-file.wav": "empty",
    "corrupt.wav": "damaged|not audio",
    "not-audio.wav": "not audio",
    "too-long.wav": "limit is",
}


def speech(rate: int) -> np.ndarray:
    """The espeak-ng example sentence at `rate`, float32 mono."""
    samples, source = sf.read(SPEECH, dtype="float32")
    return soxr.resample(samples, source, rate).astype(np.float32)


def make_inputs(folder: Path, max_seconds: float) -> dict[str, Path]:
    """Write every test input into `folder`; returns name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in [*GOOD, LONG, SILENCE, *BAD]}
    for name, (rate, channels, subtype, container) in GOOD.items():
        mono = speech(rate)
        # The second channel is quieter, so a wrong axis order or a dropped channel would show.
        data = np.stack([mono, 0.5 * mono], axis=1) if channels == 2 else mono
        sf.write(paths[name], data, rate, subtype=subtype, format=container)
    # Three minutes: the sentence, then a pause, again and again (8 kHz keeps the upload small).
    sentence = speech(8_000)
    gap = np.zeros(8_000, dtype=np.float32)
    repeats = int(np.ceil(180 * 8_000 / (len(sentence) + len(gap))))
    long = np.tile(np.concatenate([sentence, gap]), repeats)[: 180 * 8_000]
    sf.write(paths[LONG], long, 8_000, subtype="PCM_16")
    sf.write(paths[SILENCE], np.zeros(2 * 48_000, dtype=np.int16), 48_000, subtype="PCM_16")
    sf.write(paths["zero-length.wav"], np.zeros(0, dtype=np.int16), 16_000, subtype="PCM_16")
    paths["empty-file.wav"].write_bytes(b"")
    valid = paths["speech-8k-int16.wav"].read_bytes()
    paths["corrupt.wav"].write_bytes(valid[:12] + bytes(range(256)) * 8)  # RIFF/WAVE, then garbage
    paths["not-audio.wav"].write_bytes(b"This is a text file with a .wav name.\n" * 20)
    # Over the limit by ten seconds, at 1 kHz so the file stays small.
    sf.write(paths["too-long.wav"], np.zeros(int((max_seconds + 10) * 1_000), dtype=np.int16), 1_000)
    return paths


def kit_context(kit: Path, key: str, *others: str, settings: Settings | None = None) -> TaskContext:
    """A TaskContext of task `key`, offline, on the tiny kit's models for it and the `others` it calls."""
    keys = (key, *others)
    manager = ModelManager(
        loaders={name: SPECS[name].load for name in keys if SPECS[name].load is not None},
        selection=ModelSelection({name: ModelRef(str(kit / name)) for name in keys if SPECS[name].load is not None}),
        budget=None,
        device="cpu",
        offline=True,
    )
    return TaskContext(SPECS[key], settings or Settings(), manager, SPECS)


def send(client: Client, request: Request) -> Any:
    """The reference request sent by name, its `Asset`s uploaded as files; returns the endpoint's answer."""
    inputs = {
        name: handle_file(str(value.path)) if isinstance(value, Asset) else value
        for name, value in request.inputs.items()
    }
    return client.predict(**inputs, api_name=request.api_name)


def endpoint_parameters(client: Client, api_name: str) -> list[str]:
    """The public parameter names of an endpoint, as the live API lists them."""
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"][api_name]
    return [parameter["parameter_name"] for parameter in endpoint["parameters"]]
