"""Schemas of the image nodes: load, save, preview and plain pixel operations."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import (
    BOOLEAN,
    COMBO,
    FLOAT,
    IMAGE,
    INT,
    MASK,
    STRING,
    InputSpec,
    NodeSpec,
    OutputSpec,
)

OPS = "nodes.image.ops"
COMPOSITE = "nodes.image.ops_composite"
POST = "nodes.image.ops_postprocessing"
UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
BLEND_MODES = ("normal", "multiply", "screen", "overlay", "soft_light", "difference")
DITHERS = ("none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16")
SAVE_DESCRIPTION = "Saves the input images to your ComfyUI output directory."


def _px(name: str, default: int = 0, step: int = 1, minimum: int = 0) -> InputSpec:
    """A pixel count or offset, as ComfyUI declares them (up to 16384)."""
    return InputSpec(name, INT, default=default, min=minimum, max=16384, step=step)


SPECS = (
    NodeSpec(
        class_type="SaveImage",
        display_name="Save Image",
        category="image",
        description=SAVE_DESCRIPTION,
        impl=f"{OPS}:save_image",
        output_node=True,
        inputs=(
            InputSpec("images", IMAGE, tooltip="The images to save."),
            InputSpec(
                "filename_prefix",
                STRING,
                default="ComfyUI",
                tooltip=(
                    "The prefix for the file to save. This may include formatting information such as "
                    "%date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."
                ),
            ),
        ),
    ),
    NodeSpec(
        class_type="LoadImage",
        display_name="Load Image",
        category="image",
        impl=f"{OPS}:load_image",
        # The value is a fileId from POST /v1/files (ComfyUI: an uploaded file name).
        inputs=(InputSpec("image", COMBO, choices_source="files", options={"image_upload": True}),),
        outputs=(OutputSpec(IMAGE), OutputSpec(MASK)),
    ),
    NodeSpec(
        class_type="ImageScale",
        display_name="Upscale Image",
        category="image/upscaling",
        impl=f"{OPS}:image_scale",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("upscale_method", COMBO, choices=UPSCALE_METHODS),
            InputSpec("width", INT, default=512, min=0, max=16384, step=1),
            InputSpec("height", INT, default=512, min=0, max=16384, step=1),
            InputSpec("crop", COMBO, choices=("disabled", "center")),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    NodeSpec(
        class_type="ImageInvert",
        display_name="Invert Image",
        category="image",
        impl=f"{OPS}:image_invert",
        inputs=(InputSpec("image", IMAGE),),
        outputs=(OutputSpec(IMAGE),),
    ),
    NodeSpec(
        class_type="ImageCrop",
        display_name="Image Crop",
        category="image/transform",
        impl=f"{OPS}:image_crop",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("width", INT, default=512, min=1, max=16384, step=1),
            InputSpec("height", INT, default=512, min=1, max=16384, step=1),
            InputSpec("x", INT, default=0, min=0, max=16384, step=1),
            InputSpec("y", INT, default=0, min=0, max=16384, step=1),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    NodeSpec(
        class_type="PreviewImage",
        display_name="Preview Image",
        category="image",
        description=SAVE_DESCRIPTION,
        impl=f"{OPS}:preview_image",
        output_node=True,
        inputs=(InputSpec("images", IMAGE),),
    ),
    NodeSpec(
        class_type="LoadImageMask",
        display_name="Load Image (as Mask)",
        category="mask",
        impl=f"{OPS}:load_image_mask",
        # The value is a fileId from POST /v1/files, as for LoadImage.
        inputs=(
            InputSpec("image", COMBO, choices_source="files", options={"image_upload": True}),
            InputSpec("channel", COMBO, choices=("alpha", "red", "green", "blue")),
        ),
        outputs=(OutputSpec(MASK),),
    ),
    NodeSpec(
        class_type="ImageScaleBy",
        display_name="Upscale Image By",
        category="image/upscaling",
        impl=f"{OPS}:image_scale_by",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("upscale_method", COMBO, choices=UPSCALE_METHODS),
            InputSpec("scale_by", FLOAT, default=1.0, min=0.01, max=8.0, step=0.01),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    V3NodeSpec(
        class_type="ImageScaleToTotalPixels",
        category="image/upscaling",
        impl=f"{OPS}:image_scale_to_total_pixels",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("upscale_method", COMBO, choices=UPSCALE_METHODS),
            InputSpec("megapixels", FLOAT, default=1.0, min=0.01, max=16.0, step=0.01),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    NodeSpec(
        class_type="ImageBatch",
        display_name="Batch Images",
        category="image",
        impl=f"{OPS}:image_batch",
        inputs=(InputSpec("image1", IMAGE), InputSpec("image2", IMAGE)),
        outputs=(OutputSpec(IMAGE),),
    ),
    NodeSpec(
        class_type="ImagePadForOutpaint",
        display_name="Pad Image for Outpainting",
        category="image",
        impl=f"{COMPOSITE}:image_pad_for_outpaint",
        inputs=(
            InputSpec("image", IMAGE),
            _px("left", step=8),
            _px("top", step=8),
            _px("right", step=8),
            _px("bottom", step=8),
            _px("feathering", default=40),
        ),
        outputs=(OutputSpec(IMAGE), OutputSpec(MASK)),
    ),
    NodeSpec(
        class_type="ImageCompositeMasked",
        category="image",
        impl=f"{COMPOSITE}:image_composite_masked",
        inputs=(
            InputSpec("destination", IMAGE),
            InputSpec("source", IMAGE),
            _px("x"),
            _px("y"),
            InputSpec("resize_source", BOOLEAN, default=False),
            InputSpec("mask", MASK, required=False),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    V3NodeSpec(
        class_type="ImageBlend",
        category="image/postprocessing",
        impl=f"{POST}:image_blend",
        inputs=(
            InputSpec("image1", IMAGE),
            InputSpec("image2", IMAGE),
            InputSpec("blend_factor", FLOAT, default=0.5, min=0.0, max=1.0, step=0.01),
            InputSpec("blend_mode", COMBO, choices=BLEND_MODES),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    V3NodeSpec(
        class_type="ImageBlur",
        category="image/postprocessing",
        impl=f"{POST}:image_blur",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("blur_radius", INT, default=1, min=1, max=31, step=1),
            InputSpec("sigma", FLOAT, default=1.0, min=0.1, max=10.0, step=0.1),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    V3NodeSpec(
        class_type="ImageSharpen",
        category="image/postprocessing",
        impl=f"{POST}:image_sharpen",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("sharpen_radius", INT, default=1, min=1, max=31, step=1),
            InputSpec("sigma", FLOAT, default=1.0, min=0.1, max=10.0, step=0.01),
            InputSpec("alpha", FLOAT, default=1.0, min=0.0, max=5.0, step=0.01),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
    V3NodeSpec(
        class_type="ImageQuantize",
        category="image/postprocessing",
        impl=f"{POST}:image_quantize",
        inputs=(
            InputSpec("image", IMAGE),
            InputSpec("colors", INT, default=256, min=1, max=256, step=1),
            InputSpec("dither", COMBO, choices=DITHERS),
        ),
        outputs=(OutputSpec(IMAGE),),
    ),
)
