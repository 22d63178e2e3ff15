"""Node results kept across executions in one worker, keyed by what determines them.

A node's key is a hash of its class type, its literal inputs and the keys of
the nodes feeding it (with the output index), plus the tenant: so rerunning
a workflow with only the seed changed recomputes only the sampler and what
follows it. Bounded by the bytes of the tensors held, least recently used
first out. Models themselves live in the model cache, not here.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from nodes.graph import is_link

ENTRY_OVERHEAD_BYTES = 1024


def node_cache_keys(
    graph: dict[str, Any],
    plan: list[str],
    *,
    scope: str,
    files: dict[str, str] | None = None,
    models: dict[str, dict[str, Any]] | None = None,
) -> dict[str, str]:
    """Cache key of every node in `plan` (topologically ordered).

    A file reference counts by the object it resolved to (`files`: reference -> object key), so a
    name uploaded again (ComfyUI's "example.png") is not served from an older upload's result. A
    model name counts with the identity of the file it names (`models`: node id -> {input: identity}),
    so nothing computed from weights since replaced under that name is ever served again.
    """
    files = files or {}
    models = models or {}
    keys: dict[str, str] = {}
    for node_id in plan:
        node = graph[node_id]
        parts: dict[str, Any] = {}
        for name, value in sorted((node.get("inputs") or {}).items()):
            if is_link(value):
                # A link to a node that is not run can only be an ignored input (nodes/graph_warnings.py).
                parts[name] = ["link", keys.get(value[0]), value[1]]
            elif name in models.get(node_id, {}):
                parts[name] = ["model", value, models[node_id][name]]
            elif isinstance(value, str) and value in files:
                parts[name] = ["file", files[value]]
            else:
                parts[name] = ["value", value]
        payload = json.dumps([scope, node["class_type"], parts], sort_keys=True, default=str)
        keys[node_id] = hashlib.sha256(payload.encode()).hexdigest()
    return keys


@dataclass(frozen=True)
class SavedArtifacts:
    """What an output node (SaveImage) leaves in the cache: its poll data, whose artifacts an identical
    rerun copies instead of encoding and uploading them again."""

    ui: dict[str, Any]


def holds_module(value: Any) -> bool:
    """Whether a node result reaches a torch module (a ControlNet inside a CONDITIONING's control).

    Such results are not kept: the module belongs to the model cache, and holding it here would pin
    it in memory after the model cache evicted it, outside both budgets.
    """
    import torch

    if isinstance(value, torch.nn.Module):
        return True
    if isinstance(value, dict):
        return any(holds_module(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_module(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return any(holds_module(getattr(value, name)) for name in value.__dataclass_fields__)
    return False


def tensor_bytes(value: Any) -> int:
    """Bytes of the tensors inside a node result (modules are the model cache's, not counted)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):  # a VIDEO holds its frames
        return sum(tensor_bytes(getattr(value, name)) for name in value.__dataclass_fields__)
    return 0


class NodeResultCache:
    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, tuple[tuple[Any, ...], int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Any, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, outputs: tuple[Any, ...]) -> None:
        # Every entry costs at least a little, so entries without tensors cannot grow without bound.
        size = max(tensor_bytes(outputs), ENTRY_OVERHEAD_BYTES)
        if self.budget_bytes <= 0 or size > self.budget_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._used -= self._entries.pop(key)[1]
            self._entries[key] = (outputs, size)
            self._used += size
            while self._used > self.budget_bytes and self._entries:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._used -= evicted

    def __len__(self) -> int:
        return len(self._entries)
