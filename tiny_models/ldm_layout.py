"""Renames diffusers state dicts to the original Stable Diffusion (CompVis/ldm) key layout.

Only the tiny test checkpoints need this direction: they are written from
diffusers modules, then loaded back through diffusers' own ldm -> diffusers
converter (``from_single_file``), exactly as a real single-file checkpoint is.
If these names were wrong, loading would fail or give different images, which
the tests check against the same weights saved as a diffusers folder.
``sd1_non_weight_keys`` adds what a real SD1.x file holds besides weights.

Our own mapping, written from the ldm module structure; Django-free.
"""

from __future__ import annotations

import re
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."
#: The noise schedule that ldm's LatentDiffusion registers as buffers, saved at the top level of a file.
SCHEDULE_KEYS = (
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
)

# Inside a ResBlock the ldm layers are Sequentials: in_layers = (norm, act, conv), etc.
_UNET_RESNET_PARTS = (
    ("norm1.", "in_layers.0."),
    ("conv1.", "in_layers.2."),
    ("norm2.", "out_layers.0."),
    ("conv2.", "out_layers.3."),
    ("time_emb_proj.", "emb_layers.1."),
    ("conv_shortcut.", "skip_connection."),
)
_RESNET = re.compile(r"^(.*\.resnets\.\d+\.)")
_VAE_ATTENTION_PARTS = (
    ("group_norm.", "norm."),
    ("to_q.", "q."),
    ("to_k.", "k."),
    ("to_v.", "v."),
    ("to_out.0.", "proj_out."),
)


