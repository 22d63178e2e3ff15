"""The worker's model cache and node result cache: loads, hits, budgets and eviction."""

from __future__ import annotations

import torch

from gpu_worker.model_cache import ModelCache, model_bytes
from gpu_worker.result_cache import NodeResultCache, holds_module, node_cache_keys
from tests.support.graphs import TEXT_TO_IMAGE, text_to_image


def linear(n: int) -> torch.nn.Linear:
    return torch.nn.Linear(n, n, bias=False)  # n*n float32 parameters


def test_model_cache_loads_once_and_evicts_least_recently_used() -> None:
    cache = ModelCache(budget_bytes=model_bytes(linear(64)) * 2)
    a = cache.get(("a",), lambda: linear(64))
    assert cache.get(("a",), lambda: linear(64)) is a
    cache.get(("b",), lambda: linear(64))
    cache.get(("a",), lambda: linear(64))  # a is now the most recently used
    cache.get(("c",), lambda: linear(64))  # over budget: b goes
    assert (cache.loads, cache.hits) == (3, 2)
    assert cache.get(("a",), lambda: linear(64)) is a
    cache.get(("b",), lambda: linear(64))
    assert cache.loads == 4


def test_a_model_larger_than_the_budget_still_loads_alone() -> None:
    cache = ModelCache(budget_bytes=10)
    big = cache.get(("big",), lambda: linear(32))
    assert cache.get(("big",), lambda: linear(32)) is big
    assert cache.stats()["entries"] == 1


def test_node_keys_change_downstream_of_a_changed_input_only() -> None:
    plan = ["4", "5", "6", "7", "3", "8", "9"]
    before = node_cache_keys(TEXT_TO_IMAGE, plan, scope="t1")
    after = node_cache_keys(text_to_image(**{"3": {"seed": 99}}), plan, scope="t1")
    changed = sorted(n for n in plan if before[n] != after[n])
    assert changed == ["3", "8", "9"]
    other_tenant = node_cache_keys(TEXT_TO_IMAGE, plan, scope="t2")
    assert all(before[n] != other_tenant[n] for n in plan)


def test_a_file_reference_keys_by_the_object_it_resolved_to() -> None:
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}}}
    first = node_cache_keys(graph, ["1"], scope="t1", files={"example.png": "tenants/t1/files/a/example.png"})
    again = node_cache_keys(graph, ["1"], scope="t1", files={"example.png": "tenants/t1/files/a/example.png"})
    reuploaded = node_cache_keys(
        graph, ["1"], scope="t1", files={"example.png": "tenants/t1/files/b/example.png"}
    )
    assert first == again and first["1"] != reuploaded["1"]


def test_results_that_reach_a_module_are_recognised() -> None:
    from nodes.controlnet.control import Control

    control = Control(model=torch.nn.Linear(2, 2), hint=torch.zeros(1, 3, 8, 8), strength=1.0)
    conditioning = [[torch.zeros(1, 77, 8), {"control": control, "pooled_output": torch.zeros(1, 8)}]]
    assert holds_module((conditioning,))
    assert not holds_module(([[torch.zeros(1, 77, 8), {"pooled_output": None}]], {"samples": torch.zeros(1)}))


def test_node_result_cache_is_bounded_by_tensor_bytes() -> None:
    one = torch.zeros(256)  # 1 KiB
    cache = NodeResultCache(budget_bytes=2048)
    cache.put("a", (one,))
    cache.put("b", ({"samples": one},))
    assert cache.get("a") is not None  # a is now more recent than b
    cache.put("c", (one,))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    cache.put("huge", (torch.zeros(4096),))
    assert cache.get("huge") is None and len(cache) == 2


def test_cpu_budget_follows_a_container_memory_limit(tmp_path, monkeypatch) -> None:
    from gpu_worker import runtime

    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    monkeypatch.setattr(runtime, "CGROUP_LIMITS", (v2, v1))
    unlimited = runtime.available_memory()
    v2.write_text("max\n")
    assert runtime.available_memory() == unlimited
    v1.write_text(f"{2**30}\n")
    assert runtime.default_cache_budget("cpu") == 2**29
