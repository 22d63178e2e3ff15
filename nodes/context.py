"""What a node function may ask of the worker that runs it.

A Protocol so nodes stay free of worker imports; gpu_worker.context
implements it. Nodes do no I/O of their own: files, artifacts, models and
progress all go through here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class ExecutionCancelled(Exception):
    """Raised by NodeContext.check_cancelled once the execution was cancelled: stop at once."""

    reason = "cancelled"


class DeadlineExceeded(ExecutionCancelled):
    """The execution ran past its deadline: stop at once; it fails as a timeout."""

    reason = "deadline"


class HandedBack(ExecutionCancelled):
    """The worker is shutting down and its grace period ran out: give the run back to the fleet."""

    reason = "handed_back"


class AttemptSuperseded(ExecutionCancelled):
    """A newer attempt of the execution holds its lease: stop; this attempt's events would be ignored."""

    reason = "superseded"


class ModelProvider(Protocol):
    def get(self, key: tuple[Any, ...], loader: Callable[[], T]) -> T:
        """The cached model for `key`, loading it with `loader` on a miss."""


class LlmEndpoint(Protocol):
    """An OpenAI-compatible endpoint of the run (gpu_worker/llm_endpoints.py): its defaults, and a POST
    through the worker's SSRF guard with the endpoint's key."""

    name: str
    model: str  # the endpoint's default model
    max_tokens: int  # the cap ops set

    def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        """(status, body) of a POST to the endpoint's base URL + `path`; raises LlmEndpointFailed
        (nodes/llm_remote/chat.py) when no answer comes."""


class NodeContext(Protocol):
    node_id: str
    device: str
    # Where text encoders load: "default" (`device`) or "cpu" (the worker's TEXT_ENCODER_DEVICE).
    text_encoder_device: str

    @property
    def models(self) -> ModelProvider:
        """The worker's model cache (read-only here, so any ModelProvider implementation fits)."""

    def model_path(self, folder: str, name: str) -> Path:
        """Absolute path of a model file or folder listed in the model store."""

    def read_file(self, file_id: str) -> bytes:
        """The bytes of an uploaded file the run spec names."""

    def save_image(self, png: bytes, *, width: int, height: int, prefix: str) -> dict[str, Any]:
        """Store one output PNG; returns its descriptor for the node's outputs."""

    def save_artifact(
        self,
        produce: Callable[[], bytes],
        *,
        content_type: str,
        extension: str,
        prefix: str,
        meta: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Store one output file (a video, an animation, a text) whose bytes `produce` encodes, maybe
        later, off the GPU's critical path; `meta` (width, frames, fps ...) goes into its descriptor."""

    def progress(self, step: int, total: int) -> None:
        """Report progress inside the current node (sampler steps)."""

    def llm_endpoint(self, name: str) -> LlmEndpoint:
        """The run's endpoint of that name (resolved for the tenant when the run was submitted)."""

    def record_usage(self, kind: str, counters: Mapping[str, int]) -> None:
        """Add metered consumption to the execution's `usage[kind]` (LLM tokens, requests)."""

    def check_cancelled(self) -> None:
        """Raise ExecutionCancelled if the execution was cancelled (cheap: call it often)."""

    def stepwise(self) -> AbstractContextManager[None]:
        """While open, the node calls check_cancelled itself between short steps (a sampler loop), so the
        worker pauses its check on every torch module call, which costs a little on each of them."""
