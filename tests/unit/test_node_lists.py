"""ComfyUI's list semantics in the executor (gpu_worker/node_lists.py), on small stub nodes."""

from __future__ import annotations

from typing import Any

from gpu_worker.node_lists import call_node
from nodes.schema import INT, NodeList, NodeResult, NodeSpec, OutputSpec
from tests.support.node_context import NodeTestContext

CTX = NodeTestContext()


def spec(outputs: tuple[OutputSpec, ...] = (OutputSpec(INT),), **extra: Any) -> NodeSpec:
    return NodeSpec(class_type="Stub", category="test", impl="x:y", outputs=outputs, **extra)


def add(ctx: Any, a: int, b: int) -> tuple[int]:
    return (a + b,)


def test_a_plain_call_runs_once() -> None:
    assert call_node(add, CTX, spec(), {"a": 1, "b": 2}) == (3,)


def test_a_list_input_runs_the_node_per_item_and_the_shorter_list_repeats_its_last() -> None:
    result = call_node(add, CTX, spec(), {"a": NodeList([1, 2, 3]), "b": NodeList([10, 20])})
    assert result == (NodeList([11, 22, 23]),) and isinstance(result[0], NodeList)
    assert call_node(add, CTX, spec(), {"a": NodeList([1, 2]), "b": 5}) == ([6, 7],)
    assert call_node(add, CTX, spec(), {"a": NodeList([]), "b": 5}) == ([],)


def test_declared_list_outputs_become_node_lists_and_flatten_when_mapped() -> None:
    def split(ctx: Any, a: int) -> tuple[list[int]]:
        return ([a, a * 10],)

    listing = spec(outputs=(OutputSpec(INT, is_list=True),))
    (once,) = call_node(split, CTX, listing, {"a": 2})
    assert isinstance(once, NodeList) and once == [2, 20]
    assert call_node(split, CTX, listing, {"a": NodeList([1, 2])}) == ([1, 10, 2, 20],)


def test_input_is_list_gets_everything_whole() -> None:
    seen: dict[str, Any] = {}

    def whole(ctx: Any, a: list[int], b: list[int]) -> tuple[int]:
        seen.update(a=a, b=b)
        return (sum(a) + sum(b),)

    assert call_node(whole, CTX, spec(input_is_list=True), {"a": NodeList([1, 2]), "b": 3}) == (6,)
    assert seen == {"a": [1, 2], "b": [3]}


def test_an_output_node_run_per_item_shows_every_run_s_artifacts() -> None:
    def save(ctx: Any, a: int) -> NodeResult:
        return NodeResult(ui={"images": [{"n": a}]})

    result = call_node(save, CTX, spec(outputs=(), output_node=True), {"a": NodeList([1, 2])})
    assert isinstance(result, NodeResult) and result.ui == {"images": [{"n": 1}, {"n": 2}]}
