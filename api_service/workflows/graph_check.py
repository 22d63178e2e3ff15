"""Validates a graph for a tenant: the node catalogue, models on disk and the tenant's files."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any

from django.conf import settings

from api_service.accounts.limits import tenant_cost_limits
from api_service.accounts.models import Tenant
from api_service.core.errors import GraphInvalid
from api_service.files.services import ResolvedFile, files_resolve
from api_service.llm_endpoints.models import LlmEndpoint
from api_service.llm_endpoints.selectors import llm_endpoints_for_tenant
from nodes.catalog import default_registry
from nodes.cost import LimitIssue, cost_issues, estimate_cost, size_issues
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


LLM_ENDPOINTS = "llm_endpoints"  # the choices source of OpenAICompatibleChat.endpoint


def referenced_files(graph: Any, source: str = "files") -> set[str]:
    """Values of every input whose choices are `source`: the tenant's files (LoadImage.image), or its
    LLM endpoints."""
    found: set[str] = set()
    if not isinstance(graph, Mapping):
        return found
    for node in graph.values():
        spec = registry().get(node.get("class_type", "")) if isinstance(node, Mapping) else None
        if spec is None or not isinstance(node.get("inputs"), Mapping):
            continue
        for inp in spec.inputs:
            value = node["inputs"].get(inp.name)
            if inp.choices_source == source and isinstance(value, str):
                found.add(value)
    return found


def file_kind_issues(graph: Any, found: Mapping[str, ResolvedFile]) -> list[GraphIssue]:
    """An image where a video is loaded (LoadVideo.file), or a video where an image is (LoadImage.image)."""
    issues: list[GraphIssue] = []
    for node_id, node in graph.items() if isinstance(graph, Mapping) else ():
        spec = registry().get(node.get("class_type")) if isinstance(node, Mapping) else None
        if spec is None or not isinstance(node.get("inputs"), Mapping):
            continue
        for inp in spec.inputs:
            value = node["inputs"].get(inp.name)
            if inp.choices_source != "files" or not isinstance(value, str) or value not in found:
                continue
            wants_video, is_video = bool(inp.options.get("video_upload")), found[value].frames is not None
            if wants_video != is_video:
                wanted, got = ("a video", "an image") if wants_video else ("an image", "a video")
                issues.append(
                    GraphIssue(
                        "invalid_file_type",
                        f"Input {inp.name!r} takes {wanted}, but file {value!r} is {got}; upload {wanted}.",
                        node_id,
                        spec.class_type,
                        inp.name,
                    )
                )
    return issues


def llm_token_issues(graph: Any, endpoints: Mapping[str, LlmEndpoint]) -> list[GraphIssue]:
    """A node asking an endpoint for more tokens than ops allow it (its max tokens cap)."""
    issues: list[GraphIssue] = []
    for node_id, node in graph.items() if isinstance(graph, Mapping) else ():
        spec = registry().get(node.get("class_type")) if isinstance(node, Mapping) else None
        if spec is None or not isinstance(node.get("inputs"), Mapping):
            continue
        for inp in spec.inputs:
            name = node["inputs"].get(inp.name)
            wanted = node["inputs"].get("max_tokens")
            if (
                inp.choices_source != LLM_ENDPOINTS
                or not isinstance(name, str)
                or not isinstance(wanted, int)
            ):
                continue
            if name not in endpoints:
                continue
            cap = endpoints[name].max_tokens
            if wanted > cap:
                issues.append(
                    GraphIssue(
                        "value_out_of_range",
                        f"max_tokens {wanted} is over endpoint {name!r}'s cap of {cap}.",
                        node_id,
                        spec.class_type,
                        "max_tokens",
                    )
                )
    return issues


def graph_issues(graph: Any, *, tenant: Tenant) -> tuple[list[GraphIssue], dict[str, str]]:
    """All problems of the graph, its cost over the tenant's plan included, and fileId -> object key.

    The cost is estimated only for a graph that is otherwise valid: sizes flow along links that
    must resolve first.
    """
    found = files_resolve(tenant=tenant, file_ids=referenced_files(graph))
    files = {ref: f.key for ref, f in found.items()}
    # Only looked up when the graph names an endpoint: most graphs never pay the query.
    endpoints = llm_endpoints_for_tenant(tenant=tenant) if referenced_files(graph, LLM_ENDPOINTS) else {}
    issues = validate_graph(
        graph,
        registry(),
        dynamic_choices={**model_choices(), "files": files, LLM_ENDPOINTS: list(endpoints)},
    )
    issues += llm_token_issues(graph, endpoints)
    issues += unloadable_model_issues(graph, registry(), model_store())
    issues += file_kind_issues(graph, found)
    if not issues:
        sizes = {
            ref: (f.width, f.height) if f.frames is None else (f.width, f.height, f.frames)
            for ref, f in found.items()
        }
        issues = list(graph_cost_issues(graph, tenant=tenant, image_sizes=sizes))
    else:
        issues += size_issues(graph, tenant_cost_limits(tenant))
    return issues, files


def graph_cost_issues(
    graph: Any, *, tenant: Tenant, image_sizes: Mapping[str, tuple[int, ...]]
) -> list[LimitIssue]:
    """The limits of the tenant's plan this graph would cross (docs/limits.md)."""
    side = math.isqrt(settings.FILE_UPLOAD_MAX_PIXELS)  # an image of unknown size: the largest upload
    cost = estimate_cost(graph, registry(), image_sizes=image_sizes, unknown_image=(side, side))
    return cost_issues(cost, tenant_cost_limits(tenant))


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
    over_limits = all(isinstance(issue, LimitIssue) for issue in issues)
    if over_limits:
        # A graph that would run, but costs more than the plan allows: the message names the node.
        message = f"The workflow exceeds a limit of its plan: {first.message}"
    else:
        where = f" (node {first.node_id})" if first.node_id else ""
        message = f"The workflow graph is invalid: {first.message}{where}"
    if count > 1 and over_limits:
        message += f" ({count - 1} more in nodeErrors.)"
    elif count > 1:
        message += f" and {count - 1} more problem(s); see nodeErrors."
    raise GraphInvalid(
        message,
        type="limit_exceeded" if over_limits else None,
        details={"nodeErrors": node_errors, "errors": general},
    )
