"""The only owner of model memory in a worker: load once, reuse, evict least recently used.

The budget is bytes of parameters and buffers (VRAM on a GPU, RAM on the
CPU). A model bigger than the whole budget still loads, alone.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def model_bytes(obj: Any) -> int:
    """Parameter and buffer bytes of every torch module reachable from obj's fields, plus the stated
    `model_cache_bytes` of any other model among them."""
    import torch

    seen: set[int] = set()
    total = 0

    def walk(value: Any) -> None:
        nonlocal total
        if isinstance(getattr(value, "model_cache_bytes", None), int):
            # A model outside torch (an onnxruntime session) states its own size.
            total += value.model_cache_bytes
        elif isinstance(value, torch.nn.Module):
            for tensor in [*value.parameters(), *value.buffers()]:
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    total += tensor.numel() * tensor.element_size()
        elif hasattr(value, "__dataclass_fields__"):
            for name in value.__dataclass_fields__:
                walk(getattr(value, name))
        elif isinstance(value, (tuple, list)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):  # a checkpoint's extras (unCLIP's image tower)
            for item in value.values():
                walk(item)

    walk(obj)
    return total


class ModelCache:
    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        self.hits = 0
        self.evictions = 0

    def get(self, key: tuple[Any, ...], loader: Callable[[], T], *, replaces: tuple[Any, ...] = ()) -> T:
        """The cached model for `key`, loaded on a miss. Entries whose key starts with `replaces` (the
        same file at an older identity, as the worker context passes it) are dropped on a load: the
        file they came from is gone, so they would only hold memory."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
            if replaces:
                for old in [k for k in self._entries if k[: len(replaces)] == replaces]:
                    del self._entries[old]
                    log.info("dropped model %s: its file was replaced", old)
        value = loader()
        size = model_bytes(value)
        with self._lock:
            self.loads += 1
            self._entries[key] = (value, size)
            self._evict(keep=key)
        log.info("loaded model %s (%.1f MiB)", key, size / 2**20)
        return value

    def clear(self) -> None:
        """Drop every model (after running out of device memory) and give the memory back."""
        with self._lock:
            self._entries.clear()
        release_memory()

    def __len__(self) -> int:
        return len(self._entries)

    def used_bytes(self) -> int:
        return sum(size for _, size in self._entries.values())

    def _evict(self, *, keep: tuple[Any, ...]) -> None:
        if self.budget_bytes <= 0:
            return
        while self.used_bytes() > self.budget_bytes and len(self._entries) > 1:
            key = next(iter(self._entries))
            if key == keep:
                break
            del self._entries[key]
            self.evictions += 1
            log.info("evicted model %s", key)
        release_memory(collect=False)

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._entries),
            "usedBytes": self.used_bytes(),
            "budgetBytes": self.budget_bytes,
            "loads": self.loads,
            "hits": self.hits,
            "evictions": self.evictions,
        }


def release_memory(*, collect: bool = True) -> None:
    """Give freed tensors back: collect reference cycles (a failed node's traceback holds its frames'
    tensors), then return the CUDA allocator's cached blocks to the device."""
    import gc

    import torch

    if collect:
        gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
