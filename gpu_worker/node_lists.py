"""ComfyUI's list semantics: a node fed a list output runs once per item, and its outputs become lists.

A node whose input arrives as a NodeList (from an output declared `is_list`, such as
RebatchImages', or from a node that itself ran per item) runs once for each item; an input that is
shorter than the longest repeats its last item, a plain value is the same every time, as ComfyUI
does. A node declared `input_is_list` runs once and gets every input as a list instead. Output
nodes that run per item show all their runs' artifacts together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodes.context import NodeContext
from nodes.schema import NodeList, NodeResult, NodeSpec


def call_node(impl: Callable[..., Any], ctx: NodeContext, spec: NodeSpec, kwargs: dict[str, Any]) -> Any:
    """Run a node's function on its resolved inputs: once, or once per item of its list inputs."""
    if spec.input_is_list:
        whole = {k: v if isinstance(v, NodeList) else NodeList([v]) for k, v in kwargs.items()}
        return _declared_lists(spec, impl(ctx, **whole))
    lists = {k: v for k, v in kwargs.items() if isinstance(v, NodeList)}
    if not lists:
        return _declared_lists(spec, impl(ctx, **kwargs))
    count = 0 if any(len(v) == 0 for v in lists.values()) else max(len(v) for v in lists.values())
    runs = []
    for index in range(count):
        ctx.check_cancelled()
        item = {k: (v[min(index, len(v) - 1)] if k in lists else v) for k, v in kwargs.items()}
        runs.append(_declared_lists(spec, impl(ctx, **item)))
    return _merge(spec, runs)


def _declared_lists(spec: NodeSpec, result: Any) -> Any:
    """The outputs declared `is_list` as NodeLists (a node returns them as plain lists or tuples)."""
    outputs = tuple(result.outputs if isinstance(result, NodeResult) else result)
    wrapped = tuple(
        NodeList(value) if i < len(spec.outputs) and spec.outputs[i].is_list else value
        for i, value in enumerate(outputs)
    )
    if isinstance(result, NodeResult):
        return NodeResult(outputs=wrapped, ui=result.ui)
    return wrapped


def _merge(spec: NodeSpec, runs: list[Any]) -> Any:
    """Each output position as one NodeList over the runs (a list output's items flattened into it)."""
    width = len(spec.outputs)
    merged = []
    for position in range(width):
        items = NodeList()
        for run in runs:
            value = (run.outputs if isinstance(run, NodeResult) else run)[position]
            if isinstance(value, NodeList):
                items.extend(value)
            else:
                items.append(value)
        merged.append(items)
    if spec.output_node or any(isinstance(run, NodeResult) for run in runs):
        ui: dict[str, Any] = {}
        for run in runs:
            for key, value in (run.ui if isinstance(run, NodeResult) else {}).items():
                if isinstance(value, list):
                    ui.setdefault(key, []).extend(value)
                else:
                    ui[key] = value
        return NodeResult(outputs=tuple(merged), ui=ui)
    return tuple(merged)
