"""Request shapes (input) and response shapes (output); no logic lives here."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api_service.http.fields import BoundedJSONField
from api_service.webhooks.models import EVENT_TYPES
from api_service.workflows import selectors
from api_service.workflows.graph_check import registry
from api_service.workflows.named_inputs import describe_named_inputs
from api_service.workflows.output_shapes import OUTPUTS_FIELD


class WorkflowCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    graph = BoundedJSONField(help_text="The graph in ComfyUI's API format.")
    inputs = BoundedJSONField(
        required=False, default=dict, help_text='{"prompt": {"node": "6", "input": "text"}}'
    )
    webhookUrl = serializers.CharField(
        max_length=2048,
        required=False,
        allow_blank=True,
        default="",
        help_text="Default completion webhook of its executions (docs/webhooks.md).",
    )
    pool = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="The gpu pool its executions run on (GET /v1/pools lists them). Default: the "
        "deployment's default pool.",
    )


class WorkflowUpdateInput(WorkflowCreateInput):
    """PUT: the whole workflow again. PATCH uses it with partial=True."""


class ExecuteInput(serializers.Serializer):
    inputs = serializers.DictField(required=False, default=dict, help_text="Values for the named inputs.")
    webhookUrl = serializers.CharField(
        max_length=2048,
        required=False,
        allow_blank=True,
        default="",
        help_text="Told about this execution, signed with the tenant's secret (docs/webhooks.md).",
    )
    webhookEvents = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENT_TYPES)),
        required=False,
        allow_null=True,
        default=None,
        min_length=1,
        help_text="Default: the terminal events.",
    )
    deadlineSeconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="Stop the execution this many seconds after submission (FAILED, timeout). At most the "
        "plan's deadline; default: the plan's.",
    )


class WorkflowSummaryOutput(serializers.Serializer):
    """A list item: everything but the graph, so a page stays small whatever the graphs weigh."""

    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    inputs = serializers.SerializerMethodField()
    webhookUrl = serializers.CharField(source="webhook_url")
    pool = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_inputs(self, workflow) -> dict:
        return describe_named_inputs(workflow.graph, workflow.inputs, registry())


class GraphWarningOutput(serializers.Serializer):
    """Something in the graph that does not run; the workflow runs anyway (docs/api.md, Warnings)."""

    nodeId = serializers.CharField()
    classType = serializers.CharField()
    input = serializers.CharField()
    type = serializers.CharField(help_text='"ignored_input": the node has no such input; ComfyUI ignores it.')
    message = serializers.CharField()


class WorkflowOutput(WorkflowSummaryOutput):
    graph = serializers.JSONField()
    warnings = serializers.SerializerMethodField()

    @extend_schema_field(GraphWarningOutput(many=True))
    def get_warnings(self, workflow) -> list[dict]:
        return selectors.graph_warnings(graph=workflow.graph)


class ExecutionAcceptedOutput(serializers.Serializer):
    executionId = serializers.CharField(source="id")
    status = serializers.CharField()
    pollUrl = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()

    @extend_schema_field(GraphWarningOutput(many=True))
    def get_warnings(self, execution) -> list[dict]:
        return selectors.graph_warnings(graph=execution.graph)

    def get_pollUrl(self, execution) -> str:
        path = f"/v1/workflows/executions/{execution.id}/poll"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ExecutionSummaryOutput(serializers.Serializer):
    executionId = serializers.CharField(source="id")
    workflowId = serializers.CharField(source="workflow_id")
    status = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)
    error = serializers.JSONField(allow_null=True)
    outputs = serializers.SerializerMethodField()

    @extend_schema_field(OUTPUTS_FIELD)
    def get_outputs(self, execution) -> dict:
        return selectors.execution_public_outputs(execution=execution)


class ExecutionPollOutput(ExecutionSummaryOutput):
    progress = serializers.SerializerMethodField()
    waiting = serializers.SerializerMethodField()
    inputs = serializers.JSONField()
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)
    cachedNodes = serializers.JSONField(source="cached_nodes")
    attempt = serializers.IntegerField(help_text="1, or more once the run was retried on another worker.")
    deadlineAt = serializers.DateTimeField(source="deadline_at", allow_null=True)
    usage = serializers.JSONField(
        help_text='What the run consumed, e.g. {"llm": {"requests", "promptTokens", "completionTokens", '
        '"totalTokens"}}; {} when nothing metered ran.'
    )

    def get_progress(self, execution) -> dict | None:
        return selectors.execution_progress(execution=execution)

    def get_waiting(self, execution) -> dict | None:
        return selectors.execution_waiting(execution=execution)
