from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "api_service.files"
    label = "files"
    verbose_name = "Input files"
