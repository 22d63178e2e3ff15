"""Weight patches (LoRA) applied to a cached module for the length of one use, then taken back off.

A MODEL or CLIP handle carries its patches as data; the cached base module is
never changed outside this context manager, so LoRA variants share one copy
of the base weights. Only the patched weights are backed up (not the whole
model), and they are copied back bit for bit: subtracting the delta again
would not give the same bits in fp16.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class WeightPatch(Protocol):
    def weight_deltas(self, module: Any, role: str) -> Iterator[tuple[Any, Any]]:
        """``(weight, delta)`` pairs for the weights of `module` (`role` of a checkpoint) this patch changes;
        each delta is shaped like its weight, on its device and in its dtype."""


@contextmanager
def patched(module: Any, patches: tuple[WeightPatch, ...], *, role: str) -> Iterator[Any]:
    """`module` with `patches` applied inside the block and the original weights restored after.

    `role` names which part of a checkpoint `module` is: "unet", "text_encoder" or "text_encoder_2"
    (SDXL's second CLIP), so a patch picks the weights meant for it. Patches stack: each adds its delta.
    The weights are restored on exit, also when the block (or applying a patch) raises.
    """
    if not patches:
        yield module
        return
    import torch

    originals: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    try:
        with torch.no_grad():
            for patch in patches:
                for weight, delta in patch.weight_deltas(module, role):
                    if id(weight) not in originals:
                        originals[id(weight)] = (weight, weight.detach().clone())
                    weight.add_(delta)
        yield module
    finally:
        with torch.no_grad():
            for weight, original in originals.values():
                weight.copy_(original)
