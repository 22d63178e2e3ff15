"""Weight patches (LoRA) applied to a cached module for the length of one use, then taken back off.

A MODEL or CLIP handle carries its patches as data; the cached base module is
never changed outside this context manager, so LoRA variants share one copy
of the base weights. Only the patched weights are backed up (not the whole
model), and they are copied back bit for bit: subtracting the delta again
would not give the same bits in fp16.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
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
        _restore(list(originals.values()))


def _restore(saved: list[tuple[Any, Any]]) -> None:
    """Copy every saved weight back, whatever signal arrives meanwhile.

    A signal-raised exception (the worker's soft time limit) must not stop the restore halfway: the
    cached model would keep part of the LoRA for every later execution. Signal handlers wait until the
    last weight is back (_handlers_deferred); one that still got in first (it landed in the instant
    before they were deferred) is kept, the restore carries on, and its exception is raised after.
    """
    import torch

    interrupted: BaseException | None = None
    while saved:
        try:
            with _handlers_deferred(), torch.no_grad():
                while saved:
                    weight, original = saved[-1]
                    weight.copy_(original)
                    saved.pop()
        except BaseException as exc:
            if not saved or interrupted is not None:  # a deferred handler's, once all is back; or a 2nd
                raise
            interrupted = exc
    if interrupted is not None:
        raise interrupted


@contextmanager
def _handlers_deferred() -> Iterator[None]:
    """Python signal handlers run inside the block only as a note; the handlers run for real after it.

    Blocking signals in this thread (pthread_sigmask) is not enough: the kernel hands a process-wide
    signal to any thread that does not block it (torch's worker threads), and CPython then runs the
    Python handler in the main thread anyway, at the next bytecode. So the handlers themselves are
    swapped for one that records the signal. They only ever run in the main thread, so elsewhere
    there is nothing to defer.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, FrameType | None]] = []

    def note(signum: int, frame: FrameType | None) -> None:
        caught.append((signum, frame))

    swapped: dict[int, Callable[[int, FrameType | None], Any]] = {}
    try:
        for signum in signal.valid_signals():
            handler = signal.getsignal(signum)
            if callable(handler):  # SIG_DFL / SIG_IGN / a C-level handler: nothing runs in Python
                swapped[signum] = handler
                signal.signal(signum, note)
        yield
    finally:
        for number, handler in swapped.items():
            signal.signal(number, handler)
        for arrived, frame in caught:
            swapped[arrived](arrived, frame)
