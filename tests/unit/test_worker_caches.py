"""The worker's model cache and node result cache: loads, hits, budgets and eviction."""

from __future__ import annotations

from typing import Any, cast

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


def test_an_ignored_input_linking_to_a_missing_node_keys_without_failing() -> None:
    plan = ["4", "5", "6", "7", "3", "8", "9"]
    graph = text_to_image(**{"3": {"old_input": ["404", 0]}})
    assert node_cache_keys(graph, plan, scope="t1").keys() == set(plan)


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


def test_a_model_file_identity_changes_its_loader_key_and_everything_downstream() -> None:
    plan = ["4", "5", "6", "7", "3", "8", "9"]
    old = node_cache_keys(
        TEXT_TO_IMAGE, plan, scope="t1", models={"4": {"ckpt_name": ["checkpoints", 10, 1]}}
    )
    new = node_cache_keys(
        TEXT_TO_IMAGE, plan, scope="t1", models={"4": {"ckpt_name": ["checkpoints", 10, 2]}}
    )
    assert sorted(n for n in plan if old[n] != new[n]) == ["3", "4", "6", "7", "8", "9"]  # not "5"


def test_loading_a_replaced_file_drops_the_old_version_of_it() -> None:
    cache = ModelCache(budget_bytes=0)
    old = cache.get(
        ("checkpoint", "/m/x", "cpu", (1, 1)), lambda: linear(8), replaces=("checkpoint", "/m/x", "cpu")
    )
    other = cache.get(("checkpoint", "/m/y", "cpu", (1, 1)), lambda: linear(8))
    new = cache.get(
        ("checkpoint", "/m/x", "cpu", (1, 2)), lambda: linear(8), replaces=("checkpoint", "/m/x", "cpu")
    )
    assert new is not old and len(cache) == 2
    assert cache.get(("checkpoint", "/m/y", "cpu", (1, 1)), lambda: linear(8)) is other


def test_file_identity_follows_replaced_bytes_in_files_and_folders(tmp_path) -> None:
    import os

    from nodes.model_store import file_identity

    single = tmp_path / "x.safetensors"
    single.write_bytes(b"a" * 10)
    folder = tmp_path / "pipe"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "w.safetensors").write_bytes(b"b" * 10)
    before = file_identity(single), file_identity(folder)
    single.write_bytes(b"c" * 10)  # same size, new bytes
    (folder / "unet" / "w.safetensors").write_bytes(b"d" * 10)
    for path in (single, folder / "unet" / "w.safetensors"):
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # coarse clocks: move on
    assert (file_identity(single), file_identity(folder)) != before
    assert file_identity(single)[0] == before[0][0] == 10


def test_node_ids_never_shape_an_object_key() -> None:
    from gpu_worker.context import MAX_NODE_ID_CHARS, key_safe_node_id

    assert key_safe_node_id("9") == "9" and key_safe_node_id("ksampler-2") == "ksampler-2"
    hostile = ["../../x", "a/b", "..", "x\x00y", "é", "a_b", "%2e%2e", " ", "x" * 500, "x" * 499 + "y"]
    encoded = [key_safe_node_id(node_id) for node_id in hostile]
    for value in encoded:
        assert value and len(value) <= MAX_NODE_ID_CHARS
        assert all(c.isascii() and (c.isalnum() or c in "-~") for c in value), value
    assert encoded[0] == "~2e~2e~2f~2e~2e~2fx"
    assert len(set(encoded)) == len(encoded)  # distinct ids stay distinct, long ones too


def test_node_errors_are_classified_by_what_torch_raised() -> None:
    from gpu_worker.context import UnknownFile
    from gpu_worker.errors import GENERIC_MESSAGE, public_error
    from nodes.model_store import ModelNotFound

    def raised(action) -> BaseException:
        try:
            action()
        except Exception as exc:  # whatever torch raised, to classify
            return exc
        raise AssertionError("nothing raised")

    oom = public_error(raised(lambda: torch.empty(300 * 2**40, dtype=torch.uint8)))
    assert (oom.type, oom.requested_bytes) == ("out_of_memory", 300 * 2**40)
    assert "300.0 TiB" in oom.message
    mismatch = public_error(raised(lambda: torch.nn.Linear(768, 8)(torch.zeros(1, 77, 1024))))
    assert mismatch.type == "model_mismatch" and "77x1024 and 768x8" in mismatch.message
    added = public_error(raised(lambda: torch.zeros(2, 3) + torch.zeros(2, 4)))
    assert added.type == "model_mismatch"
    assert public_error(ModelNotFound("Model 'x' is not in checkpoints/.")).type == "model_not_found"
    assert public_error(UnknownFile("File 'f' is not part of this execution.")).type == "file_not_found"
    assert public_error(ValueError("steps must be positive")).message == "steps must be positive"
    internal = public_error(OSError("/srv/models/secret: permission denied"))
    assert (internal.type, internal.message) == ("node_error", GENERIC_MESSAGE)


def test_module_calls_check_for_a_cancel_except_inside_a_stepwise_loop(tmp_path, monkeypatch) -> None:
    import pytest

    from gpu_worker import context
    from gpu_worker.model_cache import ModelCache as Cache
    from nodes.context import ExecutionCancelled
    from nodes.model_store import ModelStore
    from protocol.messages import RunSpec

    monkeypatch.setattr(context, "CANCEL_CHECK_SECONDS", 0.0)  # ask on every call, not twice a second
    asked: list[int] = []

    def cancelled() -> bool:  # the fourth question on is answered "yes"
        asked.append(1)
        return len(asked) > 3

    spec = RunSpec("exe_1", 1, "t1", {}, [], "tenants/t1/executions/exe_1/")
    ctx = context.WorkerContext(
        spec=spec,
        device="cpu",
        models=Cache(0),
        store=ModelStore(tmp_path),
        storage=cast(Any, None),  # this test saves and reports nothing
        reporter=cast(Any, None),
        cancelled=cancelled,
    )
    layer = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    layer(torch.zeros(1, 2))
    assert asked == []  # outside a run's nodes nothing is hooked
    with ctx.cancellable_modules():
        layer(torch.zeros(1, 2))  # the Sequential and its two children
        assert len(asked) == 3
        with ctx.stepwise():
            layer(torch.zeros(1, 2))
            assert len(asked) == 3
        with pytest.raises(ExecutionCancelled):
            layer(torch.zeros(1, 2))
    layer(torch.zeros(1, 2))
    assert len(asked) == 4
