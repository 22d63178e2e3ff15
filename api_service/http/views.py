"""The base of every API view: policy as class attributes, one tenant-scoped lookup, one error shape.

DRF runs the policy in order: authenticate the key, check the view's
`required_scopes`, count the request against its `throttle_classes` (the
per-key limit by default). Then, for a POST with an Idempotency-Key, the
handler runs inside an idempotency claim. Every answer, 500s included,
carries the key's rate-limit headers.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn, cast

from django.conf import settings
from django.core.signals import got_request_exception
from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api_service.accounts.authentication import ApiPrincipal
from api_service.core.errors import NotFound
from api_service.core.ids import is_well_formed_id
from api_service.core.pagination import NewestFirstCursor
from api_service.http.idempotency import Replay, idempotency_claim
from api_service.http.throttling import PerKeyRateThrottle, rate_limited
from api_service.workflows import selectors as workflow_selectors
from api_service.workflows.models import Execution, Workflow

log = logging.getLogger("django.request")

INTERNAL_ERROR = {
    "error": {"type": "internal_error", "message": "An internal error occurred; it has been logged."}
}


def id_or_404(value: str, *, prefix: str, noun: str) -> str:
    """`value` when it could be an id of this kind; anything else (a NUL, a wrong prefix) names nothing."""
    if not is_well_formed_id(value, prefix):
        raise NotFound(f"No {noun} {value[:64]!r}.")
    return value


class ApiView(APIView):
    required_scopes: dict[str, str] | None = None
    throttle_classes = (PerKeyRateThrottle,)
    idempotent_post = True  # POSTs honour Idempotency-Key

    # -- tenant-scoped lookups: the key's tenant, and only the workflows the key may use --

    @property
    def principal(self) -> ApiPrincipal:
        """The calling key; HasScope has already refused requests without one."""
        return cast(ApiPrincipal, self.request.user)

    def get_workflow(self, workflow_id: str) -> Workflow:
        principal = self.principal
        return workflow_selectors.workflow_get(
            tenant=principal.tenant,
            workflow_id=id_or_404(workflow_id, prefix="wf", noun="workflow"),
            only=principal.workflow_ids,
        )

    def get_execution(self, execution_id: str) -> Execution:
        principal = self.principal
        return workflow_selectors.execution_get(
            tenant=principal.tenant,
            execution_id=id_or_404(execution_id, prefix="exe", noun="execution"),
            only=principal.workflow_ids,
        )

    def paginate(self, rows: QuerySet[Any], serializer_class: type) -> Response:
        """One cursor page, newest first: {"items", "next", "previous"} (a bad cursor or limit is a 400)."""
        paginator = NewestFirstCursor()
        page = paginator.paginate_queryset(rows, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)

    # -- DRF hooks --

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, scope, rate limit
        method = (request.method or "").lower()
        if not (self.idempotent_post and isinstance(request.user, ApiPrincipal) and hasattr(self, method)):
            return
        claim = idempotency_claim(request=request, tenant=request.user.tenant)  # may raise Replay
        if claim is not None:
            # The handler and the storing of its answer share one transaction: wrap this
            # request's handler (the view instance lives for one request only).
            handler = getattr(self, method)
            setattr(self, method, lambda *a, **k: claim.run(lambda: handler(*a, **k)))

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise rate_limited(getattr(request, "rate_decision"))  # noqa: B009 - set by PerKeyRateThrottle

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Replay):
            return cast(Response, exc.response)  # the stored bytes, replayed as they are
        try:
            return super().handle_exception(exc)
        except Exception as uncaught:
            # A bug: logged as Django would, answered here so the 500 keeps this view's headers.
            if settings.DEBUG or getattr(self.request, "_request", None) is None:
                raise  # DEBUG: Django's technical 500 page
            got_request_exception.send(sender=type(self), request=self.request._request)
            log.error(
                "Internal Server Error: %s",
                self.request.path,
                exc_info=uncaught,
                extra={"status_code": 500, "request": self.request._request},
            )
            return Response(INTERNAL_ERROR, status=500)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        decision = getattr(request, "rate_decision", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
        return response
