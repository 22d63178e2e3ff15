"""HTTP endpoints for workflows and executions: parse, call a service or selector, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import (
    EXECUTIONS_READ,
    WORKFLOWS_EXECUTE,
    WORKFLOWS_READ,
    WORKFLOWS_WRITE,
)
from api_service.http.schema import PAGE_PARAMETERS, paginated
from api_service.http.views import ApiView
from api_service.workflows import selectors, services
from api_service.workflows.serializers import (
    ExecuteInput,
    ExecutionAcceptedOutput,
    ExecutionPollOutput,
    ExecutionSummaryOutput,
    WorkflowCreateInput,
    WorkflowOutput,
    WorkflowSummaryOutput,
    WorkflowUpdateInput,
)

WORKFLOW_PAGE = paginated(WorkflowSummaryOutput, "WorkflowPage")
EXECUTION_PAGE = paginated(ExecutionSummaryOutput, "ExecutionPage")


class WorkflowCollectionView(ApiView):
    required_scopes = {"GET": WORKFLOWS_READ, "POST": WORKFLOWS_WRITE}

    @extend_schema(
        responses=WORKFLOW_PAGE,
        parameters=PAGE_PARAMETERS,
        operation_id="workflows_list",
    )
    def get(self, request: Request) -> Response:
        return self.paginate(
            selectors.workflow_list(tenant=self.principal.tenant, only=self.principal.workflow_ids),
            WorkflowSummaryOutput,  # no graph: GET /v1/workflows/{id} has it
        )

    @extend_schema(
        request=WorkflowCreateInput, responses={201: WorkflowOutput}, operation_id="workflows_create"
    )
    def post(self, request: Request) -> Response:
        data = WorkflowCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["webhook_url"] = values.pop("webhookUrl")
        workflow = services.workflow_create(tenant=self.principal.tenant, **values)
        return Response(WorkflowOutput(workflow).data, status=201)


class WorkflowDetailView(ApiView):
    required_scopes = {
        "GET": WORKFLOWS_READ,
        "PUT": WORKFLOWS_WRITE,
        "PATCH": WORKFLOWS_WRITE,
        "DELETE": WORKFLOWS_WRITE,
    }

    @extend_schema(responses=WorkflowOutput, operation_id="workflows_retrieve")
    def get(self, request: Request, workflow_id: str) -> Response:
        workflow = self.get_workflow(workflow_id)
        return Response(WorkflowOutput(workflow).data)

    @extend_schema(request=WorkflowUpdateInput, responses=WorkflowOutput, operation_id="workflows_replace")
    def put(self, request: Request, workflow_id: str) -> Response:
        return self._update(request, workflow_id, partial=False)

    @extend_schema(request=WorkflowUpdateInput, responses=WorkflowOutput, operation_id="workflows_update")
    def patch(self, request: Request, workflow_id: str) -> Response:
        return self._update(request, workflow_id, partial=True)

    @extend_schema(responses={204: None}, operation_id="workflows_delete")
    def delete(self, request: Request, workflow_id: str) -> Response:
        workflow = self.get_workflow(workflow_id)
        services.workflow_delete(workflow=workflow)
        return Response(status=204)

    def _update(self, request: Request, workflow_id: str, *, partial: bool) -> Response:
        workflow = self.get_workflow(workflow_id)
        data = WorkflowUpdateInput(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        changes = {k: v for k, v in data.validated_data.items() if not partial or k in request.data}
        if "webhookUrl" in changes:
            changes["webhook_url"] = changes.pop("webhookUrl")
        workflow = services.workflow_update(workflow=workflow, **changes)
        return Response(WorkflowOutput(workflow).data)


class WorkflowExecuteView(ApiView):
    required_scopes = {"POST": WORKFLOWS_EXECUTE}

    @extend_schema(
        request=ExecuteInput, responses={202: ExecutionAcceptedOutput}, operation_id="workflows_execute"
    )
    def post(self, request: Request, workflow_id: str) -> Response:
        workflow = self.get_workflow(workflow_id)
        data = ExecuteInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        execution = services.execution_submit(
            tenant=self.principal.tenant,
            workflow=workflow,
            inputs=values["inputs"],
            webhook_url=values["webhookUrl"],
            webhook_events=values["webhookEvents"],
            deadline_seconds=values["deadlineSeconds"],
        )
        body = ExecutionAcceptedOutput(execution, context={"request": request}).data
        return Response(body, status=202, headers={"Location": body["pollUrl"]})


class ExecutionPollView(ApiView):
    required_scopes = {"GET": EXECUTIONS_READ}

    @extend_schema(responses=ExecutionPollOutput, operation_id="executions_poll")
    def get(self, request: Request, execution_id: str) -> Response:
        execution = services.execution_settle(execution=self.get_execution(execution_id))
        return Response(ExecutionPollOutput(execution).data)


class ExecutionCancelView(ApiView):
    required_scopes = {"POST": WORKFLOWS_EXECUTE}

    @extend_schema(
        request=None,
        responses={
            200: ExecutionPollOutput,
            409: OpenApiResponse(description="`execution_finished`: it already COMPLETED or FAILED."),
        },
        operation_id="executions_cancel",
    )
    def post(self, request: Request, execution_id: str) -> Response:
        execution = self.get_execution(execution_id)
        return Response(ExecutionPollOutput(services.execution_cancel_by_caller(execution=execution)).data)


class WorkflowExecutionsView(ApiView):
    required_scopes = {"GET": EXECUTIONS_READ}

    @extend_schema(
        responses=EXECUTION_PAGE,
        parameters=PAGE_PARAMETERS,
        operation_id="workflows_executions_list",
    )
    def get(self, request: Request, workflow_id: str) -> Response:
        workflow = self.get_workflow(workflow_id)
        rows = selectors.execution_list(tenant=self.principal.tenant, workflow=workflow)  # already scoped
        return self.paginate(rows, ExecutionSummaryOutput)


class ExecutionListView(ApiView):
    required_scopes = {"GET": EXECUTIONS_READ}

    @extend_schema(
        responses=EXECUTION_PAGE,
        parameters=PAGE_PARAMETERS,
        operation_id="executions_list",
    )
    def get(self, request: Request) -> Response:
        return self.paginate(
            selectors.execution_list(tenant=self.principal.tenant, only=self.principal.workflow_ids),
            ExecutionSummaryOutput,
        )
