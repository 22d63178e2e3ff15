from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "api_service.workflows"
    label = "workflows"
    verbose_name = "Workflows and executions"
