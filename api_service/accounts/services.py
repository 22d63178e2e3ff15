"""Writes for tenants and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from api_service.accounts import keys
from api_service.accounts.auth_cache import auth_cache_invalidate
from api_service.accounts.models import ApiKey, Tenant
from api_service.accounts.scopes import ALL_SCOPES, invalid_scopes


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


def tenant_create(*, name: str, slug: str | None = None, plan: str = "free") -> Tenant:
    return Tenant.objects.create(name=name, slug=slug or slugify(name), plan_id=plan)


def tenant_get_or_create(*, slug: str, name: str | None = None) -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return tenant


def api_key_create(
    *,
    tenant: Tenant,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> CreatedKey:
    scopes = list(ALL_SCOPES) if scopes is None else scopes
    bad = invalid_scopes(scopes)
    if bad:
        raise ValueError(f"Unknown scope(s): {', '.join(bad)}. Valid scopes: {', '.join(ALL_SCOPES)}.")
    secret = keys.generate_key()
    prefix, last4 = keys.display_parts(secret)
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        key_hash=keys.hash_key(secret),
        prefix=prefix,
        last4=last4,
        scopes=scopes,
        expires_at=expires_at,
    )
    return CreatedKey(api_key=api_key, secret=secret)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    transaction.on_commit(auth_cache_invalidate)


@transaction.atomic
def api_key_rotate(*, api_key: ApiKey, old_key_valid_until: datetime) -> CreatedKey:
    """A new key with the same tenant, name, scopes and restrictions; the old one stops at the given time."""
    created = api_key_create(
        tenant=api_key.tenant, name=api_key.name, scopes=list(api_key.scopes), expires_at=api_key.expires_at
    )
    ApiKey.objects.filter(pk=created.api_key.pk).update(
        allowed_workflow_ids=api_key.allowed_workflow_ids, rotated_from=api_key
    )
    ApiKey.objects.filter(pk=api_key.pk).update(
        expires_at=min(old_key_valid_until, api_key.expires_at or old_key_valid_until)
    )
    created.api_key.refresh_from_db()
    transaction.on_commit(auth_cache_invalidate)
    return created
