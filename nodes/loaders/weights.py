"""Reading split model files and choosing the dtypes they run in (worker side: torch).

Only a safetensors header is read to decide things; tensors are read by prefix, so a whole
checkpoint's text encoders are never in memory beside its diffusion model twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

FP8_CHOICES = ("fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")


def read_prefixed(path: Path, prefix: str = "", *, what: str = "Model") -> dict[str, Any]:
    """The tensors of `path` whose names start with `prefix`, with the prefix taken off."""
    if path.suffix != ".safetensors":
        raise ValueError(f"{what} {path.name!r}: only .safetensors files load (got {path.suffix}).")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as file:
        return {key[len(prefix) :]: file.get_tensor(key) for key in file.keys() if key.startswith(prefix)}


def flow_dtype(device: str) -> Any:
    """The dtype flow-matching families (FLUX, SD3) and T5 compute in: bf16 on a GPU that has it,
    float16 on an older GPU, float32 on the CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def fp8_storage(weight_dtype: str, file_fp8: Any, device: str) -> Any:
    """The float8 dtype to keep weights in (UNETLoader's weight_dtype, or the file's own fp8), or None
    to hold them in the compute dtype. Only on CUDA: the CPU upcasts (fp8 kernels there are slow)."""
    import torch

    if weight_dtype not in ("default", *FP8_CHOICES):
        raise ValueError(
            f"weight_dtype must be one of default, {', '.join(FP8_CHOICES)}; got {weight_dtype!r}."
        )
    if not device.startswith("cuda"):
        return None
    if weight_dtype == "fp8_e5m2":
        return torch.float8_e5m2
    if weight_dtype in FP8_CHOICES:
        return torch.float8_e4m3fn
    return file_fp8


def file_fp8_dtype(state: dict[str, Any]) -> Any:
    """The float8 dtype most of the state's weights are stored in, or None."""
    import torch

    fp8 = [t.dtype for t in state.values() if t.dtype in (torch.float8_e4m3fn, torch.float8_e5m2)]
    return max(set(fp8), key=fp8.count) if len(fp8) * 2 > len(state) else None


def module_from_state(
    cls: Any, config: Any, state: dict[str, Any], dtype: Any, *, strict: bool = True, device: str = "cpu"
) -> tuple[Any, list[str]]:
    """`cls(config)` built on the meta device and given the state's tensors in `dtype` on `device` (no
    random init). `state` is emptied as the tensors move, so at most one tensor is held twice (on a GPU the
    weights go straight there). Returns the module and the load result's missing keys."""
    import torch

    with torch.device("meta"):
        module = cls(config) if not isinstance(config, dict) else cls(**config)
    moved: dict[str, Any] = {}
    for key in list(state):
        tensor = state.pop(key)
        moved[key] = tensor.to(device, dtype) if tensor.is_floating_point() else tensor.to(device)
        del tensor
    result = module.load_state_dict(moved, strict=strict, assign=True)
    return module, list(result.missing_keys)


def diffusion_module(
    cls: Any,
    config: Any,
    convert: Callable[[], dict[str, Any]],
    *,
    what: str,
    compute: Any,
    device: str,
    storage: Any = None,
    before_move: Callable[[Any], None] | None = None,
) -> Any:
    """A flow family's network (FLUX, SD3, Wan, LTX-Video) from the diffusers-named state `convert`
    returns, ready for inference on `device`: a file that does not fit fails with `what` named. With a
    float8 `storage` the weights stay float8 in memory and each layer is upcast to `compute` while it
    runs. `before_move` fixes the module up first (buffers the meta device left empty)."""
    try:
        model, missing = module_from_state(cls, config, convert(), compute, device=device)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(f"{what} does not load: {exc}") from exc
    if missing:
        raise ValueError(f"{what} lacks weights: {', '.join(missing[:5])}.")
    if before_move is not None:
        before_move(model)
    model.to(device).eval().requires_grad_(False)
    if storage is not None:
        model.enable_layerwise_casting(storage_dtype=storage, compute_dtype=compute)
    return model


SCALED_FP8_MARKER = "scaled_fp8"  # an empty tensor ComfyUI's "fp8 scaled" files carry


def dequantize_scaled_fp8(state: dict[str, Any], dtype: Any) -> dict[str, Any]:
    """ComfyUI's "fp8 scaled" files (``*_fp8_scaled.safetensors``, ``t5xxl_fp8_e4m3fn_scaled``): each float8
    ``X.weight`` has a ``X.scale_weight`` it is multiplied by; ``X.scale_input`` only serves fp8 matmuls.
    Returns the state with every scaled weight as `weight * scale` in `dtype` (one tensor at a time, so
    no second copy of the model), the scales and the marker gone. A state without them is returned as is."""
    scales = [key for key in state if key.endswith(".scale_weight")]
    if not scales and SCALED_FP8_MARKER not in state:
        return state
    for key in scales:
        scale = state.pop(key)
        weight = key.removesuffix("scale_weight") + "weight"
        if weight in state:
            state[weight] = state[weight].to(dtype) * scale.to(dtype)
    for key in [k for k in state if k.endswith(".scale_input") or k == SCALED_FP8_MARKER]:
        del state[key]
    return state
