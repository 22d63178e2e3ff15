"""Caches, observed through what poll reports: cached nodes across executions, models loaded once."""

from __future__ import annotations

import pytest

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
    assert sorted(identical["cachedNodes"]) == ["3", "5", "6", "7", "8"]
    # The output node runs every time, so each execution has its own artifact, with the same pixels.
    assert identical["outputs"]["9"]["images"][0]["url"] != reseeded["outputs"]["9"]["images"][0]["url"]

    new_prompt = api.wait(api.execute(workflow["id"], {"seed": 2, "prompt": "another prompt"}))
    assert sorted(new_prompt["cachedNodes"]) == ["5", "7"]


def test_results_are_not_shared_between_tenants(api, stack) -> None:
    from tests.support.api import ApiClient
    from tests.support.factories import make_world

    other = ApiClient(stack.base_url, make_world().key)
    for client in (api, other):
        workflow = client.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
        result = client.wait(client.execute(workflow["id"], {"seed": 77, "prompt": "shared?"}))
        assert result["cachedNodes"] == []
