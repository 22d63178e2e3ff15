"""A known world for each test: a fresh tenant with keys, created through the real services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from api_service.accounts import services
from api_service.accounts.models import Tenant
from api_service.accounts.scopes import ALL_SCOPES


@dataclass
class World:
    tenant: Tenant
    key: str  # all scopes


def make_tenant(name: str | None = None) -> Tenant:
    slug = f"t-{secrets.token_hex(5)}"
    return services.tenant_create(name=name or slug, slug=slug)


def make_key(tenant: Tenant, scopes: list[str] | None = None) -> str:
    return services.api_key_create(tenant=tenant, name="test", scopes=list(scopes or ALL_SCOPES)).secret


def make_world() -> World:
    tenant = make_tenant()
    return World(tenant=tenant, key=make_key(tenant))
