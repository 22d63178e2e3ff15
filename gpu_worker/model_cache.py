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
    """Parameter and buffer bytes of every torch module reachable from obj's fields."""
    import torch

    seen: set[int] = set()
    total = 0

    def walk(value: Any) -> None:
        nonlocal total
        if isinstance(value, torch.nn.Module):
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

    walk(obj)
    return total


class ModelCache:
    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        self.hits = 0

    def get(self, key: tuple[Any, ...], loader: Callable[[], T]) -> T:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
        value = loader()
        size = model_bytes(value)
        with self._lock:
            self.loads += 1
            self._entries[key] = (value, size)
            self._evict(keep=key)
        log.info("loaded model %s (%.1f MiB)", key, size / 2**20)
        return value

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
            log.info("evicted model %s", key)
        _release_device_memory()

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._entries),
            "usedBytes": self.used_bytes(),
            "loads": self.loads,
            "hits": self.hits,
        }


def _release_device_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
