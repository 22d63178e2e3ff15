"""Loads a ControlNet from ``models/controlnet/``, offline.

Two formats:

- a diffusers folder (``config.json`` + ``diffusion_pytorch_model.safetensors``);
- one ``.safetensors`` file: the original ControlNet layout (``control_model.*`` keys, as
  lllyasviel's ``control_v11p_sd15_*.safetensors``; the same keys without the prefix load too) or a
  diffusers-layout file (``controlnet_cond_embedding.*`` keys, as most SDXL ControlNets). The file holds
  weights only; its architecture comes from a sidecar folder ``NAME.config/config.json`` next to it when
  present, else from a shipped config: SDXL's (``configs/sdxl``) for a diffusers-layout file with SDXL's
  text-and-size embedding, SD1.5's (``configs/sd15``) otherwise. diffusers' single-file converter
  renames the keys with ``local_files_only``: no hub, no download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodes.controlnet.control import ControlNetHandle
from nodes.diffusion.model_files import read_weights, sidecar_or, weights_dtype

CONFIGS = Path(__file__).resolve().parent / "configs"
# SDXL's added text-and-size embedding, in the diffusers layout (the original one is not converted).
_SDXL_KEY = "add_embedding.linear_1.weight"
# One key that each known layout has: ldm with and without its prefix, diffusers.
_LAYOUT_KEYS = (
    "control_model.input_hint_block.0.weight",
    "input_hint_block.0.weight",
    "controlnet_cond_embedding.conv_in.weight",
)


def config_dir_for(path: Path, state: dict[str, Any]) -> Path:
    """The sidecar ``NAME.config/`` of ``NAME.safetensors`` if it has a config.json, else a shipped one."""
    return sidecar_or(path, CONFIGS / ("sdxl" if _SDXL_KEY in state else "sd15"), needs="config.json")


def load_controlnet(path: Path, device: str) -> ControlNetHandle:
    from diffusers import ControlNetModel

    dtype = weights_dtype(device)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(
                f"ControlNet {path.name!r} is a folder without config.json: not a diffusers model."
            )
        model = ControlNetModel.from_pretrained(
            path, torch_dtype=dtype, local_files_only=True, low_cpu_mem_usage=False
        )
    else:
        state = read_weights(path, "ControlNet")
        _check_layout(path, state)
        config_dir = config_dir_for(path, state)
        try:
            model = ControlNetModel.from_single_file(
                state, config=str(config_dir), torch_dtype=dtype, local_files_only=True
            )
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            # Shape mismatches land here: an SD2 or a mid-size SDXL ControlNet read with a shipped config.
            raise ValueError(
                f"ControlNet {path.name!r} does not match the config in {config_dir.name}/ (without a "
                f"sidecar NAME.config/, only full-size SD 1.x and SDXL ControlNets load): {_first_lines(exc)}"
            ) from exc
    model.to(device).eval().requires_grad_(False)
    return ControlNetHandle(model=model, name=path.name)


def _check_layout(path: Path, state: dict[str, Any]) -> None:
    if "lora_controlnet" in state:
        raise ValueError(f"ControlNet {path.name!r} is a Control-LoRA, which is not supported.")
    if any(key.startswith(("control_model.label_emb.", "label_emb.")) for key in state):
        # SDXL's class embedding in the original layout: diffusers' converter does not handle these.
        raise ValueError(
            f"ControlNet {path.name!r} is an SDXL ControlNet in the original (control_model.*) layout, "
            "which does not load; use its diffusers-layout release (diffusion_pytorch_model.safetensors)."
        )
    if not any(key in state for key in _LAYOUT_KEYS):
        raise ValueError(
            f"ControlNet {path.name!r} has no ControlNet weights (no control_model.input_hint_block.* or "
            "controlnet_cond_embedding.*): T2I-Adapters and other control models are not supported."
        )


def _first_lines(exc: Exception, count: int = 3) -> str:
    # A shape mismatch lists every tensor; the first few say enough.
    lines = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in lines[:count]) + (" ..." if len(lines) > count else "")
