"""Schemas of the mask nodes: make, convert, grow, feather, threshold, combine and crop masks."""

from __future__ import annotations

from nodes.schema import BOOLEAN, COMBO, FLOAT, IMAGE, INT, MASK, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.mask.ops"
CHANNELS = ("red", "green", "blue", "alpha")
COMPOSITE_OPERATIONS = ("multiply", "add", "subtract", "and", "or", "xor")


def _px(name: str, default: int = 0, minimum: int = 0) -> InputSpec:
    """A pixel count or offset, as ComfyUI declares them (up to 16384)."""
    return InputSpec(name, INT, default=default, min=minimum, max=16384, step=1)


def _mask_node(class_type: str, impl: str, *inputs: InputSpec, display_name: str | None = None) -> NodeSpec:
    """Most mask nodes: category "mask", one MASK out."""
    return NodeSpec(
        class_type=class_type,
        display_name=display_name,
        category="mask",
        impl=f"{OPS}:{impl}",
        inputs=inputs,
        outputs=(OutputSpec(MASK),),
    )


SPECS = (
    _mask_node(
        "SolidMask",
        "solid_mask",
        InputSpec("value", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01),
        _px("width", default=512, minimum=1),
        _px("height", default=512, minimum=1),
    ),
    _mask_node("InvertMask", "invert_mask", InputSpec("mask", MASK)),
    NodeSpec(
        class_type="MaskToImage",
        display_name="Convert Mask to Image",
        category="mask",
        impl=f"{OPS}:mask_to_image",
        inputs=(InputSpec("mask", MASK),),
        outputs=(OutputSpec(IMAGE),),
    ),
    _mask_node(
        "ImageToMask",
        "image_to_mask",
        InputSpec("image", IMAGE),
        InputSpec("channel", COMBO, choices=CHANNELS),
        display_name="Convert Image to Mask",
    ),
    _mask_node(
        "GrowMask",
        "grow_mask",
        InputSpec("mask", MASK),
        InputSpec("expand", INT, default=0, min=-16384, max=16384, step=1),
        InputSpec("tapered_corners", BOOLEAN, default=True),
    ),
    _mask_node(
        "FeatherMask",
        "feather_mask",
        InputSpec("mask", MASK),
        _px("left"),
        _px("top"),
        _px("right"),
        _px("bottom"),
    ),
    _mask_node(
        "ThresholdMask",
        "threshold_mask",
        InputSpec("mask", MASK),
        InputSpec("value", FLOAT, default=0.5, min=0.0, max=1.0, step=0.01),
    ),
    _mask_node(
        "MaskComposite",
        "mask_composite",
        InputSpec("destination", MASK),
        InputSpec("source", MASK),
        _px("x"),
        _px("y"),
        InputSpec("operation", COMBO, choices=COMPOSITE_OPERATIONS),
    ),
    _mask_node(
        "CropMask",
        "crop_mask",
        InputSpec("mask", MASK),
        _px("x"),
        _px("y"),
        _px("width", default=512, minimum=1),
        _px("height", default=512, minimum=1),
    ),
)
