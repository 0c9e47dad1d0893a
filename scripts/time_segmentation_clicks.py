"""Time a first click (image encoder + mask decoder) against a second click (mask decoder only).

`python scripts/time_segmentation_clicks.py [--threads N] [--repeats N]` builds SAM models with random
weights and the real architectures' sizes (no download): SlimSAM-uniform-77 (vision width 168, MLP
696, as its config.json says) and SAM ViT-B; plus the tiny test model if the kit exists. Prints the
median time of each click and the ratio second ÷ first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

ARCHITECTURES = {
    "SlimSAM-uniform-77 (random weights)": {"hidden_size": 168, "mlp_dim": 696},
    "sam-vit-base (random weights)": {"hidden_size": 768, "mlp_dim": 3072},
}


def random_sam(vision: dict) -> object:
    import torch
    from transformers import SamConfig, SamModel, SamProcessor
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    from apps.tasks.segmentation import PointSegmenter

    torch.manual_seed(0)
    model = SamModel(SamConfig(vision_config=vision)).eval()
    return PointSegmenter(model, SamProcessor(image_processor=SamImageProcessorPil()))


def tiny_sam() -> object | None:
    from apps.core.manager import LoadRequest
    from apps.core.refs import ModelRef
    from apps.tasks.segmentation import load_segmenter

    folder = ROOT / ".cache" / "tiny-models" / "segmentation"
    if not folder.exists():
        return None
    return load_segmenter(LoadRequest("segmentation", ModelRef(str(folder)), folder, "cpu", "float32", False))


def time_clicks(segmenter, repeats: int) -> tuple[float, float]:
    """Median seconds of a first click on a new image and of a second click on the same image."""
    first, second = click_times(segmenter, repeats)
    return statistics.median(first), statistics.median(second)


def click_times(segmenter, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of each first click on a new image and of each second click on the same image (bench/ uses them)."""
    first, second = [], []
    segmenter.segment(Image.new("RGB", (640, 480), (1, 2, 3)), [(320, 240)], [1])  # warm-up
    for n in range(repeats):
        image = Image.effect_noise((640, 480), 40 + n).convert("RGB")  # a new image each time: a cache miss
        started = time.perf_counter()
        segmenter.segment(image, [(320, 240)], [1])
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        segmenter.segment(image, [(320, 240), (100, 100)], [1, 0])
        second.append(time.perf_counter() - started)
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    models = {"tiny test SAM": tiny_sam()} | {name: None for name in ARCHITECTURES}
    for name, segmenter in models.items():
        if name in ARCHITECTURES:
            segmenter = random_sam(ARCHITECTURES[name])
        if segmenter is None:
            continue
        params = sum(p.numel() for p in segmenter.model.parameters())
        first, second = time_clicks(segmenter, args.repeats)
        print(
            f"{name}: {params / 1e6:.2f}M parameters, first click {first * 1000:.0f} ms, "
            f"second click {second * 1000:.0f} ms, ratio {second / first:.3f} ({torch.get_num_threads()} threads)"
        )


if __name__ == "__main__":
    main()
