"""The node catalogue and the model store as the API shows them."""

from __future__ import annotations

from typing import Any

from api_service.accounts.models import Tenant
from api_service.core.errors import NotFound
from api_service.llm_endpoints.selectors import llm_endpoint_names
from api_service.workflows.graph_check import LLM_ENDPOINTS, model_choices, model_store, registry
from nodes.model_store import FOLDERS


def dynamic_choices(*, tenant: Tenant | None = None) -> dict[str, list[str]]:
    """Models on disk, and the LLM endpoints the tenant may name (none without a tenant)."""
    return {**model_choices(), LLM_ENDPOINTS: llm_endpoint_names(tenant=tenant) if tenant else []}


def node_list(*, tenant: Tenant | None = None) -> list[dict[str, Any]]:
    choices = dynamic_choices(tenant=tenant)
    return [spec.to_public(choices) for spec in registry()]


def node_get(*, class_type: str, tenant: Tenant | None = None) -> dict[str, Any]:
    spec = registry().get(class_type)
    if spec is None:
        raise NotFound(f"No node type {class_type!r}; GET /v1/nodes lists them.")
    return spec.to_public(dynamic_choices(tenant=tenant))


def model_list() -> dict[str, list[dict[str, Any]]]:
    store = model_store()
    return {folder: [entry.to_public() for entry in store.entries(folder)] for folder in FOLDERS}
