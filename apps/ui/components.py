"""Input components that hand uploads to our own helpers unopened, so bad files get clear messages.

Also the number, checkbox and file inputs of public endpoints: gradio's own turn a value of the wrong
type sent through the API (`"abc"` for a number, `42` for a file) into an opaque server error; these
answer with a sentence that names the input instead.

Gradio writes a `components.pyi` type stub next to any module that subclasses a component; it is
generated at import time and ignored by git and ruff.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
from gradio.data_classes import FileData, ImageData, ListFiles
from pydantic import ConfigDict, ValidationError


def _brief(value: Any, width: int = 40) -> str:
    """`repr(value)`, cut to `width` characters: for messages that quote what was sent."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _checked_model(base: type, expected: str) -> type:
    """Gradio's file data model `base`, with the same API schema, whose validation failure is a clear `gr.Error`.

    Gradio validates an input's data model before the component's `preprocess` (outside its error
    handling), so a number or a plain string sent instead of a file would otherwise fail as a server error.
    """

    class Checked(base):  # type: ignore[misc, valid-type]
        __doc__ = base.__doc__  # the schema clients read is unchanged: same title and description
        model_config = ConfigDict(title=base.__name__)

        @classmethod
        def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return base.model_validate(obj, *args, **kwargs)
            except ValidationError:
                raise gr.Error(
                    f"{expected}: upload it, or send `handle_file(path)` with gradio_client (got {_brief(obj)}).",
                    print_exception=False,
                ) from None

    Checked.__name__ = Checked.__qualname__ = f"Checked{base.__name__}"
    return Checked


_IMAGE_DATA = _checked_model(ImageData, "The image must be an image file")
_AUDIO_DATA = _checked_model(FileData, "The audio must be an audio file")


class ImageInput(gr.Image):
    """`gr.Image` that hands the uploaded file to us unopened.

    Gradio's own preprocessing opens the file with PIL and turns a corrupt upload into an opaque
    server error; passing the path lets `prepare_image` answer with a clear message instead.
    """

    data_model = _IMAGE_DATA

    # Gradio's marker for a component that is its parent under another name (gr.ClearButton is a
    # Button): the page draws it with the parent's code and the API calls it "Image", not "Imageinput".
    is_template = True

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("type", "filepath")
        kwargs.setdefault("image_mode", None)
        super().__init__(**kwargs)

    def get_config(self, cls: type | None = None) -> dict[str, Any]:
        # Gradio builds the config the browser gets from the class's __init__ signature; ours only
        # takes **kwargs, which would leave out every prop (label, sources, buttons…) and break the
        # component in the page. Describe it with gr.Image's signature instead.
        return super().get_config(cls or gr.Image)

    def preprocess(self, payload: Any) -> Any:
        if payload is None or (payload.url and payload.url.startswith("data:")):
            return super().preprocess(payload)
        return payload.path


class AudioInput(gr.Audio):
    """`gr.Audio` that hands the uploaded or recorded file to us unopened.

    Gradio's numpy mode decodes with pydub (ffmpeg for anything but WAV) and turns a corrupt upload
    into an opaque server error; passing the path lets `prepare_audio` read it with soundfile and
    answer with a clear message instead. Microphone recordings arrive as WAV files.
    """

    data_model = _AUDIO_DATA
    is_template = True  # drawn as gr.Audio and called "Audio" in the API (see ImageInput)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("type", "filepath")
        kwargs.setdefault("format", None)  # no conversion: that would decode the file with ffmpeg
        kwargs.setdefault("sources", ["upload", "microphone"])
        super().__init__(**kwargs)

    def get_config(self, cls: type | None = None) -> dict[str, Any]:
        # Gradio builds the browser's config from the parameters of `cls.__init__`: ours takes **kwargs,
        # so name gr.Audio's (label, waveform_options, …) or the page cannot draw the component.
        return super().get_config(cls or gr.Audio)

    def preprocess(self, payload: Any) -> Any:
        return None if payload is None else payload.path


class FileInput(gr.File):
    """`gr.File` whose API input must be a file (or a list of files): anything else is a clear error."""

    is_template = True  # drawn, and described in the API, as a plain gr.File

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        name = f"“{self.label}”" if self.label else "This input"
        if self.data_model is FileData:
            self.data_model = _checked_model(FileData, f"{name} must be a file")
        else:
            self.data_model = _checked_model(ListFiles, f"{name} must be a list of files")

    def get_config(self, cls: type | None = None) -> dict[str, Any]:
        return super().get_config(cls or gr.File)  # see ImageInput.get_config


class SliderInput(gr.Slider):
    """`gr.Slider` whose API input must be a finite number in its range: anything else is a clear error."""

    is_template = True  # drawn, and described in the API, as a plain gr.Slider

    def preprocess(self, payload: Any) -> Any:
        number = payload
        if isinstance(payload, str):
            try:
                number = float(payload)  # "5" from a hand-written request means 5
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise gr.Error(
                f"“{self.label or 'This setting'}” must be a number from {self.minimum:g} to {self.maximum:g}, "
                f"not {_brief(payload)}.",
                print_exception=False,
            )
        return super().preprocess(number)


class CheckboxInput(gr.Checkbox):
    """`gr.Checkbox` whose API input must be true or false (None counts as false): anything else is a clear error."""

    is_template = True  # drawn, and described in the API, as a plain gr.Checkbox

    def preprocess(self, payload: Any) -> bool:
        if payload is None or isinstance(payload, bool):
            return bool(payload)
        if isinstance(payload, int) and payload in (0, 1):
            return bool(payload)
        raise gr.Error(
            f"“{self.label or 'This option'}” must be true or false, not {_brief(payload)}.", print_exception=False
        )
