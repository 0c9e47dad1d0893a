"""Image search: a text query ranks a gallery of images (the examples plus your uploads) by CLIP similarity.

API callers pass their images as a list of files (`[handle_file("a.png"), ...]`, may be empty) and
`include_examples` (whether the app's example images join the gallery). Gallery embeddings are
cached by image content, so asking a second question about the same gallery only embeds the text.

The task function `image_search` returns an `ImageRanking`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from apps.core.errors import InputError
from apps.core.images import ImageSource, prepare_image
from apps.core.manager import ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.code import literal
from apps.ui.components import CheckboxInput, FileInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker
from apps.ui.outputs import GalleryOutput

MAX_QUERY_CHARS = 300
MAX_GALLERY = 100
# CLIP sees 224–336 px; keeping a 768 px copy per image (not the full upload) bounds the memory and
# hashing cost of a big gallery without changing what the model sees.
GALLERY_SIDE = 768
THUMBNAIL = 384  # longest side of the images shown in the ranked gallery
# The example images (files under assets/) that join the gallery with `include_examples`.
GALLERY_EXAMPLES = ("mm-stop-sign.png", "mm-sunset.png", "mm-house.png", "mm-night-sky.png", "mm-apple.png")


@dataclass
class GalleryImage:
    """One gallery entry: its name (file name) and an upright RGB copy at most GALLERY_SIDE px."""

    name: str
    image: Image.Image


def clean_query(query: str | None) -> str:
    """The query with whitespace collapsed; InputError if empty, not text or too long."""
    if query is not None and not isinstance(query, str):
        raise InputError("The search query must be text.")
    query = " ".join((query or "").split())
    if not query:
        raise InputError("Type what you are looking for, e.g. “a sunset over the sea”.")
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(f"The query is {len(query):,} characters long; keep it under {MAX_QUERY_CHARS}.")
    return query


def _file_path(item: Any) -> str | None:
    """The path of one uploaded file, whichever form Gradio or a caller hands it over in."""
    if isinstance(item, dict):
        return item.get("path") or item.get("name")
    return getattr(item, "path", None) or getattr(item, "name", None) or (item if isinstance(item, str) else None)


def collect_gallery(
    uploads: list[Any] | None, include_examples: bool, examples: list[str], max_pixels: int
) -> list[GalleryImage]:
    """Example images (if included) then the uploads, each opened with the shared image helper."""
    sources: list[tuple[str, ImageSource]] = []
    if include_examples:
        sources += [(Path(path).name, path) for path in examples]
    for item in uploads or []:
        path = _file_path(item)
        sources.append((Path(path).name if path else "upload", path))
    if not sources:
        raise InputError("The gallery is empty: upload some images or tick “Include the example images”.")
    if len(sources) > MAX_GALLERY:
        raise InputError(f"{len(sources)} images is too many; search at most {MAX_GALLERY} at a time.")
    gallery = []
    for number, (name, source) in enumerate(sources, start=1):
        try:
            prepared = prepare_image(source, max_pixels)
        except InputError as exc:
            raise InputError(f"Image {number} ({name}): {exc}") from None
        gallery.append(GalleryImage(name, shrunk(prepared.working, GALLERY_SIDE)))
    return gallery


def rank(scores: np.ndarray) -> list[int]:
    """Indices of the gallery, best score first (ties keep gallery order)."""
    return [int(i) for i in np.argsort(-scores, kind="stable")]


def shrunk(image: Image.Image, side: int) -> Image.Image:
    """A copy whose longest side is at most `side` pixels (aspect kept; small images unchanged)."""
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


@dataclass(frozen=True)
class RankedImage:
    """One gallery image in the ranking: its place (1 = best), name, cosine similarity, and the image."""

    rank: int
    name: str  # its file name ("upload" when it had none)
    score: float  # cosine similarity with the query
    image: Image.Image  # the gallery's upright RGB copy (at most GALLERY_SIDE px)


@dataclass(frozen=True)
class ImageRanking:
    """The gallery ranked by how well each image fits the query, best first."""

    query: str
    images: list[RankedImage]


def image_search(
    ctx: TaskContext,
    query: str | None,
    images: list[Any] | None = None,
    include_examples: bool = True,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> ImageRanking:
    """Rank the gallery (example images if included, then `images`) by fit with the query; returns the ImageRanking.

    `images` are files: paths, or Gradio's `{"path": ...}` file data.
    """
    query = clean_query(query)
    examples = [ctx.asset(name) for name in GALLERY_EXAMPLES]
    gallery = collect_gallery(images, include_examples, examples, ctx.settings.max_image_pixels)
    with ctx.use(model, progress) as clip:
        image_vectors = clip.embed_images([item.image for item in gallery])
        query_vector = clip.embed_texts([query])[0]
    scores = image_vectors @ query_vector  # cosine similarity: both are unit vectors
    ranked = [
        RankedImage(place, gallery[i].name, float(scores[i]), gallery[i].image)
        for place, i in enumerate(rank(scores), start=1)
    ]
    return ImageRanking(query, ranked)


RANKING_COLUMNS = ["rank", "image", "score"]


def gallery_items(ranking: ImageRanking) -> list[tuple[Image.Image, str]]:
    """The ranking as the tab's gallery: (thumbnail, "place. name · score") pairs, best first."""
    return [(shrunk(item.image, THUMBNAIL), f"{item.rank}. {item.name} · {item.score:.3f}") for item in ranking.images]


