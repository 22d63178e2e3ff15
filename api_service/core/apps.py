from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "api_service.core"
    label = "core"
