"""Schemas of the edge, morphology and largest-side resize nodes (nodes/image/ops_filters.py). No torch."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import COMBO, FLOAT, IMAGE, INT, InputSpec, NodeSpec, OutputSpec

FILTERS = "nodes.image.ops_filters"
# Kept equal to nodes.image.ops_filters; ComfyUI lists "bilinear" twice, and so does its contract.
SCALE_METHODS = ("area", "lanczos", "bilinear", "nearest-exact", "bilinear", "bicubic")
MORPHOLOGY_OPERATIONS = ("erode", "dilate", "open", "close", "gradient", "bottom_hat", "top_hat")

SPECS = (
    V3NodeSpec(
        class_type="Canny",
        category="image/preprocessors",
        impl=f"{FILTERS}:canny",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("low_threshold", FLOAT, default=0.4, min=0.01, max=0.99, step=0.01),
            InputSpec("high_threshold", FLOAT, default=0.8, min=0.01, max=0.99, step=0.01),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    V3NodeSpec(
        class_type="Morphology",
        display_name="ImageMorphology",
        category="image/postprocessing",
        impl=f"{FILTERS}:morphology",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("operation", COMBO, choices=MORPHOLOGY_OPERATIONS),
            InputSpec("kernel_size", INT, default=3, min=3, max=999, step=1),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    NodeSpec(
        class_type="ImageScaleToMaxDimension",
        category="image/upscaling",
        impl=f"{FILTERS}:image_scale_to_max_dimension",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("upscale_method", COMBO, choices=SCALE_METHODS),
            InputSpec("largest_size", INT, default=512, min=0, max=16384, step=1),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
)
