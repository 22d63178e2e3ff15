"""Builds SD1-style UNet, VAE and CLIP modules from an original-layout (ldm) state dict, without copies.

diffusers' ``from_single_file`` builds a module with random weights and then copies the file's
tensors into it (without accelerate, which this project does not install), so loading a checkpoint
holds two full copies at its peak. Here each module is built on the meta device (no memory, no
random init), diffusers' own key converters rename the file's keys, and ``load_state_dict(assign=True)``
makes the file's tensors the module's parameters: the peak is one copy of the weights. A tensor is
cast (float16 on a GPU) as the component is built, its float32 original freed as it goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The ldm prefix of each component in a full SD1 checkpoint: its keys are dropped once it is built.
LDM_PREFIXES = {
    "unet": "model.diffusion_model.",
    "vae": "first_stage_model.",
    "text_encoder": "cond_stage_model.transformer.",
}


def unet_from_ldm(state: dict[str, Any], config_dir: Path, dtype: Any) -> Any:
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    config = UNet2DConditionModel.load_config(config_dir / "unet")
    converted = convert_ldm_unet_checkpoint(state, config)
    _forget(state, LDM_PREFIXES["unet"])
    return _assign(_on_meta(lambda: UNet2DConditionModel.from_config(config)), converted, dtype, "UNet")


def vae_from_ldm(state: dict[str, Any], config_dir: Path) -> Any:
    """The VAE of a full checkpoint (``first_stage_model.*``) or of a VAE file (``encoder.*``), in float32."""
    import torch
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    config = AutoencoderKL.load_config(config_dir / "vae")
    converted = convert_ldm_vae_checkpoint(state, config)
    _forget(state, LDM_PREFIXES["vae"])
    return _assign(_on_meta(lambda: AutoencoderKL.from_config(config)), converted, torch.float32, "VAE")


def clip_from_ldm(state: dict[str, Any], config_dir: Path, dtype: Any) -> Any:
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig.from_pretrained(config_dir / "text_encoder", local_files_only=True)
    model = _on_meta(lambda: CLIPTextModel(config))
    converted = convert_ldm_clip_checkpoint(state)
    _forget(state, LDM_PREFIXES["text_encoder"])
    if not hasattr(model, "text_model"):  # transformers >= 5.6 flattened CLIPTextModel
        converted = {key.removeprefix("text_model."): value for key, value in converted.items()}
    return _assign(model, converted, dtype, "text encoder")


def _on_meta(build: Any) -> Any:
    import torch

    with torch.device("meta"):
        return build()


def _forget(state: dict[str, Any], prefix: str) -> None:
    """Drop a built component's keys, so the converted dict holds the only reference to its tensors."""
    for key in [key for key in state if key.startswith(prefix)]:
        del state[key]


def _assign(module: Any, converted: dict[str, Any], dtype: Any, what: str) -> Any:

    expected = module.state_dict()
    for key in list(converted):
        if key not in expected:
            del converted[key]  # training leftovers the module has no place for
            continue
        value = converted[key]
        wanted = dtype if expected[key].is_floating_point() else expected[key].dtype
        if value.dtype != wanted:
            converted[key] = value.to(wanted)  # the original is freed here: nothing else holds it
    module.load_state_dict(converted, strict=False, assign=True)
    converted.clear()
    _materialise_buffers(module)
    tensors = [*module.named_parameters(), *module.named_buffers()]
    left = [name for name, tensor in tensors if tensor.is_meta]
    if left:
        shown = ", ".join(left[:5]) + (" ..." if len(left) > 5 else "")
        raise ValueError(f"the file has no {what} weights for {len(left)} tensors ({shown}).")
    return module.eval().requires_grad_(False)


def _materialise_buffers(module: Any) -> None:
    """Non-persistent buffers are never in a file: rebuild the one these modules have (CLIP's positions)."""
    import torch

    for name, buffer in list(module.named_buffers()):
        if buffer.is_meta and name.endswith("position_ids"):
            owner = module.get_submodule(name.rpartition(".")[0]) if "." in name else module
            positions = torch.arange(buffer.shape[-1], dtype=buffer.dtype).expand(buffer.shape)
            owner.register_buffer(name.rpartition(".")[2], positions.clone(), persistent=False)
