"""Loads Stable Video Diffusion single files (``svd.safetensors``, ``svd_xt.safetensors``) offline.

The file is Stability's SGM layout (keys.py). Before anything large is built its tensor table is
checked: the UNet must have temporal layers (``time_stack``), the VAE and the CLIP image tower must
be there, and the widths the header gives away must equal the config's (configs/svd or svd_xt,
or a sidecar ``NAME.config/``), so a file that fits no config fails with what differs. Modules are
built on the meta device and the file's tensors assigned to them (one copy of the weights at the
peak, as nodes/diffusion/ldm_assign.py does for SD). The UNet is float16 on a GPU; the VAE stays in
float32 (its config asks for upcasting) and decodes frames in chunks (vae.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.diffusion.handles import ModelHandle, VaeHandle
from nodes.diffusion.ldm_assign import _assign, _on_meta
from nodes.diffusion.model_files import read_weights, weights_dtype
from nodes.model_family import tensor_table
from nodes.svd.handles import SCALING_FACTOR, SIGMA_DATA, SIGMA_MAX, SIGMA_MIN, SvdCheckpoint
from nodes.svd.keys import UNET_PREFIX, VAE_PREFIX, clip_vision_prefix, unet_sgm_name, vae_sgm_name

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
PROBE = UNET_PREFIX + "input_blocks.1.0.time_stack.in_layers.0.weight"


def is_svd(keys: Any) -> bool:
    """An SGM video UNet: SD's block layout with a temporal ResBlock beside the first spatial one."""
    return PROBE in keys


def variant_for(path: Path) -> str:
    """svd_xt for files named so (svd_xt, svd_xt_1_1, ...), else svd: the file does not say it."""
    return "svd_xt" if "xt" in path.stem.lower() else "svd"