def _unet_prefixes(config: dict[str, Any]) -> list[tuple[str, str]]:
    """diffusers -> ldm module prefixes. ldm numbers every block of a level in one flat list."""
    per_level = config["layers_per_block"] + 1  # resnets of a level, plus its down/upsampler slot
    levels = len(config["block_out_channels"])
    prefixes = [
        ("time_embedding.linear_1.", "time_embed.0."),
        ("time_embedding.linear_2.", "time_embed.2."),
        ("conv_in.", "input_blocks.0.0."),
        ("conv_norm_out.", "out.0."),
        ("conv_out.", "out.2."),
        ("mid_block.resnets.0.", "middle_block.0."),
        ("mid_block.attentions.0.", "middle_block.1."),
        ("mid_block.resnets.1.", "middle_block.2."),
    ]
    for i in range(levels):
        for j in range(config["layers_per_block"]):
            prefixes.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{per_level * i + j + 1}.0."))
            prefixes.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{per_level * i + j + 1}.1."))
        for j in range(per_level):
            prefixes.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{per_level * i + j}.0."))
            prefixes.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{per_level * i + j}.1."))
        if i < levels - 1:
            prefixes.append(
                (f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{per_level * (i + 1)}.0.op.")
            )
            # The upsampler follows the level's last resnet, and its attention when it has one.
            slot = 2 if config["up_block_types"][i].startswith("CrossAttn") else 1
            prefixes.append(
                (f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{per_level * i + per_level - 1}.{slot}.")
            )
    return prefixes


def unet_to_ldm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    prefixes = _unet_prefixes(config)
    out: dict[str, Any] = {}
    for key, value in state.items():
        match = _RESNET.match(key)
        if match:  # rename inside the resnet first, while its diffusers prefix is easy to find
            key = match.group(1) + _replace_prefix(key[match.end(1) :], _UNET_RESNET_PARTS)
        out[UNET_PREFIX + _replace_prefix(key, prefixes)] = value
    return out


def vae_to_ldm(state: dict[str, Any], config: dict[str, Any], *, prefix: str = VAE_PREFIX) -> dict[str, Any]:
    levels = len(config["block_out_channels"])
    prefixes = [
        ("encoder.conv_norm_out.", "encoder.norm_out."),
        ("decoder.conv_norm_out.", "decoder.norm_out."),
    ]
    for part in ("encoder", "decoder"):
        prefixes += [
            (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1."),
            (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2."),
            (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1."),
        ]
    for i in range(levels):
        up = levels - 1 - i  # ldm's decoder counts its levels from the lowest resolution
        for j in range(config["layers_per_block"] + 1):
            prefixes.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
            prefixes.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{up}.block.{j}."))
        prefixes.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
        prefixes.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{up}.upsample."))
    out: dict[str, Any] = {}
    for key, value in state.items():
        new = _replace_prefix(key, prefixes)
        if ".attentions." in key:
            head, _, tail = new.partition("attn_1.")
            new = head + "attn_1." + _replace_prefix(tail, _VAE_ATTENTION_PARTS)
            if value.ndim == 2:  # ldm's attention projections are 1x1 convolutions
                value = value[:, :, None, None]
        elif ".resnets." in key:
            new = new.replace(".conv_shortcut.", ".nin_shortcut.")
        out[prefix + new] = value
    return out


def clip_to_ldm(state: dict[str, Any]) -> dict[str, Any]:
    # transformers >= 5.6 flattened CLIPTextModel; the ldm file keeps the older text_model. level.
    return {CLIP_PREFIX + key.removeprefix("text_model."): value for key, value in state.items()}


def _replace_prefix(key: str, prefixes: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    for old, new in prefixes:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def ldm_schedule_buffers(scheduler_config: dict[str, Any]) -> dict[str, Any]:
    """The 12 DDPM schedule tensors of an ldm checkpoint (``SCHEDULE_KEYS``), float32, one value per
    training timestep, from a diffusers ``scaled_linear`` scheduler config. Computed in float64 as the
    original code does, from the textbook DDPM posterior (no learned variance)."""
    import torch

    schedule = scheduler_config.get("beta_schedule")
    if schedule != "scaled_linear":
        raise ValueError(f"only scaled_linear schedules are written, not {schedule!r}")
    steps = scheduler_config["num_train_timesteps"]
    start, end = scheduler_config["beta_start"], scheduler_config["beta_end"]
    betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
    alphas = 1.0 - betas
    cumprod = torch.cumprod(alphas, dim=0)
    cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), cumprod[:-1]])
    posterior_variance = betas * (1.0 - cumprod_prev) / (1.0 - cumprod)
    values = {
        "betas": betas,
        "alphas_cumprod": cumprod,
        "alphas_cumprod_prev": cumprod_prev,
        "sqrt_alphas_cumprod": cumprod.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1.0 - cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1.0 - cumprod).log(),
        "sqrt_recip_alphas_cumprod": (1.0 / cumprod).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1.0 / cumprod - 1.0).sqrt(),
        "posterior_variance": posterior_variance,
        # The first posterior variance is 0: clipped before the log, as the original does.
        "posterior_log_variance_clipped": posterior_variance.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * cumprod_prev.sqrt() / (1.0 - cumprod),
        "posterior_mean_coef2": (1.0 - cumprod_prev) * alphas.sqrt() / (1.0 - cumprod),
    }
    assert tuple(values) == SCHEDULE_KEYS
    return {key: value.to(torch.float32) for key, value in values.items()}


def ema_and_position_keys(clip_prefix: str, max_positions: int) -> dict[str, Any]:
    """The EMA bookkeeping scalars (``model_ema.decay`` float32, ``model_ema.num_updates`` int32) and
    CLIP's int64 ``embeddings.position_ids`` [1, max_positions] under `clip_prefix`."""
    import torch

    return {
        "model_ema.decay": torch.tensor(0.9999, dtype=torch.float32),
        "model_ema.num_updates": torch.tensor(0, dtype=torch.int32),
        f"{clip_prefix}embeddings.position_ids": torch.arange(max_positions, dtype=torch.int64)[None],
    }


def sd1_non_weight_keys(scheduler_config: dict[str, Any], max_positions: int) -> dict[str, Any]:
    """Everything but weights that a real SD1.x single file carries (v1-5-pruned-emaonly has these)."""
    return {**ldm_schedule_buffers(scheduler_config), **ema_and_position_keys(CLIP_PREFIX, max_positions)}
