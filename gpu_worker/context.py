"""The worker side of nodes.context.NodeContext: models, files, artifacts, progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_worker.model_cache import ModelCache
from gpu_worker.progress import ProgressReporter
from gpu_worker.protocol import RunSpec
from gpu_worker.storage import ArtifactStorage
from nodes.context import ExecutionCancelled
from nodes.model_store import ModelStore

CANCEL_CHECK_SECONDS = 0.5
log = logging.getLogger(__name__)


class UnknownFile(LookupError):
    pass


class WorkerContext:
    def __init__(
        self,
        *,
        spec: RunSpec,
        device: str,
        models: ModelCache,
        store: ModelStore,
        storage: ArtifactStorage,
        reporter: ProgressReporter,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        self.spec = spec
        self.device = device
        self.models = models
        self.node_id = ""
        self._store = store
        self._storage = storage
        self._reporter = reporter
        self._saved = 0
        self._cancelled = cancelled
        self._next_cancel_check = 0.0

    def model_path(self, folder: str, name: str) -> Path:
        return self._store.path(folder, name)

    def read_file(self, file_id: str) -> bytes:
        key = self.spec.files.get(file_id)
        if key is None:
            raise UnknownFile(f"File {file_id!r} is not part of this execution.")
        return self._storage.get(key)

    def _artifact_name(self, prefix: str) -> tuple[str, str]:
        """A new artifact's file name and object key: prefix, node id and a counter unique in the run."""
        self._saved += 1
        safe_prefix = "".join(c if c.isalnum() or c in "-_" else "_" for c in prefix)[:64] or "image"
        filename = f"{safe_prefix}_{self.node_id}_{self._saved:05d}.png"
        return filename, f"{self.spec.storage_prefix}{filename}"

    def save_image(self, png: bytes, *, width: int, height: int, prefix: str) -> dict[str, Any]:
        filename, key = self._artifact_name(prefix)
        self._storage.put(key, png, "image/png")
        return {
            "key": key,
            "filename": filename,
            "contentType": "image/png",
            "width": width,
            "height": height,
        }

    def reuse_artifacts(self, ui: dict[str, Any]) -> dict[str, Any] | None:
        """An earlier identical output's poll data with its artifacts copied under this execution's
        prefix (the same bytes, nothing re-encoded); None if one of them is gone (then the node runs)."""
        reused: dict[str, Any] = {}
        try:
            for name, items in ui.items():
                if isinstance(items, list) and all(isinstance(i, dict) and "key" in i for i in items):
                    copies = []
                    for item in items:
                        # Named as this node saves (its id, this run's counter): never another's file.
                        filename, key = self._artifact_name(item["filename"].rsplit("_", 2)[0])
                        self._storage.copy(item["key"], key)
                        copies.append({**item, "key": key, "filename": filename})
                    reused[name] = copies
                else:
                    reused[name] = items
        except Exception:
            log.warning("could not reuse earlier artifacts; the output node runs again", exc_info=True)
            return None
        return reused

    def progress(self, step: int, total: int) -> None:
        self._reporter.step(step, total)

    def check_cancelled(self) -> None:
        """Ask (at most twice a second) whether the execution was cancelled; raise if it was."""
        now = time.monotonic()
        if self._cancelled is None or now < self._next_cancel_check:
            return
        self._next_cancel_check = now + CANCEL_CHECK_SECONDS
        if self._cancelled():
            raise ExecutionCancelled(f"Execution {self.spec.execution_id} was cancelled.")
