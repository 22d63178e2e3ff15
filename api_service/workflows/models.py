from __future__ import annotations

from django.db import models

from api_service.core.ids import new_id


def new_workflow_id() -> str:
    return new_id("wf")


def new_execution_id() -> str:
    return new_id("exe")


class ExecutionStatus(models.TextChoices):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = frozenset({ExecutionStatus.QUEUED, ExecutionStatus.RUNNING})
TERMINAL_STATUSES = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})


class Workflow(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_workflow_id, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    # ComfyUI API format: {node_id: {"class_type": ..., "inputs": {...}}}
    graph = models.JSONField()
    # Named inputs: {"prompt": {"node": "6", "input": "text"}}
    inputs = models.JSONField(default=dict, blank=True)
    pool = models.CharField(max_length=64, default="default")
    # Default completion webhook for its executions, signed with the tenant's secret (docs/webhooks.md).
    webhook_url = models.CharField(max_length=2048, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["tenant", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Execution(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_execution_id, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="executions")
    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.PROTECT, related_name="executions")
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED)
    # The resolved graph as it was submitted: later edits of the workflow never change it.
    graph = models.JSONField()
    inputs = models.JSONField(default=dict, blank=True)
    output_node_ids = models.JSONField(default=list)
    files = models.JSONField(default=dict, blank=True)
    pool = models.CharField(max_length=64, default="default")
    # The attempt whose events count (a fencing token: events of older attempts are ignored), and how many
    # attempts a run may take before it fails as worker_lost.
    attempt = models.PositiveIntegerField(default=1)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    # Past this the run is stopped and fails as a timeout (plan default, or lower from the execute body).
    deadline_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    outputs = models.JSONField(default=dict, blank=True)
    error = models.JSONField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Nodes whose results came from the worker's cache instead of being computed again.
    cached_nodes = models.JSONField(default=list, blank=True)
    # LLM endpoints the graph names, pinned at submit: name -> LlmEndpoint id (its config is read when
    # each attempt is published, so a rotated key applies). What the run consumed, from its terminal
    # event: {"llm": {"requests", "promptTokens", "completionTokens", "totalTokens"}}.
    llm_endpoint_ids = models.JSONField(default=dict, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    # Per-execution completion webhook from the execute body; events default to the terminal ones.
    webhook_url = models.CharField(max_length=2048, blank=True, default="")
    webhook_events = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["tenant", "-created_at"]),
            models.Index(fields=["workflow", "-created_at"]),
            models.Index(
                fields=["created_at"],
                name="exe_unpublished_idx",
                condition=models.Q(status="QUEUED", published_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.status}"

    @property
    def storage_prefix(self) -> str:
        return f"tenants/{self.tenant_id}/executions/{self.id}/"
