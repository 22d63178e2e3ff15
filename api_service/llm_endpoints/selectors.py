"""Which endpoints a tenant sees: its own, and the global ones it does not shadow."""

from __future__ import annotations

from django.db.models import F

from api_service.accounts.models import Tenant
from api_service.llm_endpoints.models import LlmEndpoint


def llm_endpoints_for_tenant(*, tenant: Tenant) -> dict[str, LlmEndpoint]:
    """Enabled endpoints by name; a tenant's endpoint shadows a global one of the same name, and a
    disabled tenant endpoint shadows it too (ops turned that name off for the tenant)."""
    rows = LlmEndpoint.objects.filter(tenant__isnull=True) | LlmEndpoint.objects.filter(tenant=tenant)
    found: dict[str, LlmEndpoint] = {}
    for row in rows.order_by(F("tenant_id").asc(nulls_last=True)):  # the tenant's rows first
        found.setdefault(row.name, row)
    return {name: row for name, row in found.items() if row.enabled}


def llm_endpoint_names(*, tenant: Tenant) -> list[str]:
    return sorted(llm_endpoints_for_tenant(tenant=tenant))
