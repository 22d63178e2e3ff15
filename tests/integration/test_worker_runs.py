"""One execution attempt inside the gpu worker's code, on real Redis and S3: what a run does when its
model file is replaced, when the listing is stale, when it runs out of memory or is cancelled mid-node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.graphs import text_to_image
from tests.support.worker_runtime import in_node, run_attempt, worker_runtime

SWAPPED = "swapped.safetensors"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    from tiny_models.sd15 import write_tiny_sd15_single_file

    root = tmp_path / "models"
    write_tiny_sd15_single_file(root / "checkpoints" / SWAPPED, seed=0)
    return root


@pytest.fixture
def runtime(db, models: Path):
    return worker_runtime(models)


def graph(**node_inputs: Any) -> dict:
    built = text_to_image(**node_inputs)
    built["4"]["inputs"]["ckpt_name"] = SWAPPED
    return built


def image_bytes(runtime, attempt) -> bytes:
    assert attempt.outcome == "completed", attempt.last
    return runtime.storage.get(attempt.last["outputs"]["9"]["images"][0]["key"])


def test_weights_replaced_under_the_same_name_are_loaded_and_nothing_old_is_served(runtime, models) -> None:
    from tiny_models.sd15 import write_tiny_sd15_single_file

    first = run_attempt(runtime, graph())
    old_image = image_bytes(runtime, first)
    again = run_attempt(runtime, graph())
    assert image_bytes(runtime, again) == old_image
    assert sorted(again.last["cachedNodes"]) == ["3", "5", "6", "7", "8", "9"]

    write_tiny_sd15_single_file(models / "checkpoints" / SWAPPED, seed=1)  # new weights, same name
    swapped = run_attempt(runtime, graph())
    assert image_bytes(runtime, swapped) != old_image
    # Only the empty latent, which no model made, is reused; the text encodings are computed anew.
    assert swapped.last["cachedNodes"] == ["5"]
    # The old file's model is dropped, not kept beside the new one until evicted.
    assert (runtime.models.loads, len(runtime.models)) == (2, 1)


def test_a_model_added_after_the_worker_listed_its_store_is_found(db, models) -> None:
    from tiny_models.sd15 import write_tiny_sd15_single_file

    runtime = worker_runtime(models, listing_ttl=3600)
    assert runtime.store.names("checkpoints") == [SWAPPED]  # memoised for an hour
    write_tiny_sd15_single_file(models / "checkpoints" / "added.safetensors", seed=2)
    built = text_to_image()
    built["4"]["inputs"]["ckpt_name"] = "added.safetensors"
    assert run_attempt(runtime, built).outcome == "completed"


def test_a_worker_side_validation_error_names_its_node_and_input(runtime) -> None:
    built = text_to_image()
    built["4"]["inputs"]["ckpt_name"] = "gone.safetensors"
    failed = run_attempt(runtime, built)
    assert failed.outcome == "failed"
    error = failed.last["error"]
    assert (error["nodeId"], error["classType"], error["input"]) == (
        "4",
        "CheckpointLoaderSimple",
        "ckpt_name",
    )
    assert error["type"] == "value_not_in_list" and "gone.safetensors" in error["message"]


def test_a_broken_pickled_checkpoint_is_refused_before_a_node_runs(runtime, models) -> None:
    (models / "checkpoints" / "legacy.ckpt").write_bytes(b"\x80\x02not really a pickle")
    built = text_to_image()
    built["4"]["inputs"]["ckpt_name"] = "legacy.ckpt"
    failed = run_attempt(runtime, built)
    error = failed.last["error"]
    assert (failed.outcome, error["type"], error["nodeId"], error["input"]) == (
        "failed",
        "model_not_loadable",
        "4",
        "ckpt_name",
    )
    assert "not a readable torch weights file" in error["message"]


def test_running_out_of_memory_fails_the_node_and_frees_the_worker(runtime) -> None:
    huge = graph(**{"5": {"width": 16384, "height": 16384, "batch_size": 4096}})
    failed = run_attempt(runtime, huge)
    assert failed.outcome == "failed"
    error = failed.last["error"]
    assert (error["type"], error["nodeId"], error["classType"]) == ("out_of_memory", "5", "EmptyLatentImage")
    assert error["requestedBytes"] == 4096 * 4 * 2048 * 2048 * 4  # float32 latents
    assert "256.0 GiB" in error["message"]
    # The next run has the memory back.
    assert run_attempt(runtime, graph()).outcome == "completed"


def test_a_failed_run_reports_its_cached_nodes_and_what_went_wrong(runtime, models) -> None:
    from tiny_models.sdxl import write_tiny_sdxl_single_file

    write_tiny_sdxl_single_file(models / "checkpoints" / "xl.safetensors", seed=0)
    assert run_attempt(runtime, graph()).outcome == "completed"
    mixed = graph()
    mixed["10"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "xl.safetensors"}}
    mixed["6"]["inputs"]["clip"] = ["10", 1]  # an SDXL text encoding fed to the SD 1.5 UNet
    failed = run_attempt(runtime, mixed)
    assert failed.outcome == "failed"
    error = failed.last["error"]
    assert (error["nodeId"], error["type"]) == ("3", "model_mismatch"), error
    assert "different families" in error["message"] and "log" not in error["message"]
    assert sorted(failed.last["cachedNodes"]) == ["5", "7"]


def _cancelled_inside(runtime, built: dict, class_type: str) -> None:
    attempt = run_attempt(runtime, built, cancel_when=in_node(class_type), cancel_delay=0.5)
    assert attempt.outcome == "cancelled", attempt.events
    # Figures for the report, not assertions: the check runs in torch forward hooks at most twice a second.
    print(f"\ncancel inside {class_type}: stopped {attempt.stop_latency:.2f}s after the flag")
    assert run_attempt(runtime, graph()).outcome == "completed"  # the worker is free again


def test_a_cancel_stops_a_long_vae_decode(runtime) -> None:
    decode = graph(**{"5": {"width": 2048, "height": 2048}})
    decode["8"]["inputs"]["samples"] = ["5", 0]  # straight from the empty latent: all the time is decoding
    _cancelled_inside(runtime, decode, "VAEDecode")


def test_a_cancel_stops_the_text_encoding_of_a_long_prompt(runtime) -> None:
    _cancelled_inside(runtime, graph(**{"6": {"text": "a photo of a cat " * 40_000}}), "CLIPTextEncode")


def test_a_hostile_node_id_never_shapes_the_object_key(runtime) -> None:
    built = graph()
    built["../../x"] = built.pop("9")
    saved = run_attempt(runtime, built)
    assert saved.outcome == "completed", saved.last
    [image] = saved.last["outputs"]["../../x"]["images"]
    prefix = f"tenants/t_worker/executions/{saved.last['executionId']}/"
    assert image["key"].startswith(prefix) and "/" not in image["key"][len(prefix) :]
    assert image["filename"] == "ComfyUI_~2e~2e~2f~2e~2e~2fx_00001.png"
    assert runtime.storage.get(image["key"]).startswith(b"\x89PNG")
    again = run_attempt(runtime, built)  # an identical rerun copies it under a name of the same shape
    assert again.last["outputs"]["../../x"]["images"][0]["filename"] == image["filename"]
