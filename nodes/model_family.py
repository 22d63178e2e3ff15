"""Which model family a file or folder in the model store holds, without torch and without reading weights.

A diffusers folder says it in its JSON configs. A ``.safetensors`` file starts
with a little-endian u64 length and a JSON header naming every tensor with its
shape, so the key names and a few shapes decide it (checkpoints, LoRAs,
ControlNets, VAEs, upscalers) after reading only those first bytes. Pickled
formats (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) give the same table from their
small pickled index, read by a restricted unpickler that runs no code and never
reads tensor bytes (nodes/pickled_weights.py).

Families: "sd15" (SD 1.x), "sd2" (SD 2.x, unCLIP too), "sdxl", "sdxl_refiner", "sd_vae" (an
SD/SDXL VAE on its own), "flux_vae" (FLUX.1's 16-channel ae.safetensors), "esrgan" (ESRGAN-style
upscalers), "clip_vision" (a CLIP image tower), "svd" (Stable Video Diffusion, for
ImageOnlyCheckpointLoader), the split files of nodes/loaders/families.py ("sd3", "flux_dev",
"flux_schnell", "t5xxl", "clip_l", "clip_g"; also whole FLUX and SD3 checkpoints) and "unknown".
Results are memoised per (path, mtime, size) so a store scan stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from nodes.loaders.families import split_family
from nodes.pickled_weights import PICKLED_SUFFIXES, scan_pickled

log = logging.getLogger(__name__)
_MAX_HEADER_BYTES = 100 * 2**20
_memo: dict[tuple[Any, ...], str] = {}


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The tensor table of a ``.safetensors`` file: {name: {"dtype", "shape", "data_offsets"}}."""
    with open(path, "rb") as file:
        length = int.from_bytes(file.read(8), "little")
        if not 0 < length <= _MAX_HEADER_BYTES:
            raise ValueError(f"{path.name}: not a safetensors file (header length {length}).")
        header = json.loads(file.read(length))
    if not isinstance(header, dict):
        raise ValueError(f"{path.name}: not a safetensors file (header is not an object).")
    header.pop("__metadata__", None)
    return header


def tensor_table(path: Path) -> dict[str, Any]:
    """{tensor name: {"shape": ...}} of a ``.safetensors`` or pickled weights file, no tensor read."""
    if path.suffix.lower() in PICKLED_SUFFIXES:
        scan = scan_pickled(path)
        if scan.refusal is not None:
            raise ValueError(f"{path.name}: {scan.refusal}.")
        return scan.tensors
    if path.suffix != ".safetensors":
        raise ValueError(f"{path.name}: not a weights file ({path.suffix or 'no suffix'}).")
    return read_safetensors_header(path)


def model_family(path: Path) -> str:
    """The family of a diffusers folder or a single weights file; "unknown" when it cannot tell."""
    try:
        stamp = _stamp(path)
    except OSError:
        return "unknown"
    key = (str(path), *stamp)
    if key not in _memo:
        if len(_memo) > 10_000:
            _memo.clear()  # stale (path, mtime) keys of replaced files: start over rather than grow
        try:
            _memo[key] = _folder_family(path) if path.is_dir() else _file_family(path)
        except Exception:  # best effort: one malformed file must never break listing or validation
            log.warning("cannot tell the family of %s", path, exc_info=True)
            _memo[key] = "unknown"
    return _memo[key]


def _stamp(path: Path) -> tuple[int, ...]:
    if not path.is_dir():
        stat = path.stat()
        return (stat.st_mtime_ns, stat.st_size)
    files = (path / "model_index.json", path / "unet" / "config.json", path / "config.json")
    stats = [os.stat(f) if f.is_file() else None for f in files]
    return tuple(v for s in stats for v in ((s.st_mtime_ns, s.st_size) if s else (0, -1)))


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _folder_family(path: Path) -> str:
    if (path / "model_index.json").is_file():
        unet_config = path / "unet" / "config.json"
        return _unet_config_family(_read_json(unet_config)) if unet_config.is_file() else "unknown"
    config = _read_json(path / "config.json")
    if config.get("_class_name") == "AutoencoderKL":
        return "sd_vae"
    if config.get("_class_name") in ("UNet2DConditionModel", "ControlNetModel"):
        return _unet_config_family(config)  # a ControlNet belongs to the family of its base UNet
    return "unknown"


