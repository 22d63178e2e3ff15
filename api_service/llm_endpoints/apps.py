from django.apps import AppConfig


class LlmEndpointsConfig(AppConfig):
    name = "api_service.llm_endpoints"
    label = "llm_endpoints"
    verbose_name = "LLM endpoints (OpenAI-compatible)"
