from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "api_service.accounts"
    label = "accounts"
    verbose_name = "Accounts: tenants and API keys"

    def ready(self) -> None:
        from api_service.accounts import schema  # noqa: F401 - registers the OpenAPI auth scheme
