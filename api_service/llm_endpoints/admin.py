"""Ops configure LLM endpoints here. The API key is write-only: typed once, stored encrypted, never
shown again (not even masked), never in a log line or an error."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from api_service.core.errors import ApiError
from api_service.llm_endpoints import services
from api_service.llm_endpoints.models import LlmEndpoint


class LlmEndpointForm(forms.ModelForm):
    # Never rendered back: the field is always empty on the page, whatever is stored.
    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored key; it is stored encrypted and never shown.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = LlmEndpoint
        fields = (
            "name",
            "tenant",
            "base_url",
            "default_model",
            "enabled",
            "timeout_seconds",
            "max_tokens",
        )

    def clean_base_url(self) -> str:
        url = str(self.cleaned_data["base_url"]).strip().rstrip("/")
        try:
            services.llm_endpoint_url_check(url=url)
        except ApiError as exc:
            raise forms.ValidationError(exc.message) from None
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("api_key") and data.get("clear_api_key"):
            raise forms.ValidationError("Give a new API key or clear the stored one, not both.")
        if data.get("api_key"):
            try:
                services.credential_box()
            except ApiError as exc:
                self.add_error("api_key", exc.message)
        return data


@admin.register(LlmEndpoint)
class LlmEndpointAdmin(admin.ModelAdmin):
    form = LlmEndpointForm
    list_display = ("name", "tenant", "base_url", "default_model", "enabled", "has_api_key", "updated_at")
    list_filter = ("enabled", "tenant")
    search_fields = ("name", "base_url", "tenant__slug")
    readonly_fields = ("id", "has_api_key", "created_at", "updated_at")
    list_select_related = ("tenant",)

    @admin.display(boolean=True, description="API key stored")
    def has_api_key(self, obj: LlmEndpoint) -> bool:
        return obj.has_api_key

    def save_model(self, request: HttpRequest, obj: LlmEndpoint, form: Any, change: bool) -> None:
        if form.cleaned_data.get("clear_api_key"):
            services.llm_endpoint_key_set(endpoint=obj, api_key=None)
        elif form.cleaned_data.get("api_key"):
            services.llm_endpoint_key_set(endpoint=obj, api_key=form.cleaned_data["api_key"])
        super().save_model(request, obj, form, change)
