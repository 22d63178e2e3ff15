"""Weight patches (LoRA) applied to a cached module for the length of one use, then taken back off.

A MODEL or CLIP handle carries its patches as data; the cached base module is
never changed outside this context manager, so LoRA variants share one copy
of the base weights. Only the patched weights are backed up (not the whole
model), and they are copied back bit for bit: subtracting the delta again
would not give the same bits in fp16.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class WeightPatch(Protocol):
    def apply(self, module: Any, role: str, keep: Callable[[Any], None]) -> None:
        """Change the weights of `module` (the `role` part of a checkpoint) that this patch is for, in
        place, calling `keep(weight)` before changing each one."""


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

    def keep(weight: torch.Tensor) -> None:
        if id(weight) not in originals:  # a weight two patches change is saved once, before the first
            originals[id(weight)] = (weight, weight.detach().clone())

    try:
        with torch.no_grad():
            for patch in patches:
                patch.apply(module, role, keep)
        yield module
    finally:
        # A signal-raised exception (the worker's soft time limit) must not stop the restore halfway:
        # the cached model would keep part of the LoRA for every later execution. Signals wait.
        with _signals_held(), torch.no_grad():
            for weight, original in originals.values():
                weight.copy_(original)


@contextmanager
def _signals_held() -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
