"""Implementations of the diffusion nodes (torch and diffusers are imported here only)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import ClipHandle, ModelHandle, VaeHandle
from nodes.diffusion.loading import load_checkpoint
from nodes.diffusion.patching import patched
from nodes.diffusion.samplers import sampler_problem
from nodes.diffusion.single_file import load_vae
from nodes.diffusion.tokens import token_ids
from nodes.sampling import run
from nodes.sampling.guiders import Guider
from nodes.sampling.model_sampling import ModelSampling, model_sampling_of
from nodes.sampling.noise_inputs import initial_noise
from nodes.sampling.run import SamplerChoice
from nodes.sampling.schedules import schedule_sigmas

Conditioning = list[list[Any]]  # ComfyUI's shape: [[embeddings, {"pooled_output": ...}], ...]


def checkpoint_loader_simple(ctx: NodeContext, ckpt_name: str) -> tuple[ModelHandle, ClipHandle, VaeHandle]:
    path = ctx.model_path("checkpoints", ckpt_name)
    checkpoint = ctx.models.get(
        ("checkpoint", str(path), ctx.device), lambda: load_checkpoint(path, ctx.device)
    )
    return checkpoint.model, checkpoint.clip, checkpoint.vae


def vae_loader(ctx: NodeContext, vae_name: str) -> tuple[VaeHandle]:
    path = ctx.model_path("vae", vae_name)
    return (ctx.models.get(("vae", str(path), ctx.device), lambda: load_vae(path, ctx.device)),)


def clip_set_last_layer(ctx: NodeContext, clip: ClipHandle, stop_at_clip_layer: int) -> tuple[ClipHandle]:
    # A new handle over the same cached modules: no reload, and the cached handle stays as it was.
    # The SDXL refiner's CLIP has its second (bigG) encoder only.
    layers = (clip.text_encoder or clip.text_encoder_2).config.num_hidden_layers
    if not -layers <= stop_at_clip_layer <= -1:
        # ComfyUI silently falls back to the last layer here; we say so instead (validate, never correct).
        raise ValueError(
            f"stop_at_clip_layer {stop_at_clip_layer} is outside this CLIP model's {layers} layers "
            f"(-1 to -{layers})."
        )
    return (dataclasses.replace(clip, last_layer=stop_at_clip_layer),)


def clip_text_encode(ctx: NodeContext, text: str, clip: ClipHandle) -> tuple[Conditioning]:
    if clip.kind == "flux":  # the same text for CLIP-L and T5, see nodes/flux/text.py
        from nodes.flux.ops import clip_text_encode_flux

        return clip_text_encode_flux(ctx, clip, text, text, None)
    if clip.kind == "sd3":  # the same text for CLIP-L, CLIP-G and T5, see nodes/sd3/text.py
        from nodes.sd3.text import clip_text_encode_sd3

        return clip_text_encode_sd3(ctx, clip, text, text, text)
    if clip.kind == "none":
        raise ValueError(
            "This CLIP is empty: its checkpoint holds no text encoder. Load the text encoders with "
            "TripleCLIPLoader (or CLIPLoader/DualCLIPLoader) and connect that CLIP instead."
        )
    if clip.kind == "ltxv":  # T5-XXL alone, see nodes/ltxv/text.py
        from nodes.ltxv.text import clip_text_encode_ltxv

        return clip_text_encode_ltxv(ctx, clip, text)
    if clip.kind == "wan":  # UMT5-XXL alone, see nodes/wan/text.py
        from nodes.wan.text import clip_text_encode_wan

        return clip_text_encode_wan(ctx, clip, text)
    if clip.text_encoder_2 is not None:  # SDXL: both encoders, see sdxl_text.py
        from nodes.diffusion import sdxl_text

        return sdxl_text.clip_text_encode(ctx, text, clip)
    embeddings, pooled = encode_text(clip, text, ctx.device, check=ctx.check_cancelled)
    return ([[embeddings, {"pooled_output": pooled}]],)


@torch.inference_mode()
def encode_text(
    clip: ClipHandle, text: str, device: str, *, check: Callable[[], None] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode a prompt; past one CLIP window it goes in 75-token chunks, concatenated, as in ComfyUI.

    `check` (the run's cancel check) runs while a long prompt is tokenized; the encoder's modules run
    it too, through the worker's forward hooks."""
    tokenizer = clip.tokenizer
    body = token_ids(tokenizer, text, check)
    step = tokenizer.model_max_length - 2
    chunks = [body[i : i + step] for i in range(0, len(body), step)] or [[]]
    with patched(clip.text_encoder, clip.patches, role="text_encoder"):
        encoded = [_encode_window(clip, chunk, device) for chunk in chunks]
    # The pooled output is the first window's, as in ComfyUI.
    return torch.cat([hidden for hidden, _ in encoded], dim=1), encoded[0][1]


