"""Schemas of the image utilities (ComfyUI's nodes_images, nodes_compositing, nodes_rebatch, EmptyImage)."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import BOOLEAN, COMBO, FLOAT, IMAGE, INT, MASK, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.image.ops_utility"
_IMAGE_OUT = (OutputSpec(IMAGE),)
STITCH_DESCRIPTION = (
    "\nStitches image2 to image1 in the specified direction.\nIf image2 is not provided, returns image1 "
    "unchanged.\nOptional spacing can be added between images.\n"
)

SPECS = (
    NodeSpec(
        class_type="ImageStitch",
        display_name="Image Stitch",
        category="image/transform",
        description=STITCH_DESCRIPTION,
        impl=f"{OPS}:image_stitch",
        inputs=(
            InputSpec("image1", IMAGE),
            InputSpec("direction", COMBO, default="right", choices=("right", "down", "left", "up")),
            InputSpec("match_image_size", BOOLEAN, default=True),
            InputSpec("spacing_width", INT, default=0, min=0, max=1024, step=2),
            InputSpec(
                "spacing_color", COMBO, default="white", choices=("white", "black", "red", "green", "blue")
            ),
            InputSpec("image2", IMAGE, required=False),
        ),
        outputs=_IMAGE_OUT,
    ),
    NodeSpec(
        class_type="ImageFlip",
        category="image/transform",
        impl=f"{OPS}:image_flip",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("flip_method", COMBO, choices=("x-axis: vertically", "y-axis: horizontally")),
        ),
        outputs=_IMAGE_OUT,
    ),
    NodeSpec(
        class_type="ImageRotate",
        category="image/transform",
        impl=f"{OPS}:image_rotate",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("rotation", COMBO, choices=("none", "90 degrees", "180 degrees", "270 degrees")),
        ),
        outputs=_IMAGE_OUT,
    ),
    NodeSpec(
        class_type="ImageAddNoise",
        category="image",
        impl=f"{OPS}:image_add_noise",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec(
                "seed",
                INT,
                default=0,
                min=0,
                max=0xFFFFFFFFFFFFFFFF,
                tooltip="The random seed used for creating the noise.",
                options={"control_after_generate": True},
            ),
            InputSpec("strength", FLOAT, default=0.5, min=0.0, max=1.0, step=0.01),
        ),
        outputs=_IMAGE_OUT,
    ),
    NodeSpec(
        class_type="EmptyImage",
        category="image",
        impl=f"{OPS}:empty_image",
        inputs=(
            InputSpec("width", INT, default=512, min=1, max=16384, step=1),
            InputSpec("height", INT, default=512, min=1, max=16384, step=1),
            InputSpec("batch_size", INT, default=1, min=1, max=4096),
            InputSpec("color", INT, default=0, min=0, max=0xFFFFFF, step=1, options={"display": "color"}),
        ),
        outputs=_IMAGE_OUT,
    ),
    NodeSpec(
        class_type="ImageFromBatch",
        category="image/batch",
        impl=f"{OPS}:image_from_batch",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("batch_index", INT, default=0, min=0, max=4095),
            InputSpec("length", INT, default=1, min=1, max=4096),
        ),
        outputs=_IMAGE_OUT,
    ),
    V3NodeSpec(
        class_type="JoinImageWithAlpha",
        display_name="Join Image with Alpha",
        category="mask/compositing",
        impl=f"{OPS}:join_image_with_alpha",
        inputs=(InputSpec("image", IMAGE), InputSpec("alpha", MASK)),
        outputs=_IMAGE_OUT,
    ),
    V3NodeSpec(
        class_type="SplitImageWithAlpha",
        display_name="Split Image with Alpha",
        category="mask/compositing",
        impl=f"{OPS}:split_image_with_alpha",
        inputs=(InputSpec("image", IMAGE),),
        outputs=(OutputSpec(IMAGE), OutputSpec(MASK)),
    ),
    V3NodeSpec(
        class_type="RebatchImages",
        display_name="Rebatch Images",
        category="image/batch",
        impl=f"{OPS}:rebatch_images",
        inputs=(InputSpec("images", IMAGE), InputSpec("batch_size", INT, default=1, min=1, max=4096)),
        # A list of batches: the nodes it feeds run once per batch.
        outputs=(OutputSpec(IMAGE, is_list=True),),
        input_is_list=True,
    ),
)
