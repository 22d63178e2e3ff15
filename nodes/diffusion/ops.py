"""Implementations of the diffusion nodes (torch and diffusers are imported here only)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from nodes.context import NodeContext
from nodes.diffusion import guidance
from nodes.diffusion.handles import ClipHandle, ModelHandle, VaeHandle
from nodes.diffusion.loading import load_checkpoint
from nodes.diffusion.patching import patched
from nodes.diffusion.samplers import sampler_problem
from nodes.diffusion.scheduling import build_scheduler, from_solver, to_solver
from nodes.diffusion.single_file import load_vae
from nodes.diffusion.tokens import token_ids
from nodes.latent.fields import as_mask_batch, batch_indices, mask_for_batch

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
    layers = clip.text_encoder.config.num_hidden_layers
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


@torch.inference_mode()
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

    Runs steps [start_at_step, end_at_step) of a `steps`-step schedule (stretched by `denoise` < 1).
    Stopping early leaves the latent at that step's noise level unless `force_full_denoise`, which
    makes the last step go to zero noise. A "noise_mask" limits the change to the masked region.
    """
    latent = latent_image["samples"]
    # denoise < 1 runs the last `steps` steps of a longer schedule, as ComfyUI does.
    total = steps if denoise >= 1 else max(steps, int(steps / denoise))
    first = total - steps + start_at_step
    last = total if end_at_step is None else total - steps + min(end_at_step, steps)
    if first >= last:
        return latent.clone()  # no step to run: ComfyUI returns the latent as it came

    sched = build_scheduler(model.scheduler_config, sampler_name, scheduler, total, ctx.device)
    available = len(sched.sigmas) - 1
    if available < total:
        # A schedule that drops repeated timesteps (beta, at many steps) is shorter. As in ComfyUI,
        # denoise < 1 still takes its last steps; start/end_at_step count from its beginning.
        shift = total - available if denoise < 1 else 0
        first, last, total = max(0, first - shift), min(last - shift, available), available
        if first >= last:
            return latent.clone()
    start = first * sched.order
    timesteps = sched.timesteps[start : last * sched.order]
    if hasattr(sched, "set_begin_index"):
        sched.set_begin_index(start)
    # Stopping early without leftover noise: the last step goes to sigma 0 (ComfyUI's rule).
    # A first-order step does that when its target sigma is 0; a second-order sampler falls back to
    # Euler there, which lands on the model's prediction, so its corrector call is dropped.
    full_stop = force_full_denoise and last < total
    if full_stop and sched.order == 1:
        # Cut the schedule there, so a multistep solver takes its first-order final step (as ComfyUI's).
        sched.sigmas = torch.cat([sched.sigmas[:last], sched.sigmas.new_zeros(1)])
        sched.timesteps = sched.timesteps[:last]
    predict_last = full_stop and sched.order > 1
    if predict_last:
        timesteps = timesteps[:-1]

    # Noise from a CPU generator so a seed gives the same image on every device.
    generator = torch.Generator("cpu").manual_seed(seed)
    noise = _initial_noise(latent, generator, batch_indices(latent_image))
    if not add_noise:
        noise = torch.zeros_like(noise)  # drawn anyway, so ancestral samplers see the same stream
    mask = _noise_mask(latent_image, latent, ctx.device)
    if add_noise:
        x = sched.add_noise(latent.float(), noise, timesteps[:1].cpu()).to(ctx.device)
    else:
        x = to_solver(sched, latent.float(), start).to(ctx.device)
    if mask is not None:
        original, noise = latent.float().to(ctx.device), noise.to(ctx.device)

    train_steps = int(model.scheduler_config.get("num_train_timesteps", 1000))
    pos = guidance.prepare(positive, latent.shape, ctx.device, "positive", train_steps=train_steps)
    negative = guidance.with_uncond_controls(positive, negative)
    neg = guidance.prepare(negative, latent.shape, ctx.device, "negative", train_steps=train_steps)

    # Only the ancestral (stochastic) schedulers take a generator.
    step_kwargs = {"generator": generator} if "generator" in inspect.signature(sched.step).parameters else {}
    total_steps = len(timesteps)
    # Checked once per step here: the worker's per-module checks would only slow the steps down.
    with ctx.stepwise(), patched(model.unet, model.patches, role="unet"):
        for index, t in enumerate(timesteps):
            ctx.check_cancelled()
            model_in = sched.scale_model_input(x, t)
            eps = guidance.predict_noise(model, model_in, t, pos, neg, cfg)
            out = sched.step(eps, t, x, **step_kwargs)
            finished = predict_last and index == total_steps - 1
            x = out.pred_original_sample if finished else out.prev_sample
            if mask is not None:
                # Outside the mask, put back the input latent at the noise level x is now at
                # (the scheduler's current sigma; none once fully denoised).
                kept = original if finished else sched.add_noise(original, noise, t.reshape(1))
                x = x * mask + kept * (1.0 - mask)
            ctx.progress(index + 1, total_steps)
    return from_solver(sched, x, last).cpu()


def _initial_noise(
    latent: torch.Tensor, generator: torch.Generator, indices: list[int] | None
) -> torch.Tensor:
    if indices is None:
        return torch.randn(latent.shape, generator=generator, dtype=torch.float32)
    # Latents taken out of a batch (LatentFromBatch) get the noise they had in it: draw the
    # whole original batch and keep their positions.
    full = torch.randn((max(indices) + 1, *latent.shape[1:]), generator=generator, dtype=torch.float32)
    return full[indices]


def _noise_mask(latent_image: dict[str, Any], latent: torch.Tensor, device: str) -> torch.Tensor | None:
    """The LATENT's "noise_mask" resized to the latent, one per image, or None."""
    if latent_image.get("noise_mask") is None:
        return None
    mask = as_mask_batch(latent_image["noise_mask"], "noise_mask").to(device)
    mask = F.interpolate(mask, size=tuple(latent.shape[-2:]), mode="bilinear")
    return mask_for_batch(mask, latent.shape[0])


def _check_sampler(sampler_name: str, scheduler: str) -> None:
    problem = sampler_problem(sampler_name, scheduler)
    if problem:
        raise ValueError(problem[0].upper() + problem[1:])
