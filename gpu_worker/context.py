"""The worker side of nodes.context.NodeContext: models, files, artifacts, progress."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from gpu_worker.encoder import ArtifactEncoder, ArtifactFailed
from gpu_worker.llm_endpoints import LlmAccess, WorkerLlmEndpoint
from gpu_worker.model_cache import ModelCache
from gpu_worker.progress import ProgressReporter
from gpu_worker.storage import ArtifactStorage
from nodes.context import ExecutionCancelled
from nodes.model_store import ModelStore, file_identity
from protocol.messages import RunSpec

CANCEL_CHECK_SECONDS = 0.5
NODE_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
MAX_NODE_ID_CHARS = 48
T = TypeVar("T")
log = logging.getLogger(__name__)


def media_type(content_type: str) -> str:
    """What poll calls a file: image (animated ones too), video, text or json."""
    if content_type.startswith("application/json"):
        return "json"
    major = content_type.split("/", 1)[0]
    return major if major in ("image", "video", "text") else "file"


class UnknownFile(LookupError):
    pass


def key_safe_node_id(node_id: str) -> str:
    """A node id as it may appear in a file name and object key: letters, digits and '-' kept, every
    other byte as ~XX (so '../../x' is '~2e~2e~2f~2e~2e~2fx'), and a long one cut with a hash of the
    whole so two ids never share a name. '_' is escaped too: it separates the name's parts."""
    encoded = "".join(c if c in NODE_ID_CHARS else "".join(f"~{b:02x}" for b in c.encode()) for c in node_id)
    if len(encoded) > MAX_NODE_ID_CHARS:
        digest = hashlib.sha256(node_id.encode()).hexdigest()[:12]
        encoded = f"{encoded[: MAX_NODE_ID_CHARS - 13]}-{digest}"
    return encoded or "~"


