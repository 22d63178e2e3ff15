"""GET /v1/workflows/executions/{id}/events: an execution's events as Server-Sent Events.

The api runs under ASGI (gunicorn with uvicorn workers, docs/fleet.md), so a stream is a coroutine
waiting on Redis (XREAD BLOCK), not a thread held for minutes. The request's policy is the API's own:
the same key authentication, scope, per-key rate limit and tenant-scoped lookup as poll run first
(`stream_gate`, in a thread), then the log is replayed from ``Last-Event-ID`` and followed live. The
terminal event carries the same body as poll and ends the stream.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from rest_framework.request import Request

from api_service.accounts.scopes import EXECUTIONS_READ
from api_service.http.views import ApiView
from api_service.workflows import selectors, services
from api_service.workflows.models import TERMINAL_STATUSES, Execution
from api_service.workflows.serializers import ExecutionPollOutput
from protocol import events

log = logging.getLogger(__name__)
BLOCK_MS = 15_000  # a keep-alive comment at least this often, and a look at the row
MAX_STREAM_SECONDS = 3600  # then the client reconnects with Last-Event-ID
TERMINAL_EVENT = {"COMPLETED": events.COMPLETED, "FAILED": events.FAILED, "CANCELLED": events.CANCELLED}


class ExecutionEventsGate(ApiView):
    """The stream's policy, run like any API view (auth, scope, rate limit, lookup)."""

    required_scopes = {"GET": EXECUTIONS_READ}

    def get(self, request: Request, execution_id: str) -> Any:
        return self.get_execution(execution_id)


def stream_gate(request: HttpRequest, execution_id: str) -> Execution | HttpResponse:
    """The execution the key may stream, or the API's error response (401, 403, 404, 429)."""
    view = ExecutionEventsGate(request=request, args=(), kwargs={"execution_id": execution_id})
    drf_request = view.initialize_request(request)
    view.request = drf_request
    view.headers = view.default_response_headers
    try:
        view.initial(drf_request)
        return view.get(drf_request, execution_id)
    except Exception as exc:
        response = view.finalize_response(drf_request, view.handle_exception(exc))
        response.render()
        return response


def poll_body(execution_id: str) -> tuple[str, dict[str, Any]]:
    execution = services.execution_settle(
        execution=Execution.objects.select_related("tenant").get(pk=execution_id)
    )
    return execution.status, dict(ExecutionPollOutput(execution).data)


def waiting_of(execution_id: str) -> dict[str, Any] | None:
    return selectors.execution_waiting(execution=Execution.objects.get(pk=execution_id))


def sse(event_id: str, event_type: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {event_type}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def follow(execution_id: str, last_id: str) -> AsyncIterator[str]:
    """Replay the log after `last_id`, then follow it until the terminal event."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    key = events.EVENTS_KEY.format(execution_id=execution_id)
    started = time.monotonic()
    yield "retry: 2000\n\n"
    try:
        while time.monotonic() - started < MAX_STREAM_SECONDS:
            try:
                found: Any = await client.xread({key: last_id}, block=BLOCK_MS, count=200)
            except Exception:
                log.warning("event log of %s unavailable: Redis did not answer", execution_id)
                found = []
            for _, entries in found:
                for raw_id, fields in entries:
                    last_id = raw_id.decode()
                    event_type = fields[b"type"].decode()
                    if event_type in events.TERMINAL:
                        _, body = await sync_to_async(poll_body)(execution_id)
                        yield sse(last_id, event_type, body)
                        return
                    data = json.loads(fields.get(b"data") or b"{}")
                    if event_type == events.QUEUED:
                        data["waiting"] = await sync_to_async(waiting_of)(execution_id)
                    yield sse(last_id, event_type, data)
            if not found:
                # Quiet: say we are here, and end from the row if its terminal entry never made the log.
                status, body = await sync_to_async(poll_body)(execution_id)
                if status in TERMINAL_STATUSES:
                    yield sse(f"{int(time.time() * 1000)}-0", TERMINAL_EVENT[status], body)
                    return
                yield ": keep-alive\n\n"
    finally:
        await client.aclose()


async def execution_events(request: HttpRequest, execution_id: str) -> HttpResponse | StreamingHttpResponse:
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    gate = await sync_to_async(stream_gate)(request, execution_id)
    if isinstance(gate, HttpResponse):
        return gate
    last_id = _last_event_id(request.headers.get("Last-Event-ID", ""))
    response = StreamingHttpResponse(follow(gate.pk, last_id), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


def _last_event_id(value: str) -> str:
    """A stream id ("1712345678901-0") to read after; anything else replays from the start."""
    head, _, tail = value.strip().partition("-")
    return value.strip() if head.isdigit() and tail.isdigit() and len(value) < 40 else "0-0"
