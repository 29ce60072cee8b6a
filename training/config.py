"""Training configs: YAML files under `training/configs/`, merged over the paper's recipe as defaults."""

from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# The paper's recipe, scaled to a 2-core CPU. Every key a stage reads is here, so a config only overrides.
DEFAULTS = {
    "segmentation": {
        "backbone": "mobilenet_v2", "init": None, "size": 256, "batch_size": 8,
        "epochs": 20, "steps_per_epoch": 100,
        "val_size": 64, "learning_rate": 1e-3, "min_learning_rate": 1e-5, "freeze_backbone_bn": True,
        "focal_gamma": 2.0, "dice_weight": 1.0, "backup_every_steps": 50, "seed": 0,
        # Weight of the foreground class in the focal term; RetinaNet's 0.25 favours background.
        "focal_alpha": 0.25,
        # Sources (training/data/segmentation.py; None = its DEFAULT_MIX) and the share of person photos
        # shown whole, squashed to a square as AlphaNet feeds its segmentation net.
        "mix": None, "whole_prob": 0.0,
    },
    "matting": {
        "attention": True, "init": None, "size": 256, "batch_size": 8,
        "epochs": 20, "steps_per_epoch": 100,
        "val_size": 64, "learning_rate": 1e-3, "min_learning_rate": 1e-5, "freeze_backbone_bn": True,
        "gamma": 0.5, "people_weight": 0.25, "whole_prob": 0.2, "scene_whole_prob": 0.0,
        # Share of training trimaps whose band width varies over the image, like hand-drawn ones; the band's
        # base radius as a fraction of the crop side.
        "uneven_trimap_prob": 0.5, "trimap_width": [0.01, 0.08], "backup_every_steps": 50, "seed": 0,
        # The matting loss over the "whole" image (paper) or the trimap's "unknown" band (Deep Image Matting).
        "loss_region": "whole",
        # Channels of the full-resolution refinement head (MattingNet `refine_filters`; empty: none);
        # `init_by_name` copies `init`'s weights layer by layer, so a net can grow the head.
        "refine_filters": [], "init_by_name": False,
        # Source weights (training/data/matting.py DEFAULT_MIX when null); share of alphamatting samples
        # with one of the photo's hand-drawn trimaps, and at 0.7-1.4x their pixel size.
        "mix": None, "official_trimap_prob": 0.0, "native_scale_prob": 0.0,
    },
    "end2end": {
        "segmentation": "runs/segmentation/best.keras", "matting": "runs/matting/best.keras",
        "size": 256, "seg_size": 256, "export_seg_size": 320, "trimap_rate": 0.04, "max_radius": 24,
        "clean_radius": 4, "unsure": 0.5,
        "batch_size": 8, "epochs": 5, "steps_per_epoch": 100, "val_size": 64, "learning_rate": 1e-4,
        "min_learning_rate": 1e-6, "freeze_backbone_bn": True, "gamma": 0.5, "segmentation_loss_weight": 0.0,
        "people_weight": 0.25, "whole_prob": 0.2, "scene_whole_prob": 0.0, "backup_every_steps": 50, "seed": 0,
        # Weight of a second loss on the matting net given the sample's own trimap (band loss; 0 = the
        # paper's end-to-end stage), and how those trimaps are drawn (as in the matting stage).
        "given_trimap_weight": 0.0, "uneven_trimap_prob": 0.5, "trimap_width": [0.01, 0.08],
    },
    # HAttMatting (issue 9): trimap-free, on the matting data; loss weights as alphanet_tf/losses_hatt.py.
    "hattmatting": {
        "channel_attention": True, "spatial_attention": True, "weights": "imagenet",
        "size": 256, "batch_size": 8, "epochs": 20, "steps_per_epoch": 100, "val_size": 64,
        "learning_rate": 1e-3, "min_learning_rate": 1e-5, "freeze_backbone_bn": True, "people_weight": 0.25,
        # Trimap-free: mostly whole objects and widest scene views (training/data/matting.py).
        "whole_prob": 0.7, "scene_whole_prob": 0.5,
        "mse_weight": 1.0, "ssim_weight": 0.1, "adversarial_weight": 0.05,
        "d_filters": 32, "d_layers": 3, "d_norm": "batch", "d_learning_rate": 2e-4,
        "backup_every_steps": 50, "seed": 0,
    },
}


def load_config(stage, path=None, overrides=None):
    """Defaults of `stage`, then the YAML file at `path` (if any), then `overrides` (a dict)."""
    if stage not in DEFAULTS:
        raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(DEFAULTS)}")
    config = dict(DEFAULTS[stage])
    if path:
        path = Path(path)
        if not path.is_file() and (CONFIG_DIR / path.name).is_file():
            path = CONFIG_DIR / path.name
        if not path.is_file():
            raise FileNotFoundError(f"config not found: {path}")
        loaded = yaml.safe_load(path.read_text()) or {}
        unknown = set(loaded) - set(config) - {"stage"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        config.update({k: v for k, v in loaded.items() if k != "stage"})
    config.update({k: v for k, v in (overrides or {}).items() if v is not None})
    config["stage"] = stage
    return config