def _unet_config_family(config: dict[str, Any]) -> str:
    cross = config.get("cross_attention_dim")
    if config.get("addition_embed_type") == "text_time":
        # The refiner's added input is bigG's pooled text (as wide as its context) + 5 size/score
        # embeddings; the base's has 6 and CLIP-L + bigG context.
        time_dim = int(config.get("addition_time_embed_dim") or 0)
        refiner = config.get("projection_class_embeddings_input_dim") == (cross or 0) + 5 * time_dim
        return "sdxl_refiner" if cross == 1280 or refiner else "sdxl"
    if cross == 1024 or config.get("use_linear_projection"):  # SD1's transformers project with convs
        return "sd2"
    return "sd15" if cross is not None else "unknown"


def _file_family(path: Path) -> str:
    if path.suffix.lower() in PICKLED_SUFFIXES:
        return state_family(scan_pickled(path).tensors)  # {} (so "unknown") for a refused pickle
    if path.suffix != ".safetensors":
        return "unknown"
    return state_family(tensor_table(path))


def state_family(shapes: dict[str, Any]) -> str:
    """The family from a safetensors header's tensor names (and a few shapes)."""
    keys = list(shapes)

    def has(*prefixes: str) -> bool:
        return any(k.startswith(prefixes) for k in keys)

    if "model.diffusion_model.input_blocks.1.0.time_stack.in_layers.0.weight" in shapes:
        return "svd"  # Stable Video Diffusion: SD's UNet layout with temporal ResBlocks (nodes/svd)
    if has("conditioner.embedders.1.model.", "conditioner.embedders.0.transformer."):
        return "sdxl"
    if has("conditioner.embedders.0.model."):
        return "sdxl_refiner"
    if has("cond_stage_model.model."):
        return "sd2"
    if has("cond_stage_model.transformer."):
        return "sd15"
    if (has("vision_model.encoder.") and not has("text_model.")) or has("visual.transformer."):
        return "clip_vision"  # an image tower for models/clip_vision/ (transformers or OpenCLIP keys)
    if any("lora_" in k or ".lora_A." in k or ".lora.down." in k for k in keys):
        return _lora_family(keys, shapes)
    if has("control_model."):
        sdxl = has("control_model.label_emb.")
        return "sdxl" if sdxl else _context_family(keys, shapes, "sd15")
    if has("controlnet_cond_embedding."):
        return "sdxl" if has("add_embedding.") else _context_family(keys, shapes, "sd15")
    split = split_family(shapes)
    if split == "sdxl_unet":  # a UNet on its own, with or without model.diffusion_model.
        return "sdxl"
    if split == "sd15_unet":
        return _context_family(keys, shapes, "sd15")
    if split != "unknown":  # FLUX, T5, CLIP
        return split
    if has("model.diffusion_model."):  # a UNet on its own
        return "sdxl" if has("model.diffusion_model.label_emb.") else _context_family(keys, shapes, "sd15")
    if has("encoder.conv_in.", "first_stage_model.encoder.") and has(
        "decoder.conv_in.", "first_stage_model."
    ):
        return _vae_family(shapes)
    if has("conv_first.", "RRDB_trunk.", "model.0.", "body.0.rdb1.") or any(".rdb1." in k for k in keys):
        return "esrgan"
    return "unknown"


def _vae_family(shapes: dict[str, Any]) -> str:
    """FLUX.1's VAE takes 16 latent channels where SD's takes 4."""
    for key in ("decoder.conv_in.weight", "first_stage_model.decoder.conv_in.weight"):
        entry = shapes.get(key)
        if isinstance(entry, dict) and len(entry.get("shape", ())) == 4:
            return "flux_vae" if int(entry["shape"][1]) == 16 else "sd_vae"
    return "sd_vae"


def _lora_family(keys: list[str], shapes: dict[str, Any]) -> str:
    if any(k.startswith(("lora_te2_", "text_encoder_2.", "lora_te2.")) for k in keys):
        return "sdxl"
    return _context_family(keys, shapes, "sd15")


def _context_family(keys: list[str], shapes: dict[str, Any], default: str) -> str:
    """By the text-context width that cross-attention keys take in: 2048 is SDXL's, 1024 SD2's."""
    for key in keys:
        flat = key.replace("_", ".")
        # The key projection of cross-attention (or a LoRA's down/A half of it) has shape (out, context).
        if "attn2.to.k" in flat and flat.endswith(("lora.down.weight", "lora.A.weight", "attn2.to.k.weight")):
            shape = shapes[key].get("shape") if isinstance(shapes[key], dict) else None
            if shape and len(shape) == 2:
                return {2048: "sdxl", 1024: "sd2"}.get(int(shape[-1]), default)
    return default
