"""Schemas of the background-removal nodes (ComfyUI's comfy_extras/nodes_bg_removal, a V3 node set).

Newer than the recorded object_info: the names, types, tooltips and categories are those of ComfyUI's
documentation and node list (docs.comfy.org/built-in-nodes/RemoveBackground). Two additions come
after ComfyUI's own inputs and outputs, so its exported graphs run unchanged: a `threshold` input
and a second output, the image with the mask as its alpha channel (RGBA).
"""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import COMBO, FLOAT, IMAGE, INT, MASK, InputSpec, OutputSpec

OPS = "nodes.background.ops"
BACKGROUND_REMOVAL = "BACKGROUND_REMOVAL"
FOLDER = "background_removal"  # ComfyUI's models/background_removal/

SPECS = (
    V3NodeSpec(
        class_type="LoadBackgroundRemovalModel",
        display_name="Load Background Removal Model",
        category="model/loaders",
        impl=f"{OPS}:load_background_removal_model",
        inputs=(
            InputSpec(
                "bg_removal_name",
                COMBO,
                choices_source=FOLDER,
                tooltip="The model used to remove backgrounds from images",
            ),
        ),
        outputs=(OutputSpec(BACKGROUND_REMOVAL, name="bg_model"),),
    ),
    V3NodeSpec(
        class_type="RemoveBackground",
        display_name="Remove Background",
        category="image/background removal",
        description=(
            "Generates a foreground mask to remove the background from an image using a background "
            "removal model."
        ),
        impl=f"{OPS}:remove_background",
        inputs=(
            InputSpec(
                "bg_removal_model",
                BACKGROUND_REMOVAL,
                tooltip="Background removal model used to generate the mask",
            ),
            InputSpec("image", IMAGE, tooltip="Input image to remove the background from"),
            InputSpec(
                "resolution",
                INT,
                required=False,
                default=1024,
                min=256,
                max=4096,
                step=32,
                options={"advanced": True},
                tooltip=(
                    "Square size the image is resized to before inference. Use the size the model was "
                    "trained at, e.g. 1024 for BiRefNet and 2048 for BiRefNet_HR."
                ),
            ),
            # Crucible's addition: a hard cut-out instead of the soft matte.
            InputSpec(
                "threshold",
                FLOAT,
                required=False,
                default=0.0,
                min=0.0,
                max=1.0,
                step=0.01,
                tooltip=(
                    "0 keeps the soft mask. Above 0, pixels whose mask is at least this value become "
                    "foreground (1) and all others background (0)."
                ),
            ),
        ),
        outputs=(
            OutputSpec(MASK, name="mask", tooltip="Generated foreground mask"),
            # Crucible's addition: the input with the mask as alpha, ready for SaveImage (RGBA PNG).
            OutputSpec(IMAGE, name="image", tooltip="The image with the foreground mask as its alpha"),
        ),
    ),
)
