"""Tiny random-weight ControlNets for the tiny SD1.5 and SDXL checkpoints, in the real on-disk formats.

``write_tiny_controlnet`` builds a diffusers ``ControlNetModel`` from a
checkpoint's UNet (as ControlNet training starts) and writes it either as a
diffusers folder or as one ``.safetensors`` with a sidecar ``NAME.config/``: in
the original ControlNet layout (``control_model.*`` keys, as lllyasviel's SD1.5
files) or in the diffusers layout (as most SDXL ControlNets ship).
A trained ControlNet's zero convolutions have moved away from zero; here they
get random weights so that a control visibly changes the UNet's output.

Our own key mapping, written from the ldm ControlNet module structure. Django-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models.common import make_readable, save_safetensors, sidecar_config_dir
from tiny_models.ldm_layout import UNET_PREFIX, unet_to_ldm

CONTROL_PREFIX = "control_model."
LAYOUTS = ("original", "diffusers")


def base_unet(checkpoint: Path) -> Any:
    """The UNet of `checkpoint`: a diffusers folder's ``unet/``, or a single file through the real loader."""
    from diffusers import UNet2DConditionModel

    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        return UNet2DConditionModel.from_pretrained(
            checkpoint, subfolder="unet", local_files_only=True, low_cpu_mem_usage=False
        )
    from nodes.diffusion.loading import load_checkpoint

    return load_checkpoint(checkpoint, "cpu").model.unet


def tiny_controlnet(checkpoint_dir: Path, seed: int) -> Any:
    """The random ControlNet (seeded) for the checkpoint `checkpoint_dir` (a folder or a single file)."""
    import torch
    from diffusers import ControlNetModel

    unet = base_unet(checkpoint_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        controlnet = ControlNetModel.from_unet(unet)
        # from_unet zero-initialises these; give them PyTorch's default random init instead.
        for module in (
            *controlnet.controlnet_down_blocks,
            controlnet.controlnet_mid_block,
            controlnet.controlnet_cond_embedding.conv_out,
        ):
            module.reset_parameters()
    return controlnet.eval()


def controlnet_to_ldm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """diffusers ControlNetModel keys -> the original layout, ``control_model.`` included.

    The encoder half has the UNet's names (``input_blocks``, ``middle_block``, ``time_embed``);
    the hint encoder is one Sequential of convolutions and SiLUs (``input_hint_block.0, 2, ... 14``),
    and each residual's zero convolution is ``zero_convs.i.0`` (``middle_block_out.0`` for the middle).
    """
    hint_blocks = len(config["conditioning_embedding_out_channels"]) * 2 - 2
    out: dict[str, Any] = {}
    encoder: dict[str, Any] = {}
    for key, value in state.items():
        head, _, tail = key.partition(".")
        if head == "controlnet_cond_embedding":
            name, _, rest = tail.partition(".")
            if name == "conv_in":
                index = 0
            elif name == "conv_out":
                index = 2 * (hint_blocks + 1)
            else:  # blocks.N.weight
                number, _, rest = rest.partition(".")
                index = 2 * (int(number) + 1)
            out[f"{CONTROL_PREFIX}input_hint_block.{index}.{rest}"] = value
        elif head == "controlnet_down_blocks":
            number, _, rest = tail.partition(".")
            out[f"{CONTROL_PREFIX}zero_convs.{number}.0.{rest}"] = value
        elif head == "controlnet_mid_block":
            out[f"{CONTROL_PREFIX}middle_block_out.0.{tail}"] = value
        else:
            encoder[key] = value
    # The UNet mapping needs the up blocks only for up-block names, which a ControlNet does not have.
    unet_config = {**config, "up_block_types": tuple(reversed(config["down_block_types"]))}
    for key, value in unet_to_ldm(encoder, unet_config).items():
        out[CONTROL_PREFIX + key.removeprefix(UNET_PREFIX)] = value
    return out


def write_tiny_controlnet(
    path: Path, *, checkpoint_dir: Path, seed: int, single_file: bool, layout: str = "original"
) -> Path:
    """Write the ControlNet of `seed` for the checkpoint `checkpoint_dir` (folder or single file) to `path`.

    A diffusers folder (``config.json`` + ``diffusion_pytorch_model.safetensors``), or with `single_file`
    one ``.safetensors`` in `layout` ("original": ``control_model.*``; "diffusers": the folder's own key
    names) with its config in ``NAME.config/``. Same arguments give the same weights in every format.
    The loader refuses SDXL ControlNets in the original layout, as diffusers' converter cannot read them.
    Returns `path`.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}.")
    path = Path(path)
    controlnet = tiny_controlnet(checkpoint_dir, seed)
    if single_file:
        state = controlnet.state_dict()
        if layout == "original":
            state = controlnet_to_ldm(state, dict(controlnet.config))
        save_safetensors(state, path)
        sidecar = sidecar_config_dir(path)
        controlnet.save_config(sidecar)
        make_readable(sidecar)
    else:
        controlnet.save_pretrained(path, safe_serialization=True)
    make_readable(path)
    return path
