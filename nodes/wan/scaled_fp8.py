"""ComfyUI's "scaled fp8" files (``umt5_xxl_fp8_e4m3fn_scaled.safetensors``, ``*_fp8_scaled``): weights in
float8 with a float32 scale beside each one (``<module>.scale_weight``), the real weight being their
product; a ``scaled_fp8`` marker tensor, and ``<module>.scale_input`` activation hints that mean nothing
once the weight is dequantized. Dequantized on load to the compute dtype (no fp8 matmuls here).
"""

from __future__ import annotations

from typing import Any

MARKER = "scaled_fp8"
SCALE = ".scale_weight"


def is_scaled_fp8(state: dict[str, Any]) -> bool:
    return MARKER in state or any(key.endswith(SCALE) for key in state)


def dequantize(state: dict[str, Any], dtype: Any) -> dict[str, Any]:
    """The state with each scaled weight replaced by weight x scale in `dtype` (the compute dtype: one
    tensor at a time in float32, so a 14B file never stands in float32 whole) and the extras dropped."""
    out = {k: v for k, v in state.items() if k != MARKER and not k.endswith((SCALE, ".scale_input"))}
    for key, scale in state.items():
        if not key.endswith(SCALE):
            continue
        name = key[: -len(SCALE)] + ".weight"
        if name not in out:
            raise ValueError(f"a scaled fp8 file has {key} but no {name}")
        weight = out[name].float()
        scale = scale.float()
        if scale.numel() > 1:  # one scale per output row
            scale = scale.reshape(-1, *([1] * (weight.dim() - 1)))
        out[name] = (weight * scale).to(dtype)
    return out
