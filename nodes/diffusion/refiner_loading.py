"""The SDXL refiner (``sd_xl_refiner_1.0.safetensors``): loading, and its UNet's size/score inputs.

The refiner's single file holds ``model.diffusion_model.*`` (a UNet conditioned on OpenCLIP
ViT-bigG alone: context 1280 wide), ``first_stage_model.*`` (SDXL's VAE) and
``conditioner.embedders.0.model.*`` (bigG in OpenCLIP's layout; there is no CLIP-L). Its CLIP
handle is an SDXL one without the first encoder, so CLIPTextEncode and CLIPTextEncodeSDXLRefiner
encode with bigG only (sdxl_text.py). The architecture comes from a sidecar ``NAME.config/``
when there is one, else from the refiner configs shipped in configs/sdxl_refiner.

Its added UNet input is bigG's pooled text plus five embedded numbers, in this order:
(height, width, crop_h, crop_w, aesthetic score). Without CLIPTextEncodeSDXLRefiner's values,
ComfyUI's defaults apply: 768 x 768, no crop, score 6 for the positive side and 2.5 for the
negative one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodes.diffusion.assembly import scheduler_config_from, vae_handle
from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle
from nodes.diffusion.model_files import check_unet_width, read_weights, sidecar_or, weights_dtype

REFINER_CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "sdxl_refiner"
_PARTS = {
    "unet": "model.diffusion_model.",
    "vae": "first_stage_model.",
    "text_encoder_2": "conditioner.embedders.0.model.",
}
DEFAULT_SIZE = 768
DEFAULT_SCORE = {"positive": 6.0, "negative": 2.5}


def load_refiner_single_file(path: Path, device: str) -> Checkpoint:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
    from transformers import CLIPTextModelWithProjection

    from nodes.diffusion.sdxl_loading import _tokenizer

    state = read_weights(path, "Checkpoint")
    for prefix in _PARTS.values():
        if not any(key.startswith(prefix) for key in state):
            raise ValueError(f"SDXL refiner checkpoint {path.name!r} has no {prefix}* weights.")
    config_dir = sidecar_or(path, REFINER_CONFIG_DIR, needs="unet/config.json")
    check_unet_width(path, state, config_dir)
    dtype = weights_dtype(device)
    common: dict[str, Any] = {"config": str(config_dir), "local_files_only": True}
    try:
        unet = UNet2DConditionModel.from_single_file(state, subfolder="unet", torch_dtype=dtype, **common)
        vae = AutoencoderKL.from_single_file(state, subfolder="vae", torch_dtype=torch.float32, **common)
        text_encoder = create_diffusers_clip_model_from_ldm(
            CLIPTextModelWithProjection, state, subfolder="text_encoder_2", torch_dtype=dtype, **common
        )
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise ValueError(
            f"SDXL refiner checkpoint {path.name!r} does not match its configs in {config_dir.name}/: {exc}"
        ) from exc
    _check_text_layers(path, state, text_encoder)
    tokenizer = _tokenizer(path, config_dir, "tokenizer_2")
    return _assemble(unet, vae, text_encoder, tokenizer, config_dir, device)


def load_refiner_diffusers(path: Path, device: str) -> Checkpoint:
    """A refiner diffusers folder (stabilityai/stable-diffusion-xl-refiner-1.0: unet/, vae/,
    text_encoder_2/, tokenizer_2/, scheduler/; no text_encoder/)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    for part in ("unet", "vae", "text_encoder_2", "tokenizer_2"):
        if not (path / part).is_dir():
            raise ValueError(f"SDXL refiner checkpoint {path.name!r} has no {part}/ folder.")
    dtype = weights_dtype(device)
    common: dict[str, Any] = {"local_files_only": True, "low_cpu_mem_usage": False}
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype, **common)
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=torch.float32, **common)
    text_encoder = CLIPTextModelWithProjection.from_pretrained(
        path, subfolder="text_encoder_2", torch_dtype=dtype, local_files_only=True
    )
    tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer_2", local_files_only=True)
    return _assemble(unet, vae, text_encoder, tokenizer, path, device)


def _assemble(
    unet: Any, vae: Any, text_encoder: Any, tokenizer: Any, scheduler_dir: Path, device: str
) -> Checkpoint:
    from nodes.diffusion.sdxl_loading import SDXL_CLIP_LAYER

    for module in (unet, vae, text_encoder):
        module.to(device).eval().requires_grad_(False)
    clip = ClipHandle(
        tokenizer=None,
        text_encoder=None,
        last_layer=SDXL_CLIP_LAYER,
        tokenizer_2=tokenizer,
        text_encoder_2=text_encoder,
    )
    schedule = scheduler_config_from(
        scheduler_dir if (scheduler_dir / "scheduler").is_dir() else REFINER_CONFIG_DIR
    )
    model = ModelHandle(unet=unet, scheduler_config=schedule, family="sdxl_refiner")
    return Checkpoint(model=model, clip=clip, vae=vae_handle(vae))


def _check_text_layers(path: Path, state: dict[str, Any], text_encoder: Any) -> None:
    prefix = _PARTS["text_encoder_2"] + "transformer.resblocks."
    layers = {key[len(prefix) :].split(".")[0] for key in state if key.startswith(prefix)}
    if len(layers) != text_encoder.config.num_hidden_layers:
        raise ValueError(
            f"SDXL refiner checkpoint {path.name!r}: its text encoder has {len(layers)} layers, the configs "
            f"{text_encoder.config.num_hidden_layers} (not the SDXL refiner architecture?)."
        )


def refiner_kwargs(
    model: Any, extras: dict[str, Any], *, batch: int, latent_hw: tuple[int, ...]
) -> dict[str, Any]:
    """``added_cond_kwargs`` for the refiner UNet: pooled bigG text and the five time ids."""
    import torch

    from nodes.diffusion.unet_inputs import image_pooled_or

    unet = model.unet
    pooled = extras.get("pooled_output")
    time_dims = 5 * int(unet.config.addition_time_embed_dim)
    expected = int(unet.config.projection_class_embeddings_input_dim) - time_dims
    pooled = image_pooled_or(extras, expected, pooled)
    if pooled is None or pooled.dim() != 2 or pooled.shape[-1] != expected:
        got = "none" if pooled is None else tuple(pooled.shape)
        raise ValueError(
            f"This SDXL refiner takes a pooled text embedding of width {expected} (got {got}): encode "
            "prompts with the refiner checkpoint's CLIP (CLIPTextEncode or CLIPTextEncodeSDXLRefiner)."
        )
    score = extras.get("aesthetic_score", DEFAULT_SCORE.get(str(extras.get("prompt_type")), 6.0))
    values = (
        int(extras.get("height", DEFAULT_SIZE)),
        int(extras.get("width", DEFAULT_SIZE)),
        int(extras.get("crop_h", 0)),
        int(extras.get("crop_w", 0)),
        float(score),
    )
    pooled = pooled.detach().to("cpu", unet.dtype)
    if pooled.shape[0] != batch:
        pooled = pooled[torch.arange(batch) % pooled.shape[0]]
    time_ids = torch.tensor([values], dtype=unet.dtype).expand(batch, -1)
    return {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": time_ids}}
