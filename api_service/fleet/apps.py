from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "api_service.fleet"
    label = "fleet"
    verbose_name = "GPU fleet"
