"""Caches, observed through what poll reports: cached nodes across executions, models loaded once."""

from __future__ import annotations

import pytest
import requests

from tests.support.graphs import TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS

pytestmark = pytest.mark.e2e


def test_a_new_seed_recomputes_only_the_sampler_and_what_follows(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    first = api.wait(api.execute(workflow["id"], {"seed": 1, "prompt": "a cache test"}))
    assert first["status"] == "COMPLETED", first
    assert first["cachedNodes"] == []  # a new tenant never shares another tenant's results

    reseeded = api.wait(api.execute(workflow["id"], {"seed": 2, "prompt": "a cache test"}))
    assert reseeded["status"] == "COMPLETED", reseeded
    assert sorted(reseeded["cachedNodes"]) == ["5", "6", "7"]  # the loader hits the model cache instead

    identical = api.wait(api.execute(workflow["id"], {"seed": 2, "prompt": "a cache test"}))
    # Nothing is recomputed: even SaveImage's PNG is copied from the earlier run, not encoded again.
    assert sorted(identical["cachedNodes"]) == ["3", "5", "6", "7", "8", "9"]
    # Each execution still owns its artifact (its own object), with the very same bytes.
    mine, earlier = identical["outputs"]["9"]["images"][0], reseeded["outputs"]["9"]["images"][0]
    assert mine["url"] != earlier["url"] and identical["executionId"] in mine["url"]
    assert requests.get(mine["url"], timeout=30).content == requests.get(earlier["url"], timeout=30).content
    assert (mine["width"], mine["height"]) == (earlier["width"], earlier["height"])

    new_prompt = api.wait(api.execute(workflow["id"], {"seed": 2, "prompt": "another prompt"}))
    assert "9" not in new_prompt["cachedNodes"]
    assert sorted(new_prompt["cachedNodes"]) == ["5", "7"]


def test_results_are_not_shared_between_tenants(api, stack) -> None:
    from tests.support.api import ApiClient
    from tests.support.factories import make_world

    other = ApiClient(stack.base_url, make_world().key)
    for client in (api, other):
        workflow = client.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
        result = client.wait(client.execute(workflow["id"], {"seed": 77, "prompt": "shared?"}))
        assert result["cachedNodes"] == []


def test_an_identical_rerun_whose_earlier_artifact_is_gone_saves_again(api, db) -> None:
    from django.conf import settings

    from api_service.core import storage
    from api_service.workflows.models import Execution

    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    inputs = {"seed": 5, "prompt": "gone artifacts"}
    first = api.wait(api.execute(workflow["id"], inputs))
    key = Execution.objects.get(pk=first["executionId"]).outputs["9"]["images"][0]["key"]
    storage.internal_client().delete_object(Bucket=settings.S3_BUCKET, Key=key)  # retention removed it

    again = api.wait(api.execute(workflow["id"], inputs))
    assert again["status"] == "COMPLETED", again
    assert "9" not in again["cachedNodes"] and "3" in again["cachedNodes"]
    assert requests.get(again["outputs"]["9"]["images"][0]["url"], timeout=30).status_code == 200


def test_reused_outputs_never_take_another_outputs_file(api) -> None:
    import copy
    import io

    from PIL import Image

    def pixels(image: dict) -> bytes:
        return Image.open(io.BytesIO(requests.get(image["url"], timeout=30).content)).tobytes()

    first = api.wait(api.execute(api.create_workflow(TEXT_TO_IMAGE)["id"]))
    # The same SaveImage (same inputs) under another id, beside a new "9" that saves other pixels.
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    graph["12"] = copy.deepcopy(graph["9"])
    graph["13"] = {"class_type": "ImageInvert", "inputs": {"image": ["8", 0]}}
    graph["9"]["inputs"]["images"] = ["13", 0]
    second = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert "12" in second["cachedNodes"] and "9" not in second["cachedNodes"]
    reused, inverted = second["outputs"]["12"]["images"][0], second["outputs"]["9"]["images"][0]
    assert reused["url"].split("?")[0] != inverted["url"].split("?")[0]
    assert pixels(reused) == pixels(first["outputs"]["9"]["images"][0])
    assert pixels(inverted) != pixels(reused)


def test_a_failed_run_reports_the_nodes_it_reused_and_what_went_wrong(api) -> None:
    from tests.support.graphs import text_to_image
    from tests.support.sdxl_models import SDXL_CHECKPOINT

    inputs = {"seed": 11, "prompt": "a failing cache test"}
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    assert api.wait(api.execute(workflow["id"], inputs))["status"] == "COMPLETED"
    mixed = text_to_image(**{"6": {"text": "an SDXL encoding"}, "3": {"seed": 11}})
    mixed["10"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": SDXL_CHECKPOINT}}
    mixed["6"]["inputs"]["clip"] = ["10", 1]  # fed to the SD 1.5 UNet: the sampler cannot run it
    failed = api.wait(api.execute(api.create_workflow(mixed)["id"]))
    assert failed["status"] == "FAILED"
    assert (failed["error"]["nodeId"], failed["error"]["type"]) == ("3", "model_mismatch"), failed["error"]
    assert "different families" in failed["error"]["message"]
    assert sorted(failed["cachedNodes"]) == ["5", "7"]  # the negative prompt and latent were reused