def configs_for(path: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    sidecar = path.with_suffix(".config")
    folder, variant = (sidecar, "sidecar") if (sidecar / "unet.json").is_file() else (None, variant_for(path))
    folder = folder or CONFIG_DIR / variant

    def read(name: str) -> dict[str, Any]:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        return {k: v for k, v in data.items() if not k.startswith("_")}

    return read("unet.json"), read("vae.json"), variant


def header_problems(header: dict[str, Any], unet: dict[str, Any], vae: dict[str, Any]) -> list[str]:
    """What in the tensor table differs from the configs (empty: it fits)."""

    def shape(key: str) -> list[int] | None:
        entry = header.get(key)
        if entry is None:
            return None
        return list(entry["shape"] if isinstance(entry, dict) else entry.shape)

    checks = {
        "UNet width": (UNET_PREFIX + "input_blocks.0.0.weight", 0, unet["block_out_channels"][0]),
        "UNet input channels": (UNET_PREFIX + "input_blocks.0.0.weight", 1, unet["in_channels"]),
        "image context width": (
            UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
            1,
            unet["cross_attention_dim"],
        ),
        "added time ids width": (
            UNET_PREFIX + "label_emb.0.0.weight",
            1,
            unet["projection_class_embeddings_input_dim"],
        ),
        "VAE width": (VAE_PREFIX + "encoder.conv_in.weight", 0, vae["block_out_channels"][0]),
        "VAE latent channels": (VAE_PREFIX + "decoder.conv_in.weight", 1, vae["latent_channels"]),
    }
    problems = []
    for what, (key, dim, want) in checks.items():
        found = shape(key)
        if found is None:
            problems.append(f"no {key}")
        elif found[dim] != want:
            problems.append(f"{what}: the file has {found[dim]}, the config {want}")
    return problems


def check_file(path: Path) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """(unet config, vae config, variant, CLIP tower prefix) for a file that fits; else ValueError."""
    header = tensor_table(path)
    if not is_svd(header):
        raise ValueError(
            f"ckpt_name {path.name!r} is not a Stable Video Diffusion checkpoint (no {PROBE}): "
            "ImageOnlyCheckpointLoader loads svd.safetensors or svd_xt.safetensors in Stability's layout."
        )
    prefix = clip_vision_prefix(header)
    if prefix is None:
        raise ValueError(
            f"SVD checkpoint {path.name!r} has no CLIP image tower (conditioner.embedders.0.open_clip."
            "model.visual.*): it cannot condition on an image."
        )
    unet, vae, variant = configs_for(path)
    problems = header_problems(header, unet, vae)
    if problems:
        raise ValueError(
            f"SVD checkpoint {path.name!r} fits no shipped config ({variant}): {'; '.join(problems)}. Put "
            f"its configs in {path.with_suffix('.config').name}/unet.json and vae.json next to it."
        )
    return unet, vae, variant, prefix


def load_svd_checkpoint(path: Path, device: str) -> SvdCheckpoint:
    from nodes.clip_vision.loading import clip_vision_from_state
    from nodes.diffusion.open_clip_keys import open_clip_vision_to_transformers
    from nodes.sampling.model_sampling import ModelSampling

    unet_config, vae_config, variant, clip_prefix = check_file(path)
    state = read_weights(path, "SVD checkpoint")
    vision_state = open_clip_vision_to_transformers(state, clip_prefix)
    clip_config = path.with_suffix(".config") / "clip_vision" / "config.json"
    vision = clip_vision_from_state(path, vision_state, device, config_file=clip_config)
    unet = build_unet(state, unet_config, weights_dtype(device), path).to(device)
    vae = build_vae(state, vae_config, path).to(device)
    sampling = ModelSampling.edm(sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, sigma_data=SIGMA_DATA)
    model = ModelHandle(unet=unet, scheduler_config={}, family="svd", model_sampling=sampling)
    vae_handle = VaeHandle(vae=vae, scaling_factor=SCALING_FACTOR, temporal=True)
    return SvdCheckpoint(model=model, clip_vision=vision, vae=vae_handle, variant=variant)


def _take(state: dict[str, Any], wanted: dict[str, str], path: Path, what: str) -> dict[str, Any]:
    missing = [name for name in wanted.values() if name not in state]
    if missing:
        shown = ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else "")
        raise ValueError(f"SVD checkpoint {path.name!r} lacks {len(missing)} {what} tensors ({shown}).")
    return {key: state.pop(name) for key, name in wanted.items()}


def build_unet(state: dict[str, Any], config: dict[str, Any], dtype: Any, path: Path) -> Any:
    from diffusers import UNetSpatioTemporalConditionModel

    module = _on_meta(lambda: UNetSpatioTemporalConditionModel.from_config(config))
    wanted = {key: UNET_PREFIX + unet_sgm_name(key, config) for key in module.state_dict()}
    return _assign(module, _take(state, wanted, path, "UNet"), dtype, "UNet")


def build_vae(state: dict[str, Any], config: dict[str, Any], path: Path) -> Any:
    import torch
    from diffusers import AutoencoderKLTemporalDecoder

    module = _on_meta(lambda: AutoencoderKLTemporalDecoder.from_config(config))
    expected = module.state_dict()
    wanted = {key: VAE_PREFIX + vae_sgm_name(key, config) for key in expected}
    quant = {key: wanted.pop(key) for key in list(wanted) if key.startswith("quant_conv.")}
    weights = _take(state, wanted, path, "VAE")
    for key, name in quant.items():
        # sgm's AutoencodingEngine has no quant_conv: diffusers' is then the identity.
        if name in state:
            weights[key] = state.pop(name)
        elif key.endswith("weight"):
            channels = expected[key].shape[0]
            weights[key] = torch.eye(channels).reshape(channels, channels, 1, 1)
        else:
            weights[key] = torch.zeros(expected[key].shape)
    for key, value in weights.items():
        # ldm's attention projections are 1x1 convolutions; diffusers' are linear layers.
        if value.dim() == 4 and expected[key].dim() == 2:
            weights[key] = value[:, :, 0, 0]
    return _assign(module, weights, torch.float32, "VAE")
