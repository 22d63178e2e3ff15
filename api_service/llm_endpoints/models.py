"""OpenAI-compatible chat endpoints that ops configure (Ollama, vLLM, llama.cpp, hosted APIs).

A global endpoint (no tenant) serves every tenant; a tenant's endpoint of the same name shadows it
for that tenant. The API key is stored only as Fernet ciphertext (protocol/llm_credentials.py).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from api_service.core.ids import new_id

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def new_llm_endpoint_id() -> str:
    return new_id("llm")


class LlmEndpoint(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_llm_endpoint_id, editable=False)
    tenant = models.ForeignKey(
        "accounts.Tenant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="llm_endpoints",
        help_text="Empty: a global endpoint, offered to every tenant that has none of the same name.",
    )
    name = models.CharField(
        max_length=64,
        validators=[RegexValidator(NAME_PATTERN, "1-64 letters, digits, '.', '_' or '-'.")],
        help_text="What graphs put in OpenAICompatibleChat's `endpoint` input.",
    )
    base_url = models.CharField(
        max_length=2048, help_text="The API root, e.g. http://ollama:11434/v1 or https://api.openai.com/v1."
    )
    default_model = models.CharField(max_length=200, help_text="Used when a node leaves `model` empty.")
    # Fernet ciphertext; never the key itself. Empty: the endpoint takes no key (a local Ollama).
    api_key_encrypted = models.TextField(blank=True, default="", editable=False)
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(
        default=60.0, validators=[MinValueValidator(1.0), MaxValueValidator(600.0)]
    )
    max_tokens = models.PositiveIntegerField(
        default=4096,
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="The most a node may ask for (max_tokens); a graph asking for more is refused.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "LLM endpoint"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="llm_endpoint_tenant_name",
                condition=models.Q(tenant__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["name"], name="llm_endpoint_global_name", condition=models.Q(tenant__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        scope = self.tenant_id or "global"
        return f"{self.name} ({scope})"

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)
