from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from api_service.accounts import services
from api_service.accounts.models import Tenant
from api_service.core import storage


class Command(BaseCommand):
    help = "First start of a local platform: the bucket, a local tenant, an admin user and an API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="local")
        parser.add_argument("--admin-user", default="admin")

    def handle(self, *args: object, **options: object) -> None:
        if storage.bucket_ensure():
            self.stdout.write("created the object storage bucket")
        slug = str(options["tenant"])
        if Tenant.objects.filter(slug=slug).exists():
            self.stdout.write(f"tenant {slug!r} exists: nothing else to create (keys are only shown once)")
            return
        # Local development is not rate limited in practice: the enterprise plan.
        tenant = services.tenant_create(name="Local", slug=slug, plan="enterprise")
        User = get_user_model()
        username = str(options["admin_user"])
        password = secrets.token_urlsafe(12)
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username=username, email="", password=password)
        else:
            password = "(unchanged)"
        created = services.api_key_create(tenant=tenant, name="local default")
        self.stdout.write(
            "\n"
            "  First start: save these now, they are not shown again.\n"
            f"  Django admin:  http://127.0.0.1:8000/admin/   user {username}  password {password}\n"
            f"  API key:       {created.secret}\n"
        )
