from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from api_service.core.ids import new_id


def new_tenant_id() -> str:
    return new_id("ten")


def new_api_key_id() -> str:
    return new_id("key")


class Plan(models.Model):
    """Limits as data, edited by ops in admin. A null limit means unlimited."""

    slug = models.SlugField(max_length=40, primary_key=True)
    name = models.CharField(max_length=100)
    requests_per_minute = models.PositiveIntegerField()
    executions_per_day = models.PositiveIntegerField(null=True, blank=True)
    max_concurrent_executions = models.PositiveIntegerField(null=True, blank=True)
    # What one execution may cost, checked before it is queued (docs/limits.md). Empty: only the
    # ceiling in settings (LIMIT_MAX_*) applies; the effective limit is the lower of the two.
    max_latent_pixels = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Width x height of a latent (the image it decodes to), in pixels."
    )
    max_image_pixels = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Width x height of any image or mask in the graph, in pixels."
    )
    max_batch_size = models.PositiveIntegerField(null=True, blank=True, help_text="Images in one batch.")
    max_steps = models.PositiveIntegerField(null=True, blank=True, help_text="Steps of one sampler.")
    max_sampling_work = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Sum over samplers of steps x batch x megapixels (x conditioning passes), per execution.",
    )
    max_prompt_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Estimated tokens of one prompt, and of the conditioning a sampler gets.",
    )
    max_output_images = models.PositiveIntegerField(
        null=True, blank=True, help_text="Images the output nodes store, per execution."
    )
    max_nodes = models.PositiveIntegerField(null=True, blank=True, help_text="Nodes in a graph.")
    max_graph_bytes = models.PositiveIntegerField(null=True, blank=True, help_text="A graph's size as JSON.")
    max_queued_executions = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Executions one tenant may have waiting (queued, not yet running); more are refused "
        "with 429. The concurrency limit holds runs back in this queue.",
    )
    execution_deadline_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seconds from submission after which an execution is stopped and fails as a timeout "
        "(the execute body may ask for less). Empty: the gpu task time limit.",
    )

    class Meta:
        ordering = ("requests_per_minute",)

    def __str__(self) -> str:
        return self.name


def default_plan() -> str:
    return "free"


class Tenant(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_tenant_id, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    plan = models.ForeignKey(
        "accounts.Plan", on_delete=models.PROTECT, default=default_plan, related_name="tenants"
    )
    # Per-tenant overrides of the plan's limits; empty means "as the plan says".
    requests_per_minute_override = models.PositiveIntegerField(null=True, blank=True)
    executions_per_day_override = models.PositiveIntegerField(null=True, blank=True)
    unlimited_executions_override = models.BooleanField(
        default=False, help_text="No daily execution quota, whatever the plan says."
    )
    max_concurrent_executions_override = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_api_key_id, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    scopes = ArrayField(models.CharField(max_length=40), default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Empty: every workflow of the tenant. Otherwise only these workflow ids.
    allowed_workflow_ids = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    rotated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{self.last4})"

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last4}"


class DailyUsage(models.Model):
    """Executions accepted per tenant per UTC day: the quota counter, updated atomically."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="daily_usage")
    date = models.DateField()
    executions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("-date",)
        constraints = [models.UniqueConstraint(fields=["tenant", "date"], name="daily_usage_tenant_date")]
        verbose_name_plural = "daily usage"

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.date}: {self.executions}"


class IdempotencyRecord(models.Model):
    """The first response to a POST with an Idempotency-Key, replayed for 24 hours."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    locked_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.BinaryField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_tenant_key")]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.key}"
