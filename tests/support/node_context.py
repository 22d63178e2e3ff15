"""A node context for tests that call node functions directly: the worker's real model cache and store.

gpu_worker.context.WorkerContext needs a run spec, S3 and Redis; node functions only need what
nodes.context.NodeContext names, so unit tests use this instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class NodeTestContext:
    node_id = "1"
    device = "cpu"
    text_encoder_device = "default"

    def __init__(self, root: Path | None = None, *, cache_bytes: int = 0) -> None:
        from gpu_worker.model_cache import ModelCache
        from nodes.model_store import ModelStore

        self.store = ModelStore(root, ttl_seconds=0) if root is not None else None
        self.models = ModelCache(budget_bytes=cache_bytes)  # 0: no budget, nothing is evicted
        self.steps: list[tuple[int, int]] = []
        self.files: dict[str, bytes] = {}  # fileId -> bytes, for loader nodes
        self.artifacts: dict[str, bytes] = {}  # file name -> the bytes an output node stored
        # LLM endpoints by name (gpu_worker.llm_endpoints.WorkerLlmEndpoint against a test's server).
        self.llm_endpoints: dict[str, Any] = {}
        self.usage: dict[str, dict[str, int]] = {}

    def model_path(self, folder: str, name: str) -> Path:
        from nodes.model_store import ModelNotFound

        if self.store is None:
            raise ModelNotFound(f"Model {name!r}: this test context has no model store.")
        return self.store.path(folder, name)

    def read_file(self, file_id: str) -> bytes:
        if file_id not in self.files:
            raise LookupError(f"File {file_id!r} is not part of this test context.")
        return self.files[file_id]

    def save_image(self, png: bytes, *, width: int, height: int, prefix: str) -> dict[str, Any]:
        raise NotImplementedError("this test context stores no artifacts (output nodes run on the stack)")

    def save_artifact(
        self,
        produce: Callable[[], bytes],
        *,
        content_type: str,
        extension: str,
        prefix: str,
        meta: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Kept in memory (the stack's e2e tests store them in S3): encoded at once, as a worker
        without a background encoder does."""
        filename = f"{prefix}_{len(self.artifacts) + 1:05d}.{extension}"
        data = produce()
        self.artifacts[filename] = data
        return {"filename": filename, "contentType": content_type, "sizeBytes": len(data), **meta}

    def progress(self, step: int, total: int) -> None:
        self.steps.append((step, total))

    def check_cancelled(self) -> None:
        pass

    def llm_endpoint(self, name: str) -> Any:
        if name not in self.llm_endpoints:
            raise ValueError(f"endpoint {name!r} is not configured for this run.")
        return self.llm_endpoints[name]

    def record_usage(self, kind: str, counters: Mapping[str, int]) -> None:
        totals = self.usage.setdefault(kind, {})
        for key, value in counters.items():
            totals[key] = totals.get(key, 0) + value

    def stepwise(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()
