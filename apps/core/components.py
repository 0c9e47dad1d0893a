"""Input components that hand uploads to our own helpers unopened, so bad files get clear messages.

Gradio writes a `components.pyi` type stub next to any module that subclasses a component; it is
generated at import time and ignored by git and ruff.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


class ImageInput(gr.Image):
    """`gr.Image` that hands the uploaded file to us unopened.

    Gradio's own preprocessing opens the file with PIL and turns a corrupt upload into an opaque
    server error; passing the path lets `prepare_image` answer with a clear message instead.
    """

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
