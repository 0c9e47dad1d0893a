"""Tiny vision models: object detection (YOLOS, DETR), point-prompted segmentation (SAM), depth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny import builder

# A few COCO names, so narration sentences read like real ones (and "mouse" has an odd plural).
DETECTION_LABELS = ("cat", "dog", "remote", "couch", "person", "mouse")

# SAM's image side in the tiny kit: the processor resizes the longest edge to this and pads to a square.
SAM_SIDE = 64


def _labels() -> dict[str, Any]:
    id2label = dict(enumerate(DETECTION_LABELS))
    return {"id2label": id2label, "label2id": {label: index for index, label in id2label.items()}}


@builder("narration")
def build_narration(out: Path) -> dict[str, Any]:
    """A 2-layer YOLOS detector (10 detection tokens) with its PIL image processor."""
    from transformers import YolosConfig, YolosForObjectDetection
    from transformers.models.yolos.image_processing_pil_yolos import YolosImageProcessorPil

    config = YolosConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=[64, 64],
        patch_size=16,
        num_detection_tokens=10,
        **_labels(),
    )
    YolosForObjectDetection(config).save_pretrained(out)
    YolosImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(out)
    return {"model": str(out)}


def build_detr(out: Path, timm_backbone: bool = False) -> Path:
    """A tiny DETR: transformers' own ResNet backbone, or (config only) DETR's default timm backbone.

    Not in the kit: tests build it to check which DETR checkpoints load without timm.
    """
    import json

    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig
    from transformers.models.detr.image_processing_pil_detr import DetrImageProcessorPil

    backbone = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], out_features=["stage4"]
    )
    config = DetrConfig(
        backbone_config=backbone,
        encoder_layers=1,
        decoder_layers=1,
        d_model=32,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=10,
        **_labels(),
    )
    DetrForObjectDetection(config).save_pretrained(out)
    DetrImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(out)
    path = out / "config.json"
    saved = json.loads(path.read_text())
    if timm_backbone:  # what facebook/detr-resnet-50 (main) says: a timm ResNet-50
        saved.pop("backbone_config")
        saved.update(use_timm_backbone=True, backbone="resnet50", use_pretrained_backbone=True)
    else:  # what its `no_timm` revision says: transformers' ResNet, legacy keys included
        saved.update(use_timm_backbone=False, backbone=None, use_pretrained_backbone=False)
    path.write_text(json.dumps(saved, indent=2))
    return out


def build_rtdetr(out: Path) -> Path:
    """A tiny RT-DETR (its own ResNet backbone), as `PekingU/rtdetr_r18vd` is built. Not in the kit."""
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig
    from transformers.models.rt_detr.image_processing_pil_rt_detr import RTDetrImageProcessorPil

    backbone = RTDetrResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 16, 32],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],
    )
    config = RTDetrConfig(
        backbone_config=backbone,
        encoder_hidden_dim=16,
        encoder_in_channels=[16, 16, 32],
        encoder_ffn_dim=16,
        encoder_attention_heads=2,
        d_model=16,
        decoder_in_channels=[16, 16, 16],
        decoder_ffn_dim=16,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_n_points=1,
        num_queries=10,
        num_denoising=0,
        **_labels(),
    )
    RTDetrForObjectDetection(config).save_pretrained(out)
    RTDetrImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(out)
    return out


@builder("segmentation")
def build_segmentation(out: Path) -> dict[str, Any]:
    """A SAM with a 2-layer 16-wide ViT on 64×64 inputs and its processor (PIL image processor)."""
    from transformers import SamConfig, SamModel, SamProcessor
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    patch = 8
    config = SamConfig(
        vision_config={
            "hidden_size": 16,
            "output_channels": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": SAM_SIDE,
            "patch_size": patch,
            "window_size": 4,
            "global_attn_indexes": [1],
            "mlp_dim": 32,
            "num_pos_feats": 8,
        },
        prompt_encoder_config={
            "hidden_size": 16,
            "image_size": SAM_SIDE,
            "patch_size": patch,
            "mask_input_channels": 4,
        },
        mask_decoder_config={
            "hidden_size": 16,
            "mlp_dim": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": 16,
        },
    )
    SamModel(config).save_pretrained(out)
    mask_side = SAM_SIDE // 4
    processor = SamProcessor(
        image_processor=SamImageProcessorPil(
            size={"longest_edge": SAM_SIDE},
            pad_size={"height": SAM_SIDE, "width": SAM_SIDE},
            mask_size={"longest_edge": mask_side},
            mask_pad_size={"height": mask_side, "width": mask_side},
        )
    )
    processor.save_pretrained(out)
    return {"model": str(out)}


@builder("depth")
def build_depth(out: Path) -> dict[str, Any]:
    """A Depth Anything with a 4-layer 16-wide DINOv2 backbone on 56×56 inputs."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    backbone = Dinov2Config(
        image_size=56,
        patch_size=14,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=16,
        neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=8,
        head_hidden_size=8,
    )
    DepthAnythingForDepthEstimation(config).save_pretrained(out)
    # As Depth-Anything-V2-Small-hf does: keep the aspect ratio, sides a multiple of the patch size.
    DPTImageProcessorPil(
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14, resample=3
    ).save_pretrained(out)
    return {"model": str(out)}


def build_dpt_hybrid(out: Path) -> Path:
    """A tiny DPT-hybrid (ViT on a BiT backbone), as `Intel/dpt-hybrid-midas` is built. Not in the kit."""
    from transformers import BitConfig, DPTConfig, DPTForDepthEstimation
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    backbone = BitConfig(
        global_padding="same",
        layer_type="bottleneck",
        depths=[1, 1, 1],
        hidden_sizes=[8, 8, 16],
        embedding_size=8,
        num_groups=2,
        out_features=["stage1", "stage2", "stage3"],
        embedding_dynamic_padding=True,
    )
    config = DPTConfig(
        is_hybrid=True,
        backbone_config=backbone,
        backbone_featmap_shape=[1, 16, 4, 4],
        image_size=64,
        patch_size=16,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=8,
        readout_type="project",
    )
    DPTForDepthEstimation(config).save_pretrained(out)
    DPTImageProcessorPil(size={"height": 64, "width": 64}, keep_aspect_ratio=False).save_pretrained(out)
    return out
