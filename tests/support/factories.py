"""A known world for each test: a fresh tenant with keys, created through the real services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api_service.accounts.scopes import ALL_SCOPES

if TYPE_CHECKING:
    from api_service.accounts.models import Tenant

# Django models are imported inside the functions: the `db` fixture sets Django up first.


@dataclass
class World:
    tenant: Any  # Tenant
    key: str  # all scopes


def make_tenant(name: str | None = None, plan: str = "enterprise", **overrides: Any) -> Tenant:
    """Enterprise by default so that tests not about limits never meet one."""
    from api_service.accounts import services
    from api_service.accounts.auth_cache import auth_cache_invalidate
    from api_service.accounts.models import Tenant

    slug = f"t-{secrets.token_hex(5)}"
    tenant = services.tenant_create(name=name or slug, slug=slug)
    Tenant.objects.filter(pk=tenant.pk).update(plan_id=plan, **overrides)
    auth_cache_invalidate()
    tenant.refresh_from_db()
    return tenant


def make_key(tenant: Tenant, scopes: list[str] | None = None) -> str:
    from api_service.accounts import services

    return services.api_key_create(tenant=tenant, name="test", scopes=list(scopes or ALL_SCOPES)).secret


def make_world() -> World:
    tenant = make_tenant()
    return World(tenant=tenant, key=make_key(tenant))
