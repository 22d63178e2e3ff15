"""Ops configure LLM endpoints here. The API key is write-only: typed once, stored encrypted, never
shown again (not even masked), never in a log line or an error."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

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

    # A key typed into a failing form must not show on Django's error pages or in error reports.
    @method_decorator(sensitive_post_parameters("api_key"))
    def add_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().add_view(request, *args, **kwargs)

    @method_decorator(sensitive_post_parameters("api_key"))
    def change_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().change_view(request, *args, **kwargs)

    def save_model(self, request: HttpRequest, obj: LlmEndpoint, form: Any, change: bool) -> None:
        # The cleaned values against the stored ones (a trailing slash typed again is no move).
        moved = change and (
            form.initial.get("base_url") != obj.base_url or form.initial.get("tenant") != obj.tenant_id
        )
        if form.cleaned_data.get("clear_api_key"):
            services.llm_endpoint_key_set(endpoint=obj, api_key=None)
        elif form.cleaned_data.get("api_key"):
            services.llm_endpoint_key_set(endpoint=obj, api_key=form.cleaned_data["api_key"])
        elif moved and obj.has_api_key:
            # The stored key was given for that server and that tenant: pointing the endpoint elsewhere
            # must not send it there (whoever edits the URL could otherwise read the key off the wire).
            services.llm_endpoint_key_set(endpoint=obj, api_key=None)
            messages.warning(
                request,
                f"The stored API key of {obj.name!r} was cleared because its URL or tenant changed; "
                "type the key again if the new server needs it.",
            )
        super().save_model(request, obj, form, change)
