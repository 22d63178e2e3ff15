"""LoRA loaders through the live platform: ComfyUI's LoRA example, strengths, stacking and caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_text_to_image import download_png
from tests.support.lora_graphs import (
    LORA_INPUTS,
    lora_example,
    model_only,
    small_lora_graph,
    stacked,
    without_lora,
)
from tests.support.lora_models import EXAMPLE_CHECKPOINT, EXAMPLE_LORA, STYLE_LORA

pytestmark = pytest.mark.e2e


def completed(api, graph: dict, inputs: dict | None = None, workflow: dict | None = None) -> dict:
    workflow = workflow or api.create_workflow(graph)
    execution = api.wait(api.execute(workflow["id"], inputs or {}), timeout=240)
    assert execution["status"] == "COMPLETED", execution
    return execution


def pixels(execution: dict) -> np.ndarray:
    (image,) = execution["outputs"]["9"]["images"]
    return np.asarray(download_png(image["url"]), dtype=np.int16)


def loads_of(stack, models_dir: Path, kind: str, folder: str, name: str) -> int:
    """How often the gpu worker's model cache loaded this file (it logs each load with its key)."""
    path = models_dir / folder / name
    return (stack.log_dir / "gpu.log").read_text().count(f"loaded model ('{kind}', '{path}'")


def test_comfyui_lora_example_runs_unchanged(api) -> None:
    execution = completed(api, lora_example())
    (image,) = execution["outputs"]["9"]["images"]
    assert (image["width"], image["height"]) == (512, 512)
    assert pixels(execution).std() > 0


def test_lora_strengths_change_only_the_sampler_and_never_reload_the_checkpoint(
    api, stack, models_dir
) -> None:
    plain = pixels(completed(api, without_lora(small_lora_graph())))
    checkpoint_loads = loads_of(stack, models_dir, "checkpoint", "checkpoints", EXAMPLE_CHECKPOINT)
    assert checkpoint_loads >= 1

    workflow = api.create_workflow(small_lora_graph(), LORA_INPUTS)
    full = completed(api, {}, workflow=workflow)
    lora_loads = loads_of(stack, models_dir, "lora", "loras", EXAMPLE_LORA)
    assert lora_loads >= 1
    assert np.abs(pixels(full) - plain).mean() > 1  # the LoRA changes the picture

    zero = completed(api, {}, {"strength_model": 0, "strength_clip": 0}, workflow=workflow)
    assert np.array_equal(pixels(zero), plain)  # strength 0 is exactly the checkpoint alone

    half = completed(api, {}, {"strength_model": 0.5}, workflow=workflow)
    assert "3" not in half["cachedNodes"] and "5" in half["cachedNodes"]  # a new strength resamples
    assert not np.array_equal(pixels(half), pixels(full))
    again = completed(api, {}, {"strength_model": 0.5}, workflow=workflow)
    assert {"3", "6", "7", "8"} <= set(again["cachedNodes"])
    assert np.array_equal(pixels(again), pixels(half))

    # Four LoRA runs, three strengths: the checkpoint and the LoRA file were each read once at most.
    assert loads_of(stack, models_dir, "checkpoint", "checkpoints", EXAMPLE_CHECKPOINT) == checkpoint_loads
    assert loads_of(stack, models_dir, "lora", "loras", EXAMPLE_LORA) == lora_loads


def test_lora_loader_model_only_and_two_stacked_loras(api) -> None:
    graph = small_lora_graph()
    plain = pixels(completed(api, without_lora(graph)))
    only_model = pixels(completed(api, model_only(graph, STYLE_LORA)))
    one = pixels(completed(api, graph))
    both = pixels(completed(api, stacked(graph)))
    assert np.abs(only_model - plain).mean() > 1
    assert np.abs(both - one).mean() > 1 and np.abs(both - plain).mean() > 1


def test_a_lora_name_that_is_not_in_the_store_is_a_validation_error(api) -> None:
    graph = small_lora_graph()
    graph["10"]["inputs"]["lora_name"] = "no-such-lora.safetensors"
    response = api.post("/v1/workflows", json={"name": "bad lora", "graph": graph})
    assert response.status_code == 400, response.text
    errors = response.json()["error"]["nodeErrors"]["10"]["errors"]
    assert [(e["input"], e["type"]) for e in errors] == [("lora_name", "value_not_in_list")]
    assert EXAMPLE_LORA in errors[0]["message"]  # the message lists the LoRAs there are

    del graph["10"]["inputs"]["lora_name"]
    response = api.post("/v1/workflows", json={"name": "no lora", "graph": graph})
    assert response.status_code == 400, response.text
    errors = response.json()["error"]["nodeErrors"]["10"]["errors"]
    assert [(e["input"], e["type"]) for e in errors] == [("lora_name", "required_input_missing")]
