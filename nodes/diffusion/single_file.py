"""Loads single-file SD 1.x checkpoints and VAEs in the original (CompVis/ldm) key layout, offline.

A ``.safetensors`` file holds weights only. Its architecture comes from a
sidecar folder ``NAME.config/`` next to the file (diffusers layout: ``unet/``,
``vae/``, ``text_encoder/`` configs, ``scheduler/``, ``tokenizer/``) when there
is one, else from the SD1.5 configs that ship in ``configs/sd15``. diffusers'
key converters rename the ldm keys and the file's tensors are assigned to
modules built on the meta device (ldm_assign.py): one copy of the weights at
the peak, no hub, no download. Tiny test checkpoints take this same path with their own
sidecar, so the tests exercise the code that loads a real file.
"""

from __future__ import annotations

from pathlib import Path

from nodes.diffusion.assembly import assemble_checkpoint, vae_handle
from nodes.diffusion.clip_vocab import bundled_tokenizer_dir
from nodes.diffusion.handles import Checkpoint, VaeHandle
from nodes.diffusion.ldm_assign import clip_from_ldm, unet_from_ldm, vae_from_ldm
from nodes.diffusion.model_files import check_unet_width, read_weights, sidecar_or, weights_dtype

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "sd15"
_LDM_KEYS = {
    "unet": "model.diffusion_model.",
    "vae": "first_stage_model.",
    "text_encoder": "cond_stage_model.transformer.",
}


def config_dir_for(path: Path) -> Path:
    """The sidecar ``NAME.config/`` of ``NAME.safetensors`` if present, else the shipped SD1.5 configs."""
    return sidecar_or(path, DEFAULT_CONFIG_DIR)


def load_single_file_checkpoint(path: Path, device: str) -> Checkpoint:
    from transformers import CLIPTokenizer

    state = read_weights(path, "Checkpoint")
    missing = [part for part, prefix in _LDM_KEYS.items() if not any(k.startswith(prefix) for k in state)]
    if missing:
        raise ValueError(
            f"Checkpoint {path.name!r} is not an SD 1.x checkpoint in the original layout: no "
            f"{', '.join(_LDM_KEYS[m] + '*' for m in missing)} weights"
            " (SD 1.x and SDXL checkpoints load; other families are not supported yet)."
        )
    config_dir = config_dir_for(path)
    check_unet_width(path, state, config_dir)
    tokenizer_dir = _tokenizer_dir(path, config_dir)
    dtype = weights_dtype(device)
    try:
        # One copy of the weights at the peak: the file's tensors become the modules' (ldm_assign.py).
        unet = unet_from_ldm(state, config_dir, dtype)
        # The VAE stays in float32 as in the diffusers-folder loader: SD1's VAE overflows in float16.
        vae = vae_from_ldm(state, config_dir)
        text_encoder = clip_from_ldm(state, config_dir, dtype)
    except (RuntimeError, ValueError, KeyError) as exc:
        # Shape mismatches land here: the file does not match the configs it was paired with.
        raise ValueError(
            f"Checkpoint {path.name!r} does not match its configs in {config_dir.name}/: {exc}"
        ) from exc
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    return assemble_checkpoint(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler_dir=config_dir,
        device=device,
    )


def load_vae(path: Path, device: str) -> VaeHandle:
    """A VAE from ``models/vae/``: a diffusers folder (config.json + weights) or a single ``.safetensors``
    in the original layout (``encoder.*``/``decoder.*``; a full checkpoint's ``first_stage_model.*`` too)."""
    import torch
    from diffusers import AutoencoderKL

    if path.is_dir():
        vae = AutoencoderKL.from_pretrained(
            path, torch_dtype=torch.float32, local_files_only=True, low_cpu_mem_usage=False
        )
    else:
        state = read_weights(path, "VAE")
        from nodes.model_family import model_family

        if model_family(path) == "wan_vae":  # Wan 2.1's causal video VAE (nodes/wan/vae.py)
            from nodes.wan.vae import load_wan_vae

            return load_wan_vae(path, state, device)
        if model_family(path) == "flux_vae":  # FLUX.1's ae.safetensors: 16 channels, its own scale and shift
            from nodes.flux.vae import load_flux_vae_state
            from nodes.sd3.vae import sd3_vae_config_dir

            return load_flux_vae_state(path, state, device, config_dir=sd3_vae_config_dir(path))
        if not any(k.startswith(("encoder.", "first_stage_model.encoder.")) for k in state):
            raise ValueError(f"VAE {path.name!r} has no encoder.* weights: not a VAE in the original layout.")
        config_dir = config_dir_for(path)
        try:
            vae = vae_from_ldm(state, config_dir)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(
                f"VAE {path.name!r} does not match its config in {config_dir.name}/: {exc}"
            ) from exc
    vae.to(device).eval().requires_grad_(False)
    return vae_handle(vae)


def _tokenizer_dir(path: Path, config_dir: Path) -> Path:
    for folder in (config_dir / "tokenizer", DEFAULT_CONFIG_DIR / "tokenizer"):
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            return folder
    bundled = bundled_tokenizer_dir(DEFAULT_CONFIG_DIR / "tokenizer")  # CLIP's, from open_clip_torch
    if bundled is not None:
        return bundled
    raise ValueError(
        f"Checkpoint {path.name!r} needs CLIP's tokenizer files: install open_clip_torch (make does) or put "
        f"vocab.json and merges.txt from any SD1.x diffusers folder's tokenizer/ in "
        f"{path.with_suffix('.config').name}/tokenizer/ next to it or in {DEFAULT_CONFIG_DIR / 'tokenizer'}."
    )
