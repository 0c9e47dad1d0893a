"""Depth estimation: an image in, a colour-mapped depth map at the image's size and a 16-bit PNG out.

The task function `estimate_depth` returns a `DepthMap` (images, no files); the /depth endpoint writes
its two PNGs (`save_depth_files`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image, PngImagePlugin

from apps.core.images import ImageSource, prepare_image
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.ui.components import ImageInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

# matplotlib's "inferno" colour map (CC0), 17 evenly spaced samples: dark = far, bright = near.
INFERNO = (
    (0, 0, 4),
    (11, 7, 36),
    (33, 12, 74),
    (61, 9, 101),
    (87, 16, 110),
    (113, 25, 110),
    (138, 34, 106),
    (163, 44, 97),
    (188, 55, 84),
    (208, 69, 69),
    (227, 89, 51),
    (241, 113, 31),
    (249, 140, 10),
    (252, 170, 15),
    (249, 201, 50),
    (242, 232, 101),
    (252, 255, 164),
)
OUTPUT_DIR = Path(tempfile.gettempdir()) / "showcase-depth"
KEEP_OUTPUTS = 16  # requests whose files are kept here; Gradio copies each file into its own cache anyway
FAST_PNG = 1  # zlib level: a 24-megapixel map saves in about a second (smooth maps compress well anyway)
EXAMPLES = ("vision-coffee.jpg", "vision-street.png", "vision-cat.jpg")  # files under assets/


def load_depth_estimator(request: LoadRequest) -> Any:
    """A `depth-estimation` pipeline (Depth Anything, DPT, …) from a local folder, PIL image processing."""
    from transformers import AutoImageProcessor, pipeline

    return pipeline(
        "depth-estimation",
        model=str(request.path),
        image_processor=AutoImageProcessor.from_pretrained(str(request.path), backend="pil"),
        device=request.device,
        dtype=request.dtype,
        trust_remote_code=request.trust_remote_code,
    )


def colour_lut(stops: tuple[tuple[int, int, int], ...] = INFERNO, size: int = 256) -> np.ndarray:
    """A (size, 3) uint8 lookup table interpolated linearly between evenly spaced colour stops."""
    positions = np.linspace(0.0, 1.0, len(stops))
    samples = np.linspace(0.0, 1.0, size)
    channels = np.asarray(stops, dtype=np.float64).T
    return np.stack([np.interp(samples, positions, channel) for channel in channels], axis=1).round().astype(np.uint8)


LUT = colour_lut()


def to_unit(depth: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Depth scaled to [0, 1] (non-finite values → the minimum; a flat map → all 0), its min and max."""
    values = np.asarray(depth, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, dtype=np.float64), 0.0, 0.0
    low, high = float(values[finite].min()), float(values[finite].max())
    values = np.where(finite, values, low)
    if high - low <= 0:
        return np.zeros(values.shape, dtype=np.float64), low, high
    return (values - low) / (high - low), low, high


def to_png16(unit: np.ndarray) -> Image.Image:
    """A [0, 1] map as a 16-bit greyscale image (0 … 65535)."""
    return Image.fromarray(np.clip(np.rint(unit * 65535), 0, 65535).astype(np.uint16))


def upscale(depth16: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The 16-bit map resized (bilinear, in C) to `size` (width, height): the working copy → the original."""
    return depth16 if depth16.size == size else depth16.resize(size, Image.Resampling.BILINEAR)


def colourise(depth16: Image.Image) -> Image.Image:
    """A 16-bit map as an RGB image through the colour map (its top 8 bits pick the colour)."""
    index = Image.fromarray((np.asarray(depth16, dtype=np.uint16) >> 8).astype(np.uint8), "L")
    index.putpalette(LUT.tobytes())
    return index.convert("RGB")


def save_png16(depth16: Image.Image, low: float, high: float, path: Path) -> Path:
    """Write the 16-bit map as PNG; tEXt chunks give the model's range to undo the scaling:

    raw value = depth_min + pixel / 65535 × (depth_max − depth_min).
    """
    info = PngImagePlugin.PngInfo()
    info.add_text("depth_min", repr(low))
    info.add_text("depth_max", repr(high))
    info.add_text("depth_meaning", "model output (relative; for Depth Anything and DPT larger = nearer)")
    depth16.save(path, format="PNG", pnginfo=info, compress_level=FAST_PNG)
    return path


def output_folder() -> Path:
    """A fresh folder for one request's files; only the newest few are kept."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    folders = sorted((p for p in OUTPUT_DIR.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in folders[: max(0, len(folders) - KEEP_OUTPUTS + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=OUTPUT_DIR))


def file_stem(image: ImageSource) -> str:
    """The input's file name without extension, safe for a download name ("image" when there is none)."""
    stem = Path(image).stem if isinstance(image, str | Path) else ""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60] or "image"


