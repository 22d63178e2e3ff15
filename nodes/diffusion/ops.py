"""Implementations of the diffusion nodes (torch and diffusers are imported here only)."""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import ClipHandle, ModelHandle, VaeHandle
from nodes.diffusion.loading import load_diffusers_checkpoint
from nodes.diffusion.samplers import sampler_problem, scheduler_config

Conditioning = list[list[Any]]  # ComfyUI's shape: [[embeddings, {"pooled_output": ...}], ...]


def checkpoint_loader_simple(ctx: NodeContext, ckpt_name: str) -> tuple[ModelHandle, ClipHandle, VaeHandle]:
    path = ctx.model_path("checkpoints", ckpt_name)
    checkpoint = ctx.models.get(
        ("checkpoint", str(path), ctx.device), lambda: load_diffusers_checkpoint(path, ctx.device)
    )
    return checkpoint.model, checkpoint.clip, checkpoint.vae


def clip_text_encode(ctx: NodeContext, text: str, clip: ClipHandle) -> tuple[Conditioning]:
    embeddings, pooled = encode_text(clip, text, ctx.device)
    return ([[embeddings, {"pooled_output": pooled}]],)


@torch.inference_mode()
def encode_text(clip: ClipHandle, text: str, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode a prompt; past one CLIP window it goes in 75-token chunks, concatenated, as in ComfyUI."""
    tokenizer, encoder = clip.tokenizer, clip.text_encoder
    window = tokenizer.model_max_length
    body = tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
    step = window - 2
    chunks = [body[i : i + step] for i in range(0, len(body), step)] or [[]]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    pieces, pooled = [], None
    for chunk in chunks:
        row = [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]
        row += [pad_id] * (window - len(row))
        ids = torch.tensor([row], device=device)
        out = encoder(ids, output_hidden_states=clip.last_layer != -1)
        if clip.last_layer == -1:
            hidden = out.last_hidden_state
        else:
            hidden = encoder.text_model.final_layer_norm(out.hidden_states[clip.last_layer])
        pieces.append(hidden)
        if pooled is None:
            pooled = out.pooler_output
    return torch.cat(pieces, dim=1), pooled


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
    problem = sampler_problem(sampler_name, scheduler)
    if problem:
        raise ValueError(problem[0].upper() + problem[1:])
    latent = latent_image["samples"]
    if denoise <= 0:
        return ({**latent_image, "samples": latent.clone()},)
    samples = sample(
        ctx,
        model,
        latent=latent,
        seed=seed,
        steps=steps,
        cfg=cfg,
        sampler_name=sampler_name,
        scheduler=scheduler,
        positive=_first_embedding(positive),
        negative=_first_embedding(negative),
        denoise=denoise,
    )
    return ({**latent_image, "samples": samples},)


@torch.inference_mode()
def sample(
    ctx: NodeContext,
    model: ModelHandle,
    *,
    latent: torch.Tensor,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: torch.Tensor,
    negative: torch.Tensor,
    denoise: float,
) -> torch.Tensor:
    import diffusers

    class_name, extra = scheduler_config(sampler_name, scheduler)
    sched = getattr(diffusers, class_name).from_config({**model.scheduler_config, **extra})
    # denoise < 1 runs the last `steps` steps of a longer schedule, as ComfyUI does.
    total = steps if denoise >= 1 else max(steps, int(steps / denoise))
    sched.set_timesteps(total, device=ctx.device)
    start = (total - steps) * sched.order
    timesteps = sched.timesteps[start:]
    if hasattr(sched, "set_begin_index"):
        sched.set_begin_index(start)

    # Noise from a CPU generator so a seed gives the same image on every device.
    generator = torch.Generator("cpu").manual_seed(seed)
    noise = torch.randn(latent.shape, generator=generator, dtype=torch.float32)
    unet = model.unet
    dtype = unet.dtype
    x = sched.add_noise(latent.float(), noise, timesteps[:1].cpu()).to(ctx.device)

    batch = latent.shape[0]
    pos, neg = _match_lengths(positive, negative)
    use_cfg = not math.isclose(cfg, 1.0)
    context = (
        torch.cat([neg.expand(batch, -1, -1), pos.expand(batch, -1, -1)])
        if use_cfg
        else pos.expand(batch, -1, -1)
    )
    context = context.to(ctx.device, dtype)

    # Only the ancestral (stochastic) schedulers take a generator.
    step_kwargs = {"generator": generator} if "generator" in inspect.signature(sched.step).parameters else {}
    total_steps = len(timesteps)
    for index, t in enumerate(timesteps):
        ctx.check_cancelled()
        model_in = torch.cat([x, x]) if use_cfg else x
        model_in = sched.scale_model_input(model_in, t)
        eps = unet(model_in.to(dtype), t, encoder_hidden_states=context).sample.float()
        if use_cfg:
            uncond, cond = eps.chunk(2)
            eps = uncond + cfg * (cond - uncond)
        x = sched.step(eps, t, x, **step_kwargs).prev_sample
        ctx.progress(index + 1, total_steps)
    return x.cpu()


def _first_embedding(conditioning: Conditioning) -> torch.Tensor:
    if not conditioning:
        raise ValueError("Conditioning is empty.")
    return conditioning[0][0]


def _match_lengths(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat the shorter prompt's chunks so both have the same token count (ComfyUI's rule)."""
    if a.shape[1] == b.shape[1]:
        return a, b
    target = math.lcm(a.shape[1], b.shape[1])
    return a.repeat(1, target // a.shape[1], 1), b.repeat(1, target // b.shape[1], 1)
