"""Schemas of the diffusion nodes: checkpoint and VAE loading, CLIP, KSampler and KSamplerAdvanced."""

from __future__ import annotations

from nodes.diffusion.samplers import COMFY_SAMPLERS, COMFY_SCHEDULERS, check_sampler_inputs
from nodes.schema import (
    CLIP,
    COMBO,
    CONDITIONING,
    FLOAT,
    INT,
    LATENT,
    MODEL,
    STRING,
    VAE,
    InputSpec,
    NodeSpec,
    OutputSpec,
)

OPS = "nodes.diffusion.ops"

SPECS = (
    NodeSpec(
        class_type="CheckpointLoaderSimple",
        display_name="Load Checkpoint",
        category="loaders",
        description="Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
        impl=f"{OPS}:checkpoint_loader_simple",
        inputs=(
            InputSpec(
                "ckpt_name",
                COMBO,
                choices_source="checkpoints",
                tooltip="The name of the checkpoint (model) to load.",
            ),
        ),
        outputs=(
            OutputSpec(MODEL, tooltip="The model used for denoising latents."),
            OutputSpec(CLIP, tooltip="The CLIP model used for encoding text prompts."),
            OutputSpec(
                VAE, tooltip="The VAE model used for encoding and decoding images to and from latent space."
            ),
        ),
    ),
    NodeSpec(
        class_type="CLIPSetLastLayer",
        display_name="CLIP Set Last Layer",
        category="conditioning",
        impl=f"{OPS}:clip_set_last_layer",
        inputs=(
            InputSpec("clip", CLIP),
            InputSpec("stop_at_clip_layer", INT, default=-1, min=-24, max=-1, step=1),
        ),
        outputs=(OutputSpec(CLIP),),
    ),
    NodeSpec(
        class_type="VAELoader",
        display_name="Load VAE",
        category="loaders",
        impl=f"{OPS}:vae_loader",
        inputs=(InputSpec("vae_name", COMBO, choices_source="vae"),),
        outputs=(OutputSpec(VAE),),
    ),
    NodeSpec(
        class_type="CLIPTextEncode",
        display_name="CLIP Text Encode (Prompt)",
        category="conditioning",
        description=(
            "Encodes a text prompt using a CLIP model into an embedding that can be used to guide "
            "the diffusion model towards generating specific images."
        ),
        impl=f"{OPS}:clip_text_encode",
        inputs=(
            InputSpec(
                "text",
                STRING,
                tooltip="The text to be encoded.",
                options={"multiline": True, "dynamicPrompts": True},
            ),
            InputSpec("clip", CLIP, tooltip="The CLIP model used for encoding the text."),
        ),
        outputs=(
            OutputSpec(
                CONDITIONING,
                tooltip="A conditioning containing the embedded text used to guide the diffusion model.",
            ),
        ),
    ),
    NodeSpec(
        class_type="KSampler",
        display_name="KSampler",
        category="sampling",
        description=(
            "Uses the provided model, positive and negative conditioning to denoise the latent image."
        ),
        impl=f"{OPS}:ksampler",
        inputs=(
            InputSpec("model", MODEL, tooltip="The model used for denoising the input latent."),
            InputSpec(
                "seed",
                INT,
                default=0,
                min=0,
                max=18446744073709551615,
                tooltip="The random seed used for creating the noise.",
                options={"control_after_generate": True},
            ),
            InputSpec(
                "steps",
                INT,
                default=20,
                min=1,
                max=10000,
                tooltip="The number of steps used in the denoising process.",
            ),
            InputSpec(
                "cfg",
                FLOAT,
                default=8.0,
                min=0.0,
                max=100.0,
                step=0.1,
                round=0.01,
                tooltip=(
                    "The Classifier-Free Guidance scale balances creativity and adherence to the prompt. "
                    "Higher values result in images more closely matching the prompt however too high "
                    "values will negatively impact quality."
                ),
            ),
            InputSpec(
                "sampler_name",
                COMBO,
                choices=COMFY_SAMPLERS,
                tooltip=(
                    "The algorithm used when sampling, this can affect the quality, speed, and style "
                    "of the generated output."
                ),
            ),
            InputSpec(
                "scheduler",
                COMBO,
                choices=COMFY_SCHEDULERS,
                tooltip="The scheduler controls how noise is gradually removed to form the image.",
            ),
            InputSpec(
                "positive",
                CONDITIONING,
                tooltip="The conditioning describing the attributes you want to include in the image.",
            ),
            InputSpec(
                "negative",
                CONDITIONING,
                tooltip="The conditioning describing the attributes you want to exclude from the image.",
            ),
            InputSpec("latent_image", LATENT, tooltip="The latent image to denoise."),
            InputSpec(
                "denoise",
                FLOAT,
                default=1.0,
                min=0.0,
                max=1.0,
                step=0.01,
                tooltip=(
                    "The amount of denoising applied, lower values will maintain the structure of the "
                    "initial image allowing for image to image sampling."
                ),
            ),
        ),
        outputs=(OutputSpec(LATENT, tooltip="The denoised latent."),),
        checks=(check_sampler_inputs,),
    ),
    NodeSpec(
        class_type="KSamplerAdvanced",
        display_name="KSampler (Advanced)",
        category="sampling",
        impl=f"{OPS}:ksampler_advanced",
        inputs=(
            InputSpec("model", MODEL),
            InputSpec("add_noise", COMBO, choices=("enable", "disable")),
            InputSpec(
                "noise_seed",
                INT,
                default=0,
                min=0,
                max=18446744073709551615,
                options={"control_after_generate": True},
            ),
            InputSpec("steps", INT, default=20, min=1, max=10000),
            InputSpec("cfg", FLOAT, default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
            InputSpec("sampler_name", COMBO, choices=COMFY_SAMPLERS),
            InputSpec("scheduler", COMBO, choices=COMFY_SCHEDULERS),
            InputSpec("positive", CONDITIONING),
            InputSpec("negative", CONDITIONING),
            InputSpec("latent_image", LATENT),
            InputSpec("start_at_step", INT, default=0, min=0, max=10000),
            InputSpec("end_at_step", INT, default=10000, min=0, max=10000),
            InputSpec("return_with_leftover_noise", COMBO, choices=("disable", "enable")),
        ),
        outputs=(OutputSpec(LATENT),),
        checks=(check_sampler_inputs,),
    ),
)