@dataclass(frozen=True)
class DepthMap:
    """What `estimate_depth` saw: the depth map at the input's size, coloured and in 16 bits, and its raw range."""

    image: Image.Image  # RGB through the inferno colour map: bright = near, dark = far
    depth16: Image.Image  # 16-bit greyscale: 0 = depth_min … 65535 = depth_max
    depth_min: float  # the model's smallest output (relative depth: for Depth Anything and DPT larger = nearer)
    depth_max: float
    name: str  # the input's file name without extension ("image" when it had none), for download names

    def values(self) -> np.ndarray:
        """The model's output at the input's size (float64, height × width), undoing the 16-bit scaling."""
        pixels = np.asarray(self.depth16, dtype=np.float64)
        return self.depth_min + pixels / 65535 * (self.depth_max - self.depth_min)


def estimate_depth(
    ctx: TaskContext, image: ImageSource, model: str | None = None, progress: ProgressFn | None = None
) -> DepthMap:
    """How far away each part of the image is; returns the DepthMap at the input's size."""
    prepared = prepare_image(image, ctx.settings.max_image_pixels)
    with ctx.use(model, progress) as estimator:
        predicted = estimator(prepared.working)["predicted_depth"]
    # Scaled on the working copy's map: bilinear upscaling stays within its range, and runs in C.
    unit, low, high = to_unit(predicted.float().cpu().numpy())
    depth16 = upscale(to_png16(unit), prepared.size)
    return DepthMap(colourise(depth16), depth16, low, high, file_stem(image))


def save_depth_files(depth: DepthMap) -> tuple[str, str]:
    """Write the coloured map and the 16-bit PNG into a fresh folder; returns their paths (coloured, 16-bit)."""
    folder = output_folder()
    colour = folder / f"{depth.name}-depth.png"
    depth.image.save(colour, format="PNG", compress_level=FAST_PNG)
    return str(colour), str(
        save_png16(depth.depth16, depth.depth_min, depth.depth_max, folder / f"{depth.name}-depth16.png")
    )


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            image = ImageInput(label="Image", height=360)
            model = model_picker(ctx)
            button = gr.Button("Estimate depth", variant="primary")
        with gr.Column():
            coloured = gr.Image(label="Depth (bright = near, dark = far)", interactive=False, elem_id="depth-image")
            raw = gr.File(label="Raw depth, 16-bit PNG (range in its depth_min / depth_max text chunks)")
    gr.Examples([[ctx.asset(name)] for name in EXAMPLES], inputs=[image])

    @user_errors(ctx.spec.title)
    def depth_run(image: str | None, model: str, progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        return save_depth_files(estimate_depth(ctx, image, model, progress))

    gr.on([button.click], depth_run, [image, model], [coloured, raw], api_name="depth")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    pipeline="""import torch
from PIL import Image
from transformers import pipeline

$pick_device
estimate = pipeline("depth-estimation", model=$model$model_options, device=device)
result = estimate(Image.open($image).convert("RGB"))
result["depth"].save("depth.png")  # bright = near
depth = result["predicted_depth"]
print("depth.png:", tuple(depth.shape), "from", depth.min().item(), "to", depth.max().item())
""",
    direct="""import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForDepthEstimation

$pick_device
processor = AutoImageProcessor.from_pretrained($model$model_options)
model = AutoModelForDepthEstimation.from_pretrained($model$model_options).to(device)
image = Image.open($image).convert("RGB")
with torch.no_grad():
    outputs = model(**processor(images=image, return_tensors="pt").to(device))
depth = processor.post_process_depth_estimation(outputs, target_sizes=[image.size[::-1]])[0]["predicted_depth"]
unit = (depth - depth.min()) / (depth.max() - depth.min() + 1e-9)
Image.fromarray((unit.cpu().numpy() * 255).astype(np.uint8)).save("depth.png")  # bright = near
print("depth.png:", tuple(depth.shape), "from", depth.min().item(), "to", depth.max().item())
""",
    packages=("transformers", "torch", "numpy", "pillow"),
)
