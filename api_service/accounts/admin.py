from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api_service.accounts import services
from api_service.accounts.models import ApiKey, Tenant
from api_service.accounts.scopes import SCOPE_CHOICES


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "id", "is_active", "created_at")
    search_fields = ("name", "slug", "id")
    list_filter = ("is_active",)
    readonly_fields = ("id", "created_at")


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ("tenant", "name", "scopes", "expires_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
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
    readonly_fields = ("id", "prefix", "last4", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, **kwargs)

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
        obj.pk = created.api_key.pk
        obj.refresh_from_db()
        # Shown once: only the hash is stored.
        messages.warning(request, f"New API key (copy it now, it will not be shown again): {created.secret}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")
