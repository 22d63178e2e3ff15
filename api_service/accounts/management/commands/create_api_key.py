from __future__ import annotations

from typing import cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api_service.accounts import services
from api_service.accounts.models import Tenant
from api_service.accounts.scopes import ALL_SCOPES


def parse_scopes(words: list[str] | None) -> list[str]:
    """``--scopes a b``, ``--scopes a,b`` and ``--scopes "a, b" c``: each scope once, in order."""
    if words is None:
        return list(ALL_SCOPES)
    scopes = [scope.strip() for word in words for scope in word.split(",") if scope.strip()]
    if not scopes:
        raise CommandError(f"--scopes names no scope; choose from {', '.join(ALL_SCOPES)}.")
    return list(dict.fromkeys(scopes))


class Command(BaseCommand):
    help = "Create an API key for a tenant (by slug or id) and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug or id")
        parser.add_argument("--name", default="cli")
        parser.add_argument(
            "--scopes",
            nargs="+",
            default=None,
            help=f"separate words or a comma-separated list of: {', '.join(ALL_SCOPES)} (default: all)",
        )
        parser.add_argument("--create-tenant", action="store_true", help="create the tenant if missing")

    def handle(self, *args: object, **options: object) -> None:
        ref = str(options["tenant"])
        tenant = Tenant.objects.filter(slug=ref).first() or Tenant.objects.filter(pk=ref).first()
        if tenant is None:
            if not options["create_tenant"]:
                raise CommandError(f"No tenant {ref!r}; pass --create-tenant to create it.")
            tenant = services.tenant_create(name=ref, slug=ref)
        try:
            created = services.api_key_create(
                tenant=tenant,
                name=str(options["name"]),
                scopes=parse_scopes(cast(list[str] | None, options["scopes"])),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(created.secret)
