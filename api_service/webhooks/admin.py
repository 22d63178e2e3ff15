"""Ops views of endpoints, deliveries and attempts (with redelivery), signing secrets and triggers.

Secrets and token hashes are never shown.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from api_service.core.errors import ApiError
from api_service.webhooks import services, triggers
from api_service.webhooks.models import Trigger, WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("id", "url", "tenant", "enabled", "disabled_reason", "last_success_at", "created_at")
    list_filter = ("enabled", "tenant")
    search_fields = ("id", "url", "tenant__slug")
    exclude = ("secret", "previous_secret")
    readonly_fields = (
        "id",
        "tenant",
        "url",
        "created_at",
        "updated_at",
        "last_success_at",
        "previous_secret_expires_at",
    )
    list_select_related = ("tenant",)

    def has_add_permission(self, request) -> bool:
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "started_at",
        "status_code",
        "error_class",
        "error",
        "latency_ms",
        "retry_in_seconds",
        "response_excerpt",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "event_type",
        "status",
        "url",
        "tenant",
        "attempt_count",
        "next_attempt_at",
        "last_error",
        "created_at",
    )
    list_filter = ("status", "event_type", "tenant")
    search_fields = ("id", "execution__id", "url", "endpoint__id")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    list_select_related = ("tenant",)
    inlines = (WebhookAttemptInline,)
    date_hierarchy = "created_at"
    actions = ("redeliver",)

    @admin.action(description="Redeliver selected deliveries (same webhook-id, a fresh round of retries)")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        done, refused = 0, []
        for delivery in queryset.select_related("endpoint"):
            try:
                services.delivery_redeliver(delivery=delivery)
                done += 1
            except ApiError as exc:
                refused.append(f"{delivery.id}: {exc.message}")
        messages.success(request, f"Redelivering {done} delivery(ies).")
        if refused:
            messages.warning(request, "Not redelivered: " + "; ".join(refused))

    def has_add_permission(self, request) -> bool:
        return False


class TriggerAdminForm(forms.ModelForm):
    class Meta:
        model = Trigger
        fields = sorted(triggers.UPDATABLE_FIELDS)

    def clean_input_mapping(self) -> dict:
        mapping = self.cleaned_data.get("input_mapping") or {}
        try:
            return triggers.trigger_mapping_check(workflow=self.instance.workflow, mapping=mapping)
        except ApiError as exc:
            raise ValidationError(exc.message) from None


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    form = TriggerAdminForm
    list_display = (
        "id",
        "name",
        "workflow",
        "tenant",
        "enabled",
        "require_signature",
        "last_fired_at",
        "created_at",
    )
    list_filter = ("enabled", "require_signature", "tenant")
    search_fields = ("id", "name", "workflow__id")
    exclude = ("token_hash", "signing_secret")
    readonly_fields = ("id", "tenant", "workflow", "created_at", "updated_at", "last_fired_at")
    list_select_related = ("tenant", "workflow")

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Through the service, so turning requireSignature on here makes a signing secret too.
        changes = {
            name: form.cleaned_data[name] for name in form.changed_data if name in triggers.UPDATABLE_FIELDS
        }
        _, secret = triggers.trigger_update(trigger=obj, **changes)
        if secret:
            self.message_user(
                request,
                f"Signing secret for {obj.pk} (shown once; give it to the sender): {secret}",
                messages.WARNING,
            )
