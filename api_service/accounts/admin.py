from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from api_service.accounts import services
from api_service.accounts.auth_cache import auth_cache_invalidate
from api_service.accounts.limits import plan_cost_limits, tenant_limits
from api_service.accounts.models import ApiKey, DailyUsage, Plan, Tenant
from api_service.accounts.scopes import SCOPE_CHOICES


class AuthCacheAdmin(admin.ModelAdmin):
    """Keys, tenants and plans are read through the api's auth cache: every write here clears it, once
    committed (the admin saves and deletes inside a transaction)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(auth_cache_invalidate)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        transaction.on_commit(auth_cache_invalidate)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        super().delete_queryset(request, queryset)
        transaction.on_commit(auth_cache_invalidate)


@admin.register(Plan)
class PlanAdmin(AuthCacheAdmin):
    list_display = (
        "name",
        "slug",
        "requests_per_minute",
        "executions_per_day",
        "max_concurrent_executions",
        "max_latent_pixels",
        "max_steps",
        "max_batch_size",
        "max_output_images",
    )
    readonly_fields = ("effective_cost_limits",)
    fieldsets = (
        (None, {"fields": ("slug", "name")}),
        (
            "Requests and executions",
            {"fields": ("requests_per_minute", "executions_per_day", "max_concurrent_executions")},
        ),
        (
            "What one execution may cost (empty: the ceiling in settings)",
            {
                "fields": (
                    "max_latent_pixels",
                    "max_image_pixels",
                    "max_batch_size",
                    "max_steps",
                    "max_sampling_work",
                    "max_prompt_tokens",
                    "max_output_images",
                    "max_nodes",
                    "max_graph_bytes",
                    "effective_cost_limits",
                )
            },
        ),
    )

    @admin.display(description="effective, under the settings' ceilings")
    def effective_cost_limits(self, plan: Plan) -> str:
        if plan.pk is None:
            return "-"
        return ", ".join(f"{name}={value:,}" for name, value in asdict(plan_cost_limits(plan)).items())


@admin.register(Tenant)
class TenantAdmin(AuthCacheAdmin):
    list_display = ("name", "slug", "id", "plan", "effective_limits", "is_active", "created_at")
    search_fields = ("name", "slug", "id")
    list_filter = ("is_active", "plan")
    readonly_fields = ("id", "created_at")
    fieldsets = (
        (None, {"fields": ("id", "name", "slug", "is_active", "plan", "created_at")}),
        (
            "Overrides of the plan's limits (empty: as the plan says)",
            {
                "fields": (
                    "requests_per_minute_override",
                    "executions_per_day_override",
                    "unlimited_executions_override",
                    "max_concurrent_executions_override",
                )
            },
        ),
    )

    @admin.display(description="limits (req/min, exec/day, concurrent)")
    def effective_limits(self, tenant: Tenant) -> str:
        limits = tenant_limits(tenant)
        per_day = "unlimited" if limits.executions_per_day is None else limits.executions_per_day
        concurrent = (
            "unlimited" if limits.max_concurrent_executions is None else limits.max_concurrent_executions
        )
        return f"{limits.requests_per_minute} / {per_day} / {concurrent}"


@admin.register(DailyUsage)
class DailyUsageAdmin(admin.ModelAdmin):
    list_display = ("date", "tenant", "executions")
    list_filter = ("date", "tenant")
    date_hierarchy = "date"
    readonly_fields = ("tenant", "date", "executions")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ("tenant", "name", "scopes", "expires_at", "allowed_workflow_ids")


class RotateForm(ActionForm):
    grace_hours = forms.IntegerField(
        min_value=0, initial=24, required=False, help_text="rotate: hours the old key stays valid"
    )


@admin.register(ApiKey)
class ApiKeyAdmin(AuthCacheAdmin):
    list_display = (
        "name",
        "tenant",
        "display",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("tenant", "revoked_at")
    search_fields = ("name", "prefix", "id", "tenant__name")
    readonly_fields = ("id", "prefix", "last4", "created_at", "last_used_at", "revoked_at", "rotated_from")
    actions = ("revoke", "rotate")
    action_form = RotateForm

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.api_key_create(
            tenant=form.cleaned_data["tenant"],
            name=form.cleaned_data["name"],
            scopes=list(form.cleaned_data["scopes"]),
            expires_at=form.cleaned_data.get("expires_at"),
        )
        ApiKey.objects.filter(pk=created.api_key.pk).update(
            allowed_workflow_ids=form.cleaned_data.get("allowed_workflow_ids") or []
        )
        obj.pk = created.api_key.pk
        obj.refresh_from_db()
        # Shown once: only the hash is stored.
        messages.warning(request, f"New API key (copy it now, it will not be shown again): {created.secret}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")

    @admin.action(description="Rotate selected keys (new key now, old valid for the hours given)")
    def rotate(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        try:
            hours = max(0, int(request.POST.get("grace_hours") or 24))
        except ValueError:
            messages.error(request, "Grace hours must be a whole number of hours.")
            return
        until = timezone.now() + timedelta(hours=hours)
        for api_key in queryset.filter(revoked_at__isnull=True):
            created = services.api_key_rotate(api_key=api_key, old_key_valid_until=until)
            messages.warning(
                request,
                f"New key for {api_key.name!r} (shown once): {created.secret}; "
                f"the old one works until {until:%Y-%m-%d %H:%M} UTC.",
            )
