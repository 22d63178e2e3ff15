from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "api_service.accounts"
    label = "accounts"
    verbose_name = "Accounts: tenants and API keys"
