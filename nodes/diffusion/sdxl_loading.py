"""Loads SDXL checkpoints offline: diffusers folders and single files in the original SGM layout.

An SDXL checkpoint has a second text encoder (OpenCLIP ViT-bigG with a
projection, ``text_encoder_2``) next to CLIP-L. A single ``.safetensors``
holds weights only (``model.diffusion_model.*``, ``first_stage_model.*``,
``conditioner.embedders.0.transformer.*`` for CLIP-L and
``conditioner.embedders.1.model.*`` for bigG in OpenCLIP's layout); its
architecture comes from a sidecar ``NAME.config/`` next to it when present,
else from the SDXL base configs shipped in ``configs/sdxl``. diffusers'
single-file converters do the key conversion, including OpenCLIP's fused
q/k/v, with ``local_files_only``: nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.diffusion.assembly import scheduler_config_from, vae_handle
from nodes.diffusion.clip_vocab import bundled_tokenizer_dir
from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle
from nodes.diffusion.model_files import check_unet_width, read_weights, sidecar_or, weights_dtype
from nodes.diffusion.single_file import DEFAULT_CONFIG_DIR as SD15_CONFIG_DIR

SDXL_CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "sdxl"
#: SDXL reads the penultimate layer of both text encoders (ComfyUI and diffusers alike).
SDXL_CLIP_LAYER = -2


_SGM_PARTS = {
    "unet": "model.diffusion_model.",
    "vae": "first_stage_model.",
    "text_encoder": "conditioner.embedders.0.transformer.",
    "text_encoder_2": "conditioner.embedders.1.model.",
}


def is_sdxl_folder(path: Path) -> bool:
    if (path / "text_encoder_2").is_dir():
        return True
    try:
        return "text_encoder_2" in json.loads((path / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the SD1 loader reports what is wrong with the folder


def load_sdxl_diffusers(path: Path, device: str) -> Checkpoint:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    for part in ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"):
        if not (path / part).is_dir():
            raise ValueError(f"SDXL checkpoint {path.name!r} has no {part}/ folder.")
    dtype = weights_dtype(device)
    common: dict[str, Any] = {"local_files_only": True, "low_cpu_mem_usage": False}
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype, **common)
    # The VAE stays in float32: SDXL's VAE overflows in float16 (its config says force_upcast).
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=torch.float32, **common)
    te1 = CLIPTextModel.from_pretrained(
        path, subfolder="text_encoder", torch_dtype=dtype, local_files_only=True
    )
    te2 = CLIPTextModelWithProjection.from_pretrained(
        path, subfolder="text_encoder_2", torch_dtype=dtype, local_files_only=True
    )
    tok1 = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer", local_files_only=True)
    tok2 = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer_2", local_files_only=True)
    modules = {"unet": unet, "vae": vae, "text_encoder": te1, "text_encoder_2": te2}
    return assemble_sdxl(modules, tokenizers=(tok1, tok2), scheduler_dir=path, device=device)


def sdxl_config_dir(path: Path) -> Path:
    """The sidecar ``NAME.config/`` of ``NAME.safetensors`` if present, else the shipped SDXL configs."""
    return sidecar_or(path, SDXL_CONFIG_DIR)


def load_sdxl_single_file(path: Path, device: str) -> Checkpoint:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    state = read_weights(path, "Checkpoint")
    missing = [part for part, prefix in _SGM_PARTS.items() if not any(k.startswith(prefix) for k in state)]
    if missing:
        raise ValueError(
            f"Checkpoint {path.name!r} is not a full SDXL checkpoint in the original layout: no "
            f"{', '.join(_SGM_PARTS[m] + '*' for m in missing)} weights."
        )
    config_dir = sdxl_config_dir(path)
    check_unet_width(path, state, config_dir)
    tokenizers = (_tokenizer(path, config_dir, "tokenizer"), _tokenizer(path, config_dir, "tokenizer_2"))
    dtype = weights_dtype(device)
    common: dict[str, Any] = {"config": str(config_dir), "local_files_only": True}
    try:
        unet = UNet2DConditionModel.from_single_file(state, subfolder="unet", torch_dtype=dtype, **common)
        vae = AutoencoderKL.from_single_file(state, subfolder="vae", torch_dtype=torch.float32, **common)
        te1 = create_diffusers_clip_model_from_ldm(
            CLIPTextModel, state, subfolder="text_encoder", torch_dtype=dtype, **common
        )
        te2 = create_diffusers_clip_model_from_ldm(
            CLIPTextModelWithProjection, state, subfolder="text_encoder_2", torch_dtype=dtype, **common
        )
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        # Shape mismatches land here: the file does not match the configs it was paired with.
        raise ValueError(
            f"SDXL checkpoint {path.name!r} does not match its configs in {config_dir.name}/: {exc}"
        ) from exc
    modules = {"unet": unet, "vae": vae, "text_encoder": te1, "text_encoder_2": te2}
    _check_complete(path, config_dir, state, modules)
    scheduler_dir = config_dir if (config_dir / "scheduler").is_dir() else SDXL_CONFIG_DIR
    return assemble_sdxl(modules, tokenizers=tokenizers, scheduler_dir=scheduler_dir, device=device)


def assemble_sdxl(
    modules: dict[str, Any], *, tokenizers: tuple[Any, Any], scheduler_dir: Path, device: str
) -> Checkpoint:
    for module in modules.values():
        module.to(device).eval().requires_grad_(False)
    clip = ClipHandle(
        tokenizer=tokenizers[0],
        text_encoder=modules["text_encoder"],
        last_layer=SDXL_CLIP_LAYER,
        tokenizer_2=tokenizers[1],
        text_encoder_2=modules["text_encoder_2"],
    )
    return Checkpoint(
        model=ModelHandle(
            unet=modules["unet"], scheduler_config=scheduler_config_from(scheduler_dir), family="sdxl"
        ),
        clip=clip,
        vae=vae_handle(modules["vae"]),
    )


_ENCODER_LAYERS = {
    "text_encoder": "conditioner.embedders.0.transformer.text_model.encoder.layers.",
    "text_encoder_2": "conditioner.embedders.1.model.transformer.resblocks.",
}


def _check_complete(path: Path, config_dir: Path, state: dict[str, Any], modules: dict[str, Any]) -> None:
    """Fail now, not mid-sampling, when the file lacks weights its configs call for: the converter leaves
    them on the meta device (with accelerate) or randomly initialised (text encoders, without it)."""
    for name, module in modules.items():
        prefix = _ENCODER_LAYERS.get(name)
        layers = {k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)} if prefix else None
        short = layers is not None and len(layers) != module.config.num_hidden_layers
        if short or any(p.is_meta for p in module.parameters()):
            raise ValueError(
                f"SDXL checkpoint {path.name!r}: its {name} weights do not match the configs in "
                f"{config_dir.name}/ (not the SDXL base architecture?)."
            )


def _tokenizer(path: Path, config_dir: Path, name: str) -> Any:
    """CLIP's BPE tokenizer for `name`. Both SDXL encoders share CLIP's vocabulary, so vocab.json and
    merges.txt may come from any tokenizer folder we know; tokenizer_2 keeps its own padding token."""
    from transformers import CLIPTokenizer

    candidates = (
        config_dir / name,
        config_dir / "tokenizer",
        SDXL_CONFIG_DIR / name,
        SDXL_CONFIG_DIR / "tokenizer",
        SD15_CONFIG_DIR / "tokenizer",
    )
    for folder in candidates:
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            extra = {} if folder.name == name else _tokenizer_overrides(config_dir, name)
            return CLIPTokenizer.from_pretrained(folder, local_files_only=True, **extra)
    bundled = bundled_tokenizer_dir(SDXL_CONFIG_DIR / "tokenizer")
    if bundled is not None:
        return CLIPTokenizer.from_pretrained(
            bundled, local_files_only=True, **_tokenizer_overrides(config_dir, name)
        )
    raise ValueError(
        f"SDXL checkpoint {path.name!r} needs CLIP's tokenizer files: install open_clip_torch (make does) or "
        f"put vocab.json and merges.txt from any SD1.x or SDXL diffusers folder's tokenizer/ in "
        f"{path.with_suffix('.config').name}/tokenizer/ next to it or in {SDXL_CONFIG_DIR / 'tokenizer'}."
    )


def _tokenizer_overrides(config_dir: Path, name: str) -> dict[str, Any]:
    """The pad token of the `name` config (tokenizer_2 pads with "!") when its vocabulary lives elsewhere."""
    for folder in (config_dir / name, SDXL_CONFIG_DIR / name):
        file = folder / "tokenizer_config.json"
        if file.is_file():
            pad = json.loads(file.read_text(encoding="utf-8")).get("pad_token")
            return {"pad_token": pad} if pad else {}
    return {}
