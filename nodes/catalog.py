"""The default catalogue: every node family, listed explicitly (no import side effects)."""

from __future__ import annotations

from functools import cache

from nodes.background import specs as background_specs
from nodes.clip_vision import specs as clip_vision_specs
from nodes.conditioning import specs as conditioning_specs
from nodes.controlnet import specs as controlnet_specs
from nodes.custom_sampling import specs as custom_sampling_specs
from nodes.diffusion import sdxl_specs
from nodes.diffusion import specs as diffusion_specs
from nodes.flux import specs as flux_specs
from nodes.image import specs as image_specs
from nodes.image import specs_filters as image_filter_specs
from nodes.image import utility_specs as image_utility_specs
from nodes.latent import specs as latent_specs
from nodes.latent import specs_math as latent_math_specs
from nodes.llm import specs as llm_specs
from nodes.llm_remote import specs as llm_remote_specs
from nodes.loaders import specs as loader_specs
from nodes.lora import specs as lora_specs
from nodes.ltxv import specs as ltxv_specs
from nodes.mask import specs as mask_specs
from nodes.registry import Registry
from nodes.sd3 import specs as sd3_specs
from nodes.svd import specs as svd_specs
from nodes.text_output import specs as text_output_specs
from nodes.upscale import specs as upscale_specs
from nodes.util import specs as util_specs
from nodes.video import specs as video_specs
from nodes.wan import specs as wan_specs

FAMILIES = (
    diffusion_specs,
    conditioning_specs,
    latent_specs,
    image_specs,
    mask_specs,
    controlnet_specs,
    lora_specs,
    upscale_specs,
    sdxl_specs,
    background_specs,
    util_specs,
    image_utility_specs,
    video_specs,
    text_output_specs,
    image_filter_specs,
    latent_math_specs,
    clip_vision_specs,
    custom_sampling_specs,
    loader_specs,
    flux_specs,
    llm_remote_specs,
    svd_specs,
    sd3_specs,
    llm_specs,
    wan_specs,
    ltxv_specs,
)


@cache
def default_registry() -> Registry:
    return Registry(spec for family in FAMILIES for spec in family.SPECS)
