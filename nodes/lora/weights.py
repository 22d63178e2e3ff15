"""A LoRA file in memory, the layers it patches in a given module, and the patch a handle carries.

The model cache holds one `LoraWeights` per file, so a rerun neither rereads the file nor resolves its
keys again: the key -> layer resolution is kept on it, per (module, role), weakly keyed by the module so
an evicted checkpoint is not kept alive. One worker process runs one execution at a time, so the
in-place patching in nodes/diffusion/patching.py never races.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodes.lora.keys import UnsupportedLoraKey, layer_aliases, parse_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoraLayer:
    """One low-rank pair of the file: ``delta = up @ down * scale``."""

    role: str
    path: str  # the layer path as the file writes it, "." as "_"
    key: str  # the file's key of `down`, for messages
    index: int  # its tensors are the module's buffers down_<index> and up_<index>
    scale: float  # alpha / rank (1 without alpha)


class LoraWeights(torch.nn.Module):
    """The tensors of a LoRA file; an nn.Module so the model cache counts their bytes against its budget."""

    def __init__(self, name: str, tensors: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.name = name
        self.layers: list[LoraLayer] = []
        self._resolved: weakref.WeakKeyDictionary[Any, dict[str, list[tuple[str, LoraLayer]]]] = (
            weakref.WeakKeyDictionary()
        )
        groups: dict[tuple[str, str], dict[str, tuple[str, torch.Tensor]]] = {}
        skipped = []
        for key, tensor in tensors.items():
            try:
                parsed = parse_key(key)
            except UnsupportedLoraKey as exc:  # LoHa, LoKr and other adapter kinds
                raise UnsupportedLoraKey(f"LoRA {name!r}: {exc}") from None
            if parsed is None:
                skipped.append(key)
                continue
            role, path, part = parsed
            groups.setdefault((role, path), {})[part] = (key, tensor)
        for (role, path), parts in sorted(groups.items()):
            if "down" not in parts or "up" not in parts:
                skipped.extend(key for key, _ in parts.values())
                continue
            (down_key, down), (_, up) = parts["down"], parts["up"]
            rank = down.shape[0]
            if up.shape[1] != rank:
                raise ValueError(
                    f"LoRA {name!r}: {down_key!r} has rank {rank} but its up weight has {up.shape[1]}."
                )
            alpha = float(parts["alpha"][1]) if "alpha" in parts else float(rank)
            index = len(self.layers)
            self.register_buffer(f"down_{index}", down, persistent=False)
            self.register_buffer(f"up_{index}", up, persistent=False)
            self.layers.append(LoraLayer(role, path, down_key, index, alpha / rank))
        if skipped:
            log.warning("LoRA %s: %d keys are not LoRA weights, skipped: %s", name, len(skipped), skipped[:5])
        if not self.layers:
            raise ValueError(
                f"LoRA {name!r} holds no LoRA weights: expected kohya keys (lora_unet_*.lora_down.weight, "
                "lora_up.weight, alpha) or diffusers/PEFT keys (unet.*.lora_A.weight, lora_B.weight)."
            )

    def roles(self) -> set[str]:
        return {layer.role for layer in self.layers}

    def resolve(self, module: Any, role: str) -> list[tuple[str, LoraLayer]]:
        """``(module path, layer)`` of each `role` layer of the file that `module` has; others are logged."""
        by_role = self._resolved.setdefault(module, {})
        if role not in by_role:
            by_role[role] = self._resolve(module, role)
        return by_role[role]

    def _resolve(self, module: Any, role: str) -> list[tuple[str, LoraLayer]]:
        aliases = layer_aliases(module, role)
        found: list[tuple[str, LoraLayer]] = []
        missed: list[str] = []
        for layer in self.layers:
            if layer.role != role:
                continue
            target = aliases.get(layer.path)
            if target is None:
                missed.append(layer.key)
                continue
            self._check_shape(layer, target, module.get_submodule(target).weight)
            found.append((target, layer))
        if missed:
            log.warning(
                "LoRA %s: %d %s keys match no layer of this model and are skipped: %s",
                self.name,
                len(missed),
                role,
                missed[:5],
            )
        return found

    def _check_shape(self, layer: LoraLayer, target: str, weight: torch.Tensor) -> None:
        down, up = self.tensors(layer)
        out_ok = up.shape[0] == weight.shape[0]
        in_ok = down[0].numel() == weight[0].numel()
        if not (out_ok and in_ok):
            raise ValueError(
                f"LoRA {self.name!r}: {layer.key!r} makes a {up.shape[0]}x{down[0].numel()} change but the "
                f"model's layer {target!r} has shape {tuple(weight.shape)}: is the LoRA for another model?"
            )

    def tensors(self, layer: LoraLayer) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"down_{layer.index}"), getattr(self, f"up_{layer.index}")

    def add_to(self, layer: LoraLayer, weight: torch.Tensor, strength: float) -> None:
        """``weight += up @ down * alpha / rank * strength``, in place, on its device and in its dtype."""
        down, up = self.tensors(layer)
        down = down.to(weight.device, weight.dtype).flatten(1)
        up = up.to(weight.device, weight.dtype).flatten(1)
        scale = layer.scale * strength
        if weight.is_contiguous():  # one fused multiply-add, no full-size delta in memory
            weight.view(weight.shape[0], -1).addmm_(up, down, alpha=scale)
        else:
            weight.add_((up @ down).reshape(weight.shape), alpha=scale)


@dataclass(frozen=True, eq=False)
class LoraPatch:
    """One LoRA at one strength, as a MODEL or CLIP handle carries it (see nodes/diffusion/patching.py)."""

    lora: LoraWeights
    strength: float

    def apply(self, module: Any, role: str, keep: Callable[[torch.Tensor], None]) -> None:
        for target, layer in self.lora.resolve(module, role):
            weight = module.get_submodule(target).weight
            keep(weight)
            self.lora.add_to(layer, weight, self.strength)


def load_lora(path: Path, name: str, device: str) -> LoraWeights:
    """Read a LoRA (``.safetensors``, or a weights-only ``.pt``/``.pth``/``.ckpt``/``.bin``) onto `device`."""
    from nodes.weights_file import read_weights

    if path.is_dir():
        raise ValueError(f"LoRA {name!r} is a folder; a LoRA is one weights file.")
    return LoraWeights(name, read_weights(path, "LoRA", device=device)).eval()
