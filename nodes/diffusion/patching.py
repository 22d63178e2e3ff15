"""Weight patches (LoRA) applied to a cached module for the length of one use, then taken back off.

A MODEL or CLIP handle carries its patches as data; the cached base module is
never changed outside this context manager, so LoRA variants share one copy
of the base weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def patched(module: Any, patches: tuple[Any, ...], *, role: str) -> Iterator[Any]:
    """`module` with `patches` applied inside the block and the original weights restored after.

    `role` names which part of a checkpoint `module` is: "unet", "text_encoder" or "text_encoder_2"
    (SDXL's second CLIP), so a patch picks the weights meant for it.
    """
    if patches:
        raise NotImplementedError("Weight patches (LoRA) are not supported yet.")
    yield module
