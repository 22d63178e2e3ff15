"""Schemas of the image nodes: load, save and plain pixel operations."""

from __future__ import annotations

from nodes.schema import COMBO, IMAGE, INT, MASK, STRING, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.image.ops"
UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")

SPECS = (
    NodeSpec(
        class_type="SaveImage",
        display_name="Save Image",
        category="image",
        description="Saves the input images to your ComfyUI output directory.",
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
)
