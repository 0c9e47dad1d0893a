"""ImageInput: the page gets gr.Image's full config, and uploads reach us as unopened paths."""

from __future__ import annotations

import gradio as gr
from gradio.data_classes import FileData

from apps.ui.components import ImageInput


def test_config_carries_every_gr_image_prop() -> None:
    with gr.Blocks():
        ours = ImageInput(label="Picture", height=300)
        plain = gr.Image(label="Picture", height=300, type="filepath", image_mode=None)
    config, expected = ours.get_config(), plain.get_config()
    assert set(config) == set(expected)
    for key in ("label", "height", "sources", "buttons", "type", "image_mode"):
        assert config[key] == expected[key], key
    assert ours.get_block_name() == "image"  # the frontend renders it as a plain gr.Image


def test_upload_is_handed_over_unopened(tmp_path) -> None:
    path = tmp_path / "not-really.png"
    path.write_bytes(b"garbage")  # gr.Image would fail to open this; we get the path to report it clearly
    assert ImageInput().preprocess(FileData(path=str(path))) == str(path)
    assert ImageInput().preprocess(None) is None
