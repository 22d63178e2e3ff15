"""API key scopes: what each key may do."""

from __future__ import annotations

WORKFLOWS_READ = "workflows:read"
WORKFLOWS_WRITE = "workflows:write"
WORKFLOWS_EXECUTE = "workflows:execute"
EXECUTIONS_READ = "executions:read"
USAGE_READ = "usage:read"
WEBHOOKS_READ = "webhooks:read"
WEBHOOKS_WRITE = "webhooks:write"

ALL_SCOPES = (
    WORKFLOWS_READ,
    WORKFLOWS_WRITE,
    WORKFLOWS_EXECUTE,
    EXECUTIONS_READ,
    USAGE_READ,
    WEBHOOKS_READ,
    WEBHOOKS_WRITE,
)
SCOPE_CHOICES = [(scope, scope) for scope in ALL_SCOPES]


def invalid_scopes(scopes: list[str]) -> list[str]:
    return [scope for scope in scopes if scope not in ALL_SCOPES]
