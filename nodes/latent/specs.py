"""Schemas of the latent nodes: empty latents and the VAE round trip."""

from __future__ import annotations

from nodes.schema import IMAGE, INT, LATENT, VAE, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.latent.ops"

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
)