def _encode_window(clip: ClipHandle, chunk: list[int], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    tokenizer, encoder = clip.tokenizer, clip.text_encoder
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    row = [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]
    row += [pad_id] * (tokenizer.model_max_length - len(row))
    out = encoder(torch.tensor([row], device=device), output_hidden_states=clip.last_layer != -1)
    if clip.last_layer == -1:
        return out.last_hidden_state, out.pooler_output
    # hidden_states[-2] is the penultimate layer's output; SD1 applies the final layer norm to
    # it (ComfyUI does too). transformers >= 5.6 dropped CLIPTextModel's text_model level.
    text_model = getattr(encoder, "text_model", encoder)
    return text_model.final_layer_norm(out.hidden_states[clip.last_layer]), out.pooler_output


def ksampler(
    ctx: NodeContext,
    model: ModelHandle,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: Conditioning,
    negative: Conditioning,
    latent_image: dict[str, Any],
    denoise: float = 1.0,
) -> tuple[dict[str, Any]]:
    _check_sampler(sampler_name, scheduler)
    if denoise <= 0:
        return ({**latent_image, "samples": latent_image["samples"].clone()},)
    samples = sample(
        ctx,
        model,
        latent_image=latent_image,
        seed=seed,
        steps=steps,
        cfg=cfg,
        sampler_name=sampler_name,
        scheduler=scheduler,
        positive=positive,
        negative=negative,
        denoise=denoise,
    )
    return ({**latent_image, "samples": samples},)


def ksampler_advanced(
    ctx: NodeContext,
    model: ModelHandle,
    add_noise: str,
    noise_seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: Conditioning,
    negative: Conditioning,
    latent_image: dict[str, Any],
    start_at_step: int = 0,
    end_at_step: int = 10000,
    return_with_leftover_noise: str = "disable",
) -> tuple[dict[str, Any]]:
    _check_sampler(sampler_name, scheduler)
    for name, value in (("add_noise", add_noise), ("return_with_leftover_noise", return_with_leftover_noise)):
        if value not in ("enable", "disable"):
            raise ValueError(f"{name} must be 'enable' or 'disable', got {value!r}.")
    samples = sample(
        ctx,
        model,
        latent_image=latent_image,
        seed=noise_seed,
        steps=steps,
        cfg=cfg,
        sampler_name=sampler_name,
        scheduler=scheduler,
        positive=positive,
        negative=negative,
        add_noise=add_noise == "enable",
        start_at_step=start_at_step,
        end_at_step=end_at_step,
        force_full_denoise=return_with_leftover_noise == "disable",
    )
    return ({**latent_image, "samples": samples},)


# Samplers that KSampler runs over one more step with the second-to-last sigma dropped (ComfyUI's
# rule: their last step would otherwise be a tiny second-order step next to sigma 0).
DISCARD_PENULTIMATE_SIGMA = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})


def ksampler_sigmas(
    model_sampling: ModelSampling, sampler_name: str, scheduler: str, steps: int, denoise: float = 1.0
) -> torch.Tensor:
    """KSampler's sigmas: the scheduler's, over the last `steps` steps of int(steps / denoise) when
    denoise < 1, empty at denoise 0."""

    def schedule(n: int) -> torch.Tensor:
        if sampler_name not in DISCARD_PENULTIMATE_SIGMA:
            return schedule_sigmas(model_sampling, scheduler, n)
        sigmas = schedule_sigmas(model_sampling, scheduler, n + 1)
        return torch.cat([sigmas[:-2], sigmas[-1:]])

    if denoise > 0.9999:
        return schedule(steps)
    if denoise <= 0.0:
        return torch.zeros(0)
    return schedule(int(steps / denoise))[-(steps + 1) :]


def sample(
    ctx: NodeContext,
    model: ModelHandle,
    *,
    latent_image: dict[str, Any],
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: Conditioning,
    negative: Conditioning,
    denoise: float = 1.0,
    add_noise: bool = True,
    start_at_step: int = 0,
    end_at_step: int | None = None,
    force_full_denoise: bool = False,
) -> torch.Tensor:
    """Denoise a LATENT: the core of KSampler and KSamplerAdvanced (ComfyUI's common_ksampler).

    Runs steps [start_at_step, end_at_step) of the schedule (stretched by `denoise` < 1). Stopping
    early leaves the latent at that step's noise level unless `force_full_denoise`, which makes the
    last sigma 0. A "noise_mask" limits the change to the masked region (nodes/sampling/denoiser.py).
    """
    latent = latent_image["samples"]
    ms = model_sampling_of(model)
    sigmas = ksampler_sigmas(ms, sampler_name, scheduler, steps, denoise)
    if end_at_step is not None and end_at_step < len(sigmas) - 1:
        sigmas = sigmas[: end_at_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0.0
    if start_at_step >= len(sigmas) - 1:
        return latent.clone()  # no step to run: ComfyUI returns the latent as it came
    sigmas = sigmas[start_at_step:]
    noise = initial_noise(latent_image, seed) if add_noise else torch.zeros(latent.shape)
    guider = Guider(model, {"positive": positive, "negative": negative}, "cfg", cfg=cfg)
    return run.sample(ctx, guider, SamplerChoice(sampler_name), sigmas, latent_image, noise, seed).samples


def _check_sampler(sampler_name: str, scheduler: str) -> None:
    problem = sampler_problem(sampler_name, scheduler)
    if problem:
        raise ValueError(problem[0].upper() + problem[1:])
