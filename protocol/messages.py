"""The wire contract between the control plane and the gpu workers: task names, the run spec, events.

Pure python on purpose: the api imports it to build run specs and to read events, the gpu worker to
read specs and to write events. It imports neither Django nor torch nor either side's code. A run spec
carries PROTOCOL_VERSION; a worker refuses a newer one (`ProtocolTooNew`), so a fleet can be upgraded
separately from the api. Live events (node started, progress, node completed) go to the execution's
event log (protocol/events.py); the state-changing ones below go to the control worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

# Bumped when a run spec or an event changes in a way an older side cannot read. A worker refuses a
# spec newer than it knows (the run fails protocol_mismatch); the api may keep sending older ones.
# 2: `llmEndpoints` (the OpenAI-compatible endpoints a graph names). A spec without any is still sent
# as version 1, so workers not yet upgraded keep running every graph that does not call an endpoint.
PROTOCOL_VERSION = 2
LLM_ENDPOINTS_VERSION = 2

EXECUTE_TASK = "crucible.gpu.execute"
APPLY_EVENT_TASK = "crucible.control.apply_event"
CONTROL_QUEUE = "control"
WEBHOOKS_QUEUE = "webhooks"

STARTED = "started"
COMPLETED = "completed"
FAILED = "failed"
# The worker is shutting down (SIGTERM) and gave the run back unfinished: the control plane queues
# the next attempt for another worker.
HANDED_BACK = "handed_back"
EVENT_TYPES = (STARTED, COMPLETED, FAILED, HANDED_BACK)

PROGRESS_KEY = "crucible:progress:{execution_id}"
# Set by the api when an execution is cancelled; a running worker checks it between steps and nodes.
CANCEL_KEY = "crucible:cancel:{execution_id}"
CANCEL_TTL_SECONDS = 24 * 3600
CANCELLED = "cancelled"  # what the worker's task returns for a run it stopped (no event: the row knows)


def gpu_queue(pool: str) -> str:
    return f"gpu.{pool}"


class LlmEndpointSpec(TypedDict):
    """One endpoint as the control plane resolved it for the tenant at submit time (docs/llm_endpoints.md).
    The API key stays encrypted (protocol/llm_credentials.py); only the worker decrypts it."""

    baseUrl: str  # e.g. http://ollama:11434/v1; the worker posts to {baseUrl}/chat/completions
    model: str  # the default model; the node's `model` input overrides it when set
    apiKeyEncrypted: str | None
    timeoutSeconds: float
    maxTokens: int  # the cap: a node asking for more is refused


class ProtocolTooNew(ValueError):
    """A run spec from a newer api than this worker understands."""


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to run one execution attempt, and nothing that needs a database."""

    execution_id: str
    attempt: int
    tenant_id: str
    graph: dict[str, Any]
    output_node_ids: list[str]
    storage_prefix: str
    # fileId -> object key, for LoadImage and file inputs.
    files: dict[str, str] = field(default_factory=dict)
    # Attempts allowed before the run fails as worker_lost (a run that kills its worker every time).
    max_attempts: int = 3
    # Wall-clock deadline (Unix seconds): past it the run stops and fails as a timeout. None: no deadline.
    deadline_at: float | None = None
    # Endpoint name (as the graph names it) -> its resolved configuration.
    llm_endpoints: dict[str, LlmEndpointSpec] = field(default_factory=dict)
    protocol_version: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "executionId": self.execution_id,
            "attempt": self.attempt,
            "tenantId": self.tenant_id,
            "graph": self.graph,
            "outputNodeIds": self.output_node_ids,
            "storagePrefix": self.storage_prefix,
            "files": self.files,
            "maxAttempts": self.max_attempts,
            "deadlineAt": self.deadline_at,
            "llmEndpoints": self.llm_endpoints,
            "protocolVersion": self.protocol_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        version = int(data.get("protocolVersion") or 1)
        if version > PROTOCOL_VERSION:
            raise ProtocolTooNew(
                f"This worker speaks run-spec protocol {PROTOCOL_VERSION}; the run needs {version}. "
                "Upgrade the gpu workers of this pool."
            )
        return cls(
            execution_id=data["executionId"],
            attempt=int(data["attempt"]),
            tenant_id=data["tenantId"],
            graph=data["graph"],
            output_node_ids=list(data["outputNodeIds"]),
            storage_prefix=data["storagePrefix"],
            files=dict(data.get("files") or {}),
            max_attempts=int(data.get("maxAttempts") or 3),
            deadline_at=float(data["deadlineAt"]) if data.get("deadlineAt") is not None else None,
            llm_endpoints=dict(data.get("llmEndpoints") or {}),
            protocol_version=version,
        )


def spec_version(*, llm_endpoints: dict[str, LlmEndpointSpec]) -> int:
    """The oldest protocol that can carry this spec: older workers keep running what they can."""
    return LLM_ENDPOINTS_VERSION if llm_endpoints else 1


def make_event(event_type: str, spec: RunSpec, **fields: Any) -> dict[str, Any]:
    """An event for the control worker; `at` orders nothing, the state machine does."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return {
        "type": event_type,
        "executionId": spec.execution_id,
        "attempt": spec.attempt,
        "at": datetime.now(UTC).isoformat(),
        **fields,
    }


class EventError(TypedDict):
    type: str  # one of protocol.errors.ERROR_TYPES
    message: str
    nodeId: NotRequired[str]
    classType: NotRequired[str]
    input: NotRequired[str]


class WorkerEvent(TypedDict):
    """What the control worker applies: `type` is STARTED, COMPLETED, FAILED or HANDED_BACK."""

    type: str
    executionId: str
    attempt: int  # the attempt's fencing token
    at: str  # ISO 8601
    worker: NotRequired[str]  # started, handed_back
    outputs: NotRequired[dict[str, Any]]  # completed: output node id -> its outputs
    error: NotRequired[EventError]  # failed
    durationMs: NotRequired[int]
    cachedNodes: NotRequired[list[str]]
    # completed, failed: what the run consumed, e.g. {"llm": {"requests", "promptTokens", ...}}.
    usage: NotRequired[dict[str, Any]]
