"""The base of every API view: key authentication, scope, per-key rate limit and Idempotency-Key.

Views declare policy as class attributes (`required_scopes`); this base
applies it in order: authenticate, check the scope, count the request
against the key's per-minute limit, then run the handler, wrapped in an
idempotency claim when the POST carries an Idempotency-Key.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api_service.accounts.authentication import ApiPrincipal
from api_service.accounts.idempotency import Replay, idempotency_claim
from api_service.accounts.limits import tenant_limits
from api_service.accounts.rate_limit import RateLimited, rate_limit_hit
from api_service.core.redis import redis_client


class ApiView(APIView):
    required_scopes: dict[str, str] | None = None
    idempotent_post = True  # POSTs honour Idempotency-Key

    def check_throttles(self, request: Request) -> None:
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            return
        limit = tenant_limits(principal.tenant).requests_per_minute
        decision = rate_limit_hit(redis=redis_client(), key_id=principal.api_key.pk, limit=limit)
        request.rate_decision = decision
        if decision is not None and not decision.allowed:
            raise RateLimited(
                f"This API key may make {limit} requests per minute; retry in {decision.reset_seconds} s.",
                details={"limit": limit},
                headers={"Retry-After": str(decision.reset_seconds)},
            )

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        # DRF's dispatch, with the handler run inside an idempotency claim when one applies.
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            method = request.method.lower()
            handler = getattr(self, method, None) if method in self.http_method_names else None
            handler = handler or self.http_method_not_allowed
            claim = None
            principal = request.user
            if (
                self.idempotent_post
                and isinstance(principal, ApiPrincipal)
                and handler != self.http_method_not_allowed
            ):
                claim = idempotency_claim(request=request, tenant=principal.tenant)
            if claim is None:
                response = handler(request, *args, **kwargs)
            else:
                response = claim.run(lambda: handler(request, *args, **kwargs))
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def handle_exception(self, exc: Exception) -> Response | HttpResponse:
        if isinstance(exc, Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        decision = getattr(request, "rate_decision", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
        return response