class RunModels:
    """The model cache as one run sees it: a key naming a model file this run resolved carries that
    file's identity (size, mtime), so weights replaced under the same name load anew."""

    def __init__(self, cache: ModelCache, identities: dict[str, tuple[int, ...]]) -> None:
        self._cache = cache
        self._identities = identities

    def get(self, key: tuple[Any, ...], loader: Callable[[], T]) -> T:
        stamps = tuple(self._identities[k] for k in key if isinstance(k, str) and k in self._identities)
        if not stamps:
            return self._cache.get(key, loader)
        return self._cache.get((*key, *stamps), loader, replaces=key)


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
        encoder: ArtifactEncoder | None = None,
        text_encoder_device: str = "default",
        llm: LlmAccess | None = None,
    ) -> None:
        self.spec = spec
        self.device = device
        self.text_encoder_device = text_encoder_device
        self._identities: dict[str, tuple[int, ...]] = {}  # path -> file identity, once per run
        self.models = RunModels(models, self._identities)
        self.node_id = ""
        self._store = store
        self._storage = storage
        self._reporter = reporter
        self._saved = 0
        self._cancelled = cancelled
        self._next_cancel_check = 0.0
        self._module_checks = False
        self._hook: Any = None  # torch's RemovableHandle while module calls check for a cancel
        # Without an encoder files are encoded and stored inline; with one, `pending` holds their jobs.
        self._encoder = encoder
        self.pending: list[Future[None]] = []
        self._llm = llm
        # What the run consumed (LLM tokens...), reported with its terminal event.
        self.usage: dict[str, dict[str, int]] = {}

    def model_path(self, folder: str, name: str) -> Path:
        path = self._store.path(folder, name)
        self.model_identity(path)
        return path

    def model_identity(self, path: Path) -> tuple[int, ...]:
        """The file's identity as this run first saw it: the node result cache and the model cache key
        on the same one, even if the file is replaced while the run goes on."""
        if str(path) not in self._identities:
            self._identities[str(path)] = file_identity(path)
        return self._identities[str(path)]

    def read_file(self, file_id: str) -> bytes:
        key = self.spec.files.get(file_id)
        if key is None:
            raise UnknownFile(f"File {file_id!r} is not part of this execution.")
        return self._storage.get(key)

    def _artifact_name(self, prefix: str, extension: str = "png") -> tuple[str, str]:
        """A new artifact's file name and object key: prefix, node id and a counter unique in the run."""
        self._saved += 1
        safe_prefix = "".join(c if c.isalnum() or c in "-_" else "_" for c in prefix)[:64] or "image"
        filename = f"{safe_prefix}_{key_safe_node_id(self.node_id)}_{self._saved:05d}.{extension}"
        return filename, f"{self.spec.storage_prefix}{filename}"

    def save_image(self, png: bytes, *, width: int, height: int, prefix: str) -> dict[str, Any]:
        filename, key = self._artifact_name(prefix)
        self._storage.put(key, png, "image/png")
        return {
            "key": key,
            "filename": filename,
            "contentType": "image/png",
            "mediaType": "image",
            "width": width,
            "height": height,
        }

    def save_artifact(
        self,
        produce: Callable[[], bytes],
        *,
        content_type: str,
        extension: str,
        prefix: str,
        meta: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Store one output file that `produce` encodes: now, or on the encoder's thread (then the run's
        terminal event waits for it). The descriptor gets `sizeBytes` once the file is stored."""
        filename, key = self._artifact_name(prefix, extension)
        descriptor: dict[str, Any] = {
            "key": key,
            "filename": filename,
            "contentType": content_type,
            "mediaType": media_type(content_type),
            **meta,
        }

        def store() -> None:
            data = produce()
            self._storage.put(key, data, content_type)
            descriptor["sizeBytes"] = len(data)

        if self._encoder is None:
            store()  # inline, a failure is the node's, reported as any other
            return descriptor
        node_id = self.node_id  # the job runs after the context moved on to other nodes

        def store_later() -> None:
            try:
                store()
            except Exception as exc:
                raise ArtifactFailed(node_id) from exc

        self.pending.append(self._encoder.submit(store_later))
        return descriptor

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
                        stem, _, extension = item["filename"].rpartition(".")
                        filename, key = self._artifact_name(stem.rsplit("_", 2)[0], extension or "png")
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

    def llm_endpoint(self, name: str) -> WorkerLlmEndpoint:
        spec = self.spec.llm_endpoints.get(name)
        if spec is None or self._llm is None:
            raise ValueError(
                f"endpoint {name!r} is not configured for this run (it was disabled or removed)."
            )
        return WorkerLlmEndpoint(name, spec, self._llm)

    def record_usage(self, kind: str, counters: Mapping[str, int]) -> None:
        totals = self.usage.setdefault(kind, {})
        for key, value in counters.items():
            totals[key] = totals.get(key, 0) + int(value)

    @contextlib.contextmanager
    def cancellable_modules(self) -> Iterator[None]:
        """While open, every torch module's forward first asks whether the run was cancelled (at most
        twice a second), so a cancel stops a long text encoding, VAE pass or upscale between layers
        rather than after the node. Process-wide: a gpu worker process runs one execution at a time."""
        self._module_checks = True
        self._hook_modules()
        try:
            yield
        finally:
            self._module_checks = False
            self._unhook_modules()

    @contextlib.contextmanager
    def stepwise(self) -> Iterator[None]:
        """The node checks between its own steps meanwhile, so the module hook is taken off: with any
        global hook registered torch calls every module the slow way, a few microseconds each, which a
        sampler's thousands of module calls per step would pay on every step."""
        self._unhook_modules()
        try:
            yield
        finally:
            if self._module_checks:
                self._hook_modules()

    def _hook_modules(self) -> None:
        from torch.nn.modules.module import register_module_forward_pre_hook

        if self._hook is None:
            self._hook = register_module_forward_pre_hook(lambda module, args: self.check_cancelled())

    def _unhook_modules(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def check_cancelled(self) -> None:
        """Ask (at most twice a second) whether the execution was cancelled; raise if it was."""
        now = time.monotonic()
        if self._cancelled is None or now < self._next_cancel_check:
            return
        self._next_cancel_check = now + CANCEL_CHECK_SECONDS
        if self._cancelled():
            raise ExecutionCancelled(f"Execution {self.spec.execution_id} was cancelled.")
