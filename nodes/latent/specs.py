"""Schemas of the latent nodes: empty latents, the VAE round trip, transforms and inpainting masks."""

from __future__ import annotations

from nodes.schema import COMBO, FLOAT, IMAGE, INT, LATENT, MASK, VAE, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.latent.ops"
TRANSFORM_OPS = "nodes.latent.ops_transform"
# Kept equal to nodes.latent.resize (this module stays free of torch).
LATENT_UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")


def _pixels(name: str, default: int, minimum: int = 0) -> InputSpec:
    """A size or position in pixels, on ComfyUI's 8-pixel latent grid."""
    return InputSpec(name, INT, default=default, min=minimum, max=16384, step=8)


SPECS = (
    NodeSpec(
        class_type="EmptyLatentImage",
        display_name="Empty Latent Image",
        category="latent",
        description="Create a new batch of empty latent images to be denoised via sampling.",
        impl=f"{OPS}:empty_latent_image",
        inputs=(
            InputSpec(
                "width",
                INT,
                default=512,
                min=16,
                max=16384,
                step=8,
                tooltip="The width of the latent images in pixels.",
            ),
            InputSpec(
                "height",
                INT,
                default=512,
                min=16,
                max=16384,
                step=8,
                tooltip="The height of the latent images in pixels.",
            ),
            InputSpec(
                "batch_size",
                INT,
                default=1,
                min=1,
                max=4096,
                tooltip="The number of latent images in the batch.",
            ),
        ),
        outputs=(OutputSpec(LATENT, tooltip="The empty latent image batch."),),
    ),
    NodeSpec(
        class_type="VAEDecode",
        display_name="VAE Decode",
        category="latent",
        description="Decodes latent images back into pixel space images.",
        impl=f"{OPS}:vae_decode",
        inputs=(
            InputSpec("samples", LATENT, tooltip="The latent to be decoded."),
            InputSpec("vae", VAE, tooltip="The VAE model used for decoding the latent."),
        ),
        outputs=(OutputSpec(IMAGE, tooltip="The decoded image."),),
    ),
    NodeSpec(
        class_type="VAEEncode",
        display_name="VAE Encode",
        category="latent",
        impl=f"{OPS}:vae_encode",
        inputs=(InputSpec("pixels", IMAGE), InputSpec("vae", VAE)),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="VAEEncodeForInpaint",
        display_name="VAE Encode (for Inpainting)",
        category="latent/inpaint",
        impl=f"{OPS}:vae_encode_for_inpaint",
        inputs=(
            InputSpec("pixels", IMAGE),
            InputSpec("vae", VAE),
            InputSpec("mask", MASK),
            InputSpec("grow_mask_by", INT, default=6, min=0, max=64, step=1),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="SetLatentNoiseMask",
        display_name="Set Latent Noise Mask",
        category="latent/inpaint",
        impl=f"{OPS}:set_latent_noise_mask",
        inputs=(InputSpec("samples", LATENT), InputSpec("mask", MASK)),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentUpscale",
        display_name="Upscale Latent",
        category="latent",
        impl=f"{TRANSFORM_OPS}:latent_upscale",
        inputs=(
            InputSpec("samples", LATENT),
            InputSpec("upscale_method", COMBO, choices=LATENT_UPSCALE_METHODS),
            _pixels("width", 512),
            _pixels("height", 512),
            InputSpec("crop", COMBO, choices=("disabled", "center")),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentUpscaleBy",
        display_name="Upscale Latent By",
        category="latent",
        impl=f"{TRANSFORM_OPS}:latent_upscale_by",
        inputs=(
            InputSpec("samples", LATENT),
            InputSpec("upscale_method", COMBO, choices=LATENT_UPSCALE_METHODS),
            InputSpec("scale_by", FLOAT, default=1.5, min=0.01, max=8.0, step=0.01),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentFromBatch",
        display_name="Latent From Batch",
        category="latent/batch",
        impl=f"{TRANSFORM_OPS}:latent_from_batch",
        inputs=(
            InputSpec("samples", LATENT),
            InputSpec("batch_index", INT, default=0, min=0, max=63),
            InputSpec("length", INT, default=1, min=1, max=64),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="RepeatLatentBatch",
        display_name="Repeat Latent Batch",
        category="latent/batch",
        impl=f"{TRANSFORM_OPS}:repeat_latent_batch",
        inputs=(InputSpec("samples", LATENT), InputSpec("amount", INT, default=1, min=1, max=64)),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentComposite",
        display_name="Latent Composite",
        category="latent",
        impl=f"{TRANSFORM_OPS}:latent_composite",
        inputs=(
            InputSpec("samples_to", LATENT),
            InputSpec("samples_from", LATENT),
            _pixels("x", 0),
            _pixels("y", 0),
            _pixels("feather", 0),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentBlend",
        display_name="Latent Blend",
        category="_for_testing",
        impl=f"{TRANSFORM_OPS}:latent_blend",
        inputs=(
            InputSpec("samples1", LATENT),
            InputSpec("samples2", LATENT),
            # ComfyUI records this range as the integers 0 and 1.
            InputSpec("blend_factor", FLOAT, default=0.5, min=0, max=1, step=0.01),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentFlip",
        display_name="Flip Latent",
        category="latent/transform",
        impl=f"{TRANSFORM_OPS}:latent_flip",
        inputs=(
            InputSpec("samples", LATENT),
            InputSpec("flip_method", COMBO, choices=("x-axis: vertically", "y-axis: horizontally")),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentRotate",
        display_name="Rotate Latent",
        category="latent/transform",
        impl=f"{TRANSFORM_OPS}:latent_rotate",
        inputs=(
            InputSpec("samples", LATENT),
            InputSpec("rotation", COMBO, choices=("none", "90 degrees", "180 degrees", "270 degrees")),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentCrop",
        display_name="Crop Latent",
        category="latent/transform",
        impl=f"{TRANSFORM_OPS}:latent_crop",
        inputs=(
            InputSpec("samples", LATENT),
            _pixels("width", 512, minimum=64),
            _pixels("height", 512, minimum=64),
            _pixels("x", 0),
            _pixels("y", 0),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
)
