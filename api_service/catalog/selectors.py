"""The node catalogue and the model store as the API shows them."""

from __future__ import annotations

from typing import Any

from api_service.core.errors import NotFound
from api_service.workflows.graph_check import model_choices, model_store, registry
from nodes.model_store import FOLDERS


def dynamic_choices() -> dict[str, list[str]]:
    return model_choices()


def node_list() -> list[dict[str, Any]]:
    choices = dynamic_choices()
    return [spec.to_public(choices) for spec in registry()]


def node_get(*, class_type: str) -> dict[str, Any]:
    spec = registry().get(class_type)
    if spec is None:
        raise NotFound(f"No node type {class_type!r}; GET /v1/nodes lists them.")
    return spec.to_public(dynamic_choices())


def model_list() -> dict[str, list[dict[str, Any]]]:
    store = model_store()
    return {folder: [entry.to_public() for entry in store.entries(folder)] for folder in FOLDERS}
