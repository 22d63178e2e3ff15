"""Validates a graph for a tenant: the node catalogue, models on disk and the tenant's files."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from django.conf import settings

from api_service.accounts.models import Tenant
from api_service.core.errors import GraphInvalid
from api_service.files.services import file_keys_for
from nodes.catalog import default_registry
from nodes.graph import GraphIssue, validate_graph
from nodes.model_check import unloadable_model_issues
from nodes.model_store import FOLDERS, ModelStore
from nodes.registry import Registry


@cache
def model_store() -> ModelStore:
    return ModelStore(settings.MODELS_DIR)


def registry() -> Registry:
    return default_registry()


def model_choices() -> dict[str, list[str]]:
    """Every model-store folder is a choices source of its own name (checkpoints, vae, loras ...)."""
    store = model_store()
    return {folder: store.names(folder) for folder in FOLDERS}


def referenced_files(graph: Any) -> set[str]:
    """Values of every input whose choices are the tenant's files (LoadImage.image)."""
    found: set[str] = set()
    if not isinstance(graph, Mapping):
        return found
    for node in graph.values():
        spec = registry().get(node.get("class_type", "")) if isinstance(node, Mapping) else None
        if spec is None or not isinstance(node.get("inputs"), Mapping):
            continue
        for inp in spec.inputs:
            value = node["inputs"].get(inp.name)
            if inp.choices_source == "files" and isinstance(value, str):
                found.add(value)
    return found


def graph_issues(graph: Any, *, tenant: Tenant) -> tuple[list[GraphIssue], dict[str, str]]:
    """All problems of the graph, and fileId -> object key for the files it uses."""
    files = file_keys_for(tenant=tenant, file_ids=referenced_files(graph))
    issues = validate_graph(
        graph,
        registry(),
        dynamic_choices={**model_choices(), "files": files},
    )
    issues += unloadable_model_issues(graph, registry(), model_store())
    return issues, files


def raise_for_issues(issues: list[GraphIssue]) -> None:
    if not issues:
        return
    node_errors: dict[str, dict[str, Any]] = {}
    general = []
    for issue in issues:
        if issue.node_id is None:
            general.append(issue.to_public())
            continue
        entry = node_errors.setdefault(issue.node_id, {"classType": issue.class_type, "errors": []})
        entry["errors"].append(issue.to_public())
    count = len(issues)
    first = issues[0]
    where = f" (node {first.node_id})" if first.node_id else ""
    message = f"The workflow graph is invalid: {first.message}{where}"
    if count > 1:
        message += f" and {count - 1} more problem(s); see nodeErrors."
    raise GraphInvalid(message, details={"nodeErrors": node_errors, "errors": general})