def ranking_frame(ranking: ImageRanking) -> pd.DataFrame:
    """The ranking as the tab's table: rank, image name, score (4 decimals)."""
    rows = [[item.rank, item.name, round(item.score, 4)] for item in ranking.images]
    return pd.DataFrame(rows, columns=RANKING_COLUMNS)


EXAMPLES = ("a sunset over the sea", "a house with a tree", "the moon at night", "a stop sign")  # queries for the tab


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column(scale=2):
            query_box = gr.Textbox(label="Search for", placeholder="a sunset over the sea", max_lines=1)
            uploads_box = FileInput(
                label="Your images (optional)", file_count="multiple", file_types=["image"], type="filepath"
            )
            include_box = CheckboxInput(value=True, label="Include the example images", info="Shown below.")
            model_box = model_picker(ctx)
            button = gr.Button("Search", variant="primary")
        with gr.Column(scale=3):
            results = GalleryOutput(label="Best match first", columns=3, height=420, elem_id="image-search-results")
            table = gr.Dataframe(headers=RANKING_COLUMNS, label="Similarity (cosine)", interactive=False)
    gr.Gallery(
        [(ctx.asset(name), name) for name in GALLERY_EXAMPLES],
        label="Example images",
        columns=8,
        height=190,
        interactive=False,
        allow_preview=False,
    )
    gr.Examples([[query] for query in EXAMPLES], inputs=[query_box])

    # The parameter names are the API's (`client.predict(query=..., images=[...], include_examples=..., model=...)`).
    @user_errors(ctx.spec.title)
    def run(
        query: str,
        images: list[str] | None,
        include_examples: bool,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        ranking = image_search(ctx, query, images, include_examples, model, progress)
        return gallery_items(ranking), ranking_frame(ranking)

    gr.on(
        [button.click, query_box.submit],
        run,
        [query_box, uploads_box, include_box, model_box],
        [results, table],
        api_name="image_search",
    )


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------


def _code_images(values: Mapping[str, Any]) -> list[str]:
    """The images ranked: the example gallery (when included) and the ones given, by file name."""
    given = values.get("images") or []
    given = [item for item in (given if isinstance(given, list) else [given]) if isinstance(item, str)]
    return [*(GALLERY_EXAMPLES if values.get("include_examples") else ()), *given]


CODE = CodeRecipe(
    no_pipeline="transformers has no pipeline that ranks images by a text: CLIP's two towers are used directly "
    "(below).",
    direct="""import torch
from PIL import Image
from transformers import AutoModel, AutoProcessor

$pick_device
processor = AutoProcessor.from_pretrained($model$model_options)
model = AutoModel.from_pretrained($model$model_options).to(device)
names = $image_list
images = [Image.open(name).convert("RGB") for name in names]
with torch.no_grad():
    image_vectors = model.get_image_features(**processor(images=images, return_tensors="pt").to(device))
    text_vector = model.get_text_features(**processor(text=[$query], return_tensors="pt", padding=True).to(device))
image_vectors = torch.nn.functional.normalize(getattr(image_vectors, "pooler_output", image_vectors), dim=-1)
text_vector = torch.nn.functional.normalize(getattr(text_vector, "pooler_output", text_vector), dim=-1)
scores = image_vectors @ text_vector[0]
for score, index in zip(*scores.sort(descending=True)):
    print(round(score.item(), 3), names[index])  # cosine similarity, best first
""",
    packages=("transformers", "torch", "pillow"),
    fields=lambda values: {"image_list": literal(_code_images(values))},
    assets=lambda values: GALLERY_EXAMPLES if values.get("include_examples") else (),
)
