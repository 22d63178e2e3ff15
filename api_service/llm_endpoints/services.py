"""Storing endpoint API keys encrypted, and resolving the endpoints a graph names for its run spec."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from django.conf import settings

from api_service.accounts.models import Tenant
from api_service.core.errors import ApiError
from api_service.core.outbound import OutboundRefused, outbound_check_url
from api_service.llm_endpoints.models import LlmEndpoint
from api_service.llm_endpoints.selectors import llm_endpoints_for_tenant
from protocol.llm_credentials import CredentialBox
from protocol.messages import LlmEndpointSpec


class CredentialsKeyMissing(ApiError):
    type = "llm_credentials_key_missing"


@cache
def _box(secret: str) -> CredentialBox:
    return CredentialBox(secret)


def credential_box() -> CredentialBox:
    """LLM_CREDENTIALS_KEY's box. Never SECRET_KEY's: the gpu workers, which decrypt, must not hold
    that (docs/llm_endpoints.md)."""
    if not settings.LLM_CREDENTIALS_KEY:
        raise CredentialsKeyMissing(
            "LLM_CREDENTIALS_KEY is not set: set the same value on the api, the control worker and the gpu "
            "workers before storing an API key (docs/llm_endpoints.md)."
        )
    return _box(settings.LLM_CREDENTIALS_KEY)


def llm_endpoint_url_check(*, url: str) -> None:
    """The SSRF guard's checks at registration (shape, resolution to allowed addresses); the worker
    checks again at every request. Raises ApiError naming the problem."""
    try:
        outbound_check_url(url.rstrip("/") + "/chat/completions")
    except OutboundRefused as exc:
        raise ApiError(f"base URL refused: {exc}", type=f"url_{exc.reason}") from None


def llm_endpoint_key_set(*, endpoint: LlmEndpoint, api_key: str | None) -> None:
    """Replace the stored key (None or "" clears it). Only the ciphertext is kept; the caller saves."""
    endpoint.api_key_encrypted = credential_box().encrypt(api_key) if api_key else ""


def llm_endpoint_ids_resolve(*, tenant: Tenant, names: set[str]) -> dict[str, str]:
    """name -> endpoint id for the names a graph uses, pinned at submit: a later shadowing endpoint
    never redirects an admitted run. Names the tenant cannot use are left out (validation names them)."""
    visible = llm_endpoints_for_tenant(tenant=tenant)
    return {name: visible[name].id for name in sorted(names) if name in visible}


def llm_endpoints_spec(*, endpoint_ids: Mapping[str, str]) -> dict[str, LlmEndpointSpec]:
    """The run spec's endpoints, read at publish time: a key rotated or an endpoint disabled since the
    submit applies to every attempt not yet sent. A disabled or deleted one is left out; the worker then
    fails the node as naming an unknown endpoint."""
    rows = {
        row.id: row for row in LlmEndpoint.objects.filter(id__in=list(endpoint_ids.values()), enabled=True)
    }
    spec: dict[str, LlmEndpointSpec] = {}
    for name, endpoint_id in endpoint_ids.items():
        row = rows.get(endpoint_id)
        if row is None:
            continue
        spec[name] = {
            "baseUrl": row.base_url,
            "model": row.default_model,
            "apiKeyEncrypted": row.api_key_encrypted or None,
            "timeoutSeconds": row.timeout_seconds,
            "maxTokens": row.max_tokens,
        }
    return spec
