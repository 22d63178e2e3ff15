"""Loads Wan 2.1 (text-to-video and image-to-video, 1.3B and 14B) and Wan 2.2's 14B experts from
ComfyUI's files, offline.

``diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors`` (and the 14B, I2V and fp8 variants) hold the
transformer in the original layout (layout.py renames it to diffusers' WanTransformer3DModel), with or
without ``model.diffusion_model.``. The architecture is a sidecar ``NAME.config/transformer/config.json``
(tiny test models) or the shipped config whose width and input channels match the header (configs/);
every size the header gives away is compared with it first, so a file of another size fails at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.diffusion.handles import ModelHandle
from nodes.loaders.families import DIFFUSION_PREFIXES
from nodes.loaders.weights import diffusion_module, file_fp8_dtype, flow_dtype, fp8_storage, read_prefixed
from nodes.model_family import read_safetensors_header
from nodes.wan.layout import header_dims, original_to_diffusers
from nodes.wan.scaled_fp8 import dequantize, is_scaled_fp8

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
# (width, input channels, CLIP vision projection) -> shipped config: T2V takes the 16 latent channels, I2V
# 16 + 4 mask + 16 image. Wan 2.2's 14B experts are 2.1's 14B, its I2V without the CLIP vision projection.
SHIPPED = {
    (1536, 16, False): "t2v_1.3B",
    (5120, 16, False): "t2v_14B",
    (5120, 36, True): "i2v_14B",
    (5120, 36, False): "i2v_14B_2.2",
}
# ComfyUI's Wan 2.1 model sampling on load: flow matching, SD3's shift of 8, timesteps sigma * 1000.
WAN_SHIFT = 8.0
SIGNATURE_KEY = "blocks.0.self_attn.q.weight"


def prefix_of(header: dict[str, Any]) -> str:
    for prefix in DIFFUSION_PREFIXES[::-1]:
        if f"{prefix}patch_embedding.weight" in header and f"{prefix}{SIGNATURE_KEY}" in header:
            return prefix
    raise ValueError(
        "not a Wan 2.1 transformer in the original layout (no patch_embedding, blocks.0.self_attn)"
    )


def transformer_config(path: Path, header: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The diffusers config for the transformer in `header`, checked against its shapes."""
    found = header_dims(header, prefix)
    sidecar = path.with_suffix(".config") / "transformer" / "config.json"
    if sidecar.is_file():
        source = sidecar
    else:
        name = SHIPPED.get((found["hidden"], found["in_channels"], found["image_dim"] is not None))
        if name is None:
            known = ", ".join(f"{n} (width {w}, {c} input channels)" for (w, c, _), n in SHIPPED.items())
            raise ValueError(
                f"{path.name!r} is a Wan-layout transformer of width {found['hidden']} with "
                f"{found['in_channels']} input channels, which matches no Wan 2.1 model shipped here "
                f"({known}): "
                f"put its diffusers config in {path.with_suffix('.config').name}/transformer/config.json."
            )
        source = CONFIG_DIR / name / "transformer" / "config.json"
    config = {
        k: v for k, v in json.loads(source.read_text(encoding="utf-8")).items() if not k.startswith("_")
    }
    expected = {
        "hidden": int(config["num_attention_heads"]) * int(config["attention_head_dim"]),
        "in_channels": config["in_channels"],
        "patch_size": list(config["patch_size"]),
        "out_channels": config["out_channels"],
        "text_dim": config["text_dim"],
        "freq_dim": config["freq_dim"],
        "ffn_dim": config["ffn_dim"],
        "num_layers": config["num_layers"],
        "image_dim": config.get("image_dim"),
    }
    wrong = {k: (found[k], expected[k]) for k in found if found[k] != expected[k]}
    if wrong:
        detail = "; ".join(
            f"{k}: the file has {have}, the config {want}" for k, (have, want) in wrong.items()
        )
        raise ValueError(
            f"{path.name!r} is not the Wan 2.1 transformer its config ({source.parent.parent.name}/) "
            "describes: "
            f"{detail}. Put a matching config in {path.with_suffix('.config').name}/transformer/config.json."
        )
    return config


def load_wan_diffusion_model(path: Path, device: str, weight_dtype: str = "default") -> ModelHandle:
    """UNETLoader's Wan 2.1: a diffusion_models/ single file in the original layout."""
    from diffusers import WanTransformer3DModel

    from nodes.sampling.model_sampling import ModelSampling

    header = read_safetensors_header(path)
    try:
        prefix = prefix_of(header)
        config = transformer_config(path, header, prefix)
    except ValueError as exc:
        raise ValueError(f"Diffusion model {path.name!r}: {exc}") from None
    state = read_prefixed(path, prefix, what="Diffusion model")
    compute = flow_dtype(device)
    if is_scaled_fp8(state):  # ComfyUI's *_fp8_scaled files: dequantized, then computed as any other
        state = dequantize(state, compute)
    storage = fp8_storage(weight_dtype, file_fp8_dtype(state), device)
    model = diffusion_module(
        WanTransformer3DModel,
        config,
        lambda: original_to_diffusers(state),
        what=f"Wan model {path.name!r}",
        compute=compute,
        device=device,
        storage=storage,
        before_move=_rebuild_rope,
    )
    return ModelHandle(
        unet=model,
        scheduler_config={"num_train_timesteps": 1000},
        family="wan",
        model_sampling=ModelSampling.flow(shift=WAN_SHIFT, multiplier=1000.0),
    )


def _rebuild_rope(model: Any) -> None:
    """The rotary tables are buffers computed at init, not weights: built on the meta device they are
    empty, so the rope module is built again for real."""
    rope = model.rope
    model.rope = type(rope)(rope.attention_head_dim, rope.patch_size, rope.max_seq_len)
