from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "api_service.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks and trigger URLs"
