"""List endpoints run a fixed number of queries, however many rows they return."""

from __future__ import annotations

from tests.support.graphs import TEXT_TO_IMAGE


def count_queries(client, path: str, key: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    return len(queries)


def test_list_endpoints_do_not_query_per_row(world) -> None:
    from django.test import Client

    from api_service.workflows.models import Execution, Workflow

    client = Client()
    workflow = Workflow.objects.create(tenant=world.tenant, name="w", graph=TEXT_TO_IMAGE)
    Execution.objects.create(tenant=world.tenant, workflow=workflow, graph=TEXT_TO_IMAGE)
    count_queries(client, "/v1/workflows", world.key)  # the key's last_used_at write happens once a minute
    few = {p: count_queries(client, p, world.key) for p in ("/v1/workflows", "/v1/executions")}
    for i in range(10):
        extra = Workflow.objects.create(tenant=world.tenant, name=f"w{i}", graph=TEXT_TO_IMAGE)
        Execution.objects.create(tenant=world.tenant, workflow=extra, graph=TEXT_TO_IMAGE)
    many = {p: count_queries(client, p, world.key) for p in few}
    assert many == few
    # Authentication (key + tenant + plan in one query) and the page itself.
    assert few["/v1/workflows"] <= 2
