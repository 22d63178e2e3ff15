"""What one request may cost, refused through the live api before anything is queued (docs/limits.md).

Each example is one the issue found accepted: a 16384x16384x4096 latent, 10,000 steps, upscale-by-8
chains, RepeatLatentBatch x64, thousands of SaveImage nodes, a 1 MiB prompt, a 15 MiB description.
The tenants here are on the Free plan, the default, with the limits its migration seeds.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.support.api import ApiClient
from tests.support.graphs import TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS, text_to_image

WORKFLOWS = Path(__file__).resolve().parents[1] / "e2e" / "comfyui_workflows"


@pytest.fixture
def free(stack, db) -> ApiClient:
    """A client of a new tenant on the Free plan (10 requests a minute: one key per test)."""
    from tests.support.factories import make_key, make_tenant

    return ApiClient(stack.base_url, make_key(make_tenant(plan="free")))


def refused(response, limit: str) -> dict[str, Any]:
    """The one limit issue of that kind in a 400 `limit_exceeded`."""
    assert response.status_code == 400, response.text[:500]
    error = response.json()["error"]
    assert error["type"] == "limit_exceeded", error
    found = [
        issue
        for entry in error["nodeErrors"].values()
        for issue in entry["errors"]
        if issue.get("limit") == limit
    ] + [issue for issue in error["errors"] if issue.get("limit") == limit]
    assert len(found) == 1, error
    assert found[0]["type"] == "limit_exceeded"
    return found[0]


def test_the_16k_latent_batch_of_4096_is_refused_naming_node_input_value_and_limit(free) -> None:
    graph = text_to_image(**{"5": {"width": 16384, "height": 16384, "batch_size": 4096}})
    response = free.post("/v1/workflows", json={"name": "huge", "graph": graph})
    size = refused(response, "latent_pixels")
    assert size == {
        "type": "limit_exceeded",
        "message": "Node 5 (EmptyLatentImage) input width: the latent would be 16384x16384 = 268.4 MP "
        "per image; this plan allows 4.2 MP per latent image.",
        "input": "width",
        "limit": "latent_pixels",
        "value": 16384 * 16384,
        "allowed": 4 * 2**20,
    }
    batch = refused(response, "batch_size")
    assert batch["input"] == "batch_size" and (batch["value"], batch["allowed"]) == (4096, 8)
    error = response.json()["error"]
    assert error["message"].startswith("The workflow exceeds a limit of its plan: Node 5 (EmptyLatentImage)")
    assert error["nodeErrors"]["5"]["classType"] == "EmptyLatentImage"
    assert free.get("/v1/workflows").json()["items"] == []  # nothing was stored


def test_ten_thousand_steps_and_too_much_sampling_are_refused(free) -> None:
    response = free.post(
        "/v1/workflows", json={"name": "s", "graph": text_to_image(**{"3": {"steps": 10000}})}
    )
    steps = refused(response, "steps")
    assert steps["message"] == (
        "Node 3 (KSampler) input steps: 10,000 steps; this plan allows 100 steps per sampler."
    )
    big = text_to_image(**{"3": {"steps": 100}, "5": {"width": 2048, "height": 2048, "batch_size": 8}})
    work = refused(free.post("/v1/workflows", json={"name": "w", "graph": big}), "sampling_work")
    assert work["message"].startswith(
        "Node 3 (KSampler) input steps: sampling 100 steps x 8 images x 4.2 MP = 3,355 megapixel-steps"
    )
    assert work["allowed"] == 200


def test_upscale_chains_and_repeated_batches_are_refused(free) -> None:
    graph = text_to_image()
    graph["20"] = {
        "class_type": "ImageScaleBy",
        "inputs": {"image": ["8", 0], "upscale_method": "bilinear", "scale_by": 8.0},
    }
    graph["21"] = {
        "class_type": "ImageScaleBy",
        "inputs": {"image": ["20", 0], "upscale_method": "bilinear", "scale_by": 8.0},
    }
    graph["9"]["inputs"]["images"] = ["21", 0]
    # 64x48 -> 512x384 -> 4096x3072 = 12.6 MP is within the Free plan's images; one more x8 is not.
    assert free.post("/v1/workflows", json={"name": "u", "graph": graph}).status_code == 201
    graph["22"] = {
        "class_type": "ImageScaleBy",
        "inputs": {"image": ["21", 0], "upscale_method": "bilinear", "scale_by": 8.0},
    }
    graph["9"]["inputs"]["images"] = ["22", 0]
    pixels = refused(free.post("/v1/workflows", json={"name": "u", "graph": graph}), "image_pixels")
    assert pixels["message"].startswith(
        "Node 22 (ImageScaleBy) input scale_by: the image would be 32768x24576"
    )

    repeated = text_to_image()
    repeated["10"] = {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["5", 0], "amount": 64}}
    repeated["3"]["inputs"]["latent_image"] = ["10", 0]
    batch = refused(free.post("/v1/workflows", json={"name": "r", "graph": repeated}), "batch_size")
    assert batch["message"] == (
        "Node 10 (RepeatLatentBatch) input amount: the batch would hold 64 images; "
        "this plan allows batches of 8."
    )


def test_thousands_of_save_nodes_are_refused(free) -> None:
    graph = text_to_image()
    for i in range(1990):
        graph[f"s{i}"] = {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}}
    response = free.post("/v1/workflows", json={"name": "many", "graph": graph})
    nodes = refused(response, "nodes")
    assert nodes["message"] == "The graph has 1,997 nodes; this plan allows 300 nodes."
    outputs = refused(response, "output_images")
    # Named once, at the output node (in run order) where the running total passes 16.
    assert (
        "(SaveImage) input images: the execution would store 17 images (1 from this node)"
        in (outputs["message"])
    )
    few = text_to_image()
    for i in range(20):
        few[f"s{i}"] = {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}}
    refused(free.post("/v1/workflows", json={"name": "some", "graph": few}), "output_images")


def test_a_one_mebibyte_prompt_is_refused_at_create_and_at_execute(free) -> None:
    prompt = "a castle on a hill, " * 52_429  # 1 MiB
    graph = text_to_image(**{"6": {"text": prompt}})
    response = free.post("/v1/workflows", json={"name": "long", "graph": graph})
    tokens = refused(response, "prompt_tokens")
    assert tokens["message"] == (
        "Node 6 (CLIPTextEncode) input text: the prompt is about 367,003 tokens long; "
        "this plan allows 512 prompt tokens."
    )
    assert refused(response, "graph_bytes")["message"].startswith("The graph is 1,04")

    created = free.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    response = free.post(f"/v1/workflows/{created['id']}/execute", json={"inputs": {"prompt": prompt}})
    assert refused(response, "prompt_tokens")["input"] == "text"
    # Named inputs change sizes too: checked against the plan at execute, nothing queued.
    response = free.post(
        f"/v1/workflows/{created['id']}/execute", json={"inputs": {"width": 16384, "height": 16384}}
    )
    assert refused(response, "latent_pixels")["value"] == 16384 * 16384
    assert free.get("/v1/executions").json()["items"] == []
    usage = free.get("/v1/usage").json()
    assert usage["executions"]["today"] == 0  # refused before the quota was taken


def test_stored_text_is_bounded(free) -> None:
    response = free.post(
        "/v1/workflows", json={"name": "d", "description": "x" * (15 * 2**20), "graph": TEXT_TO_IMAGE}
    )
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error == {
        "type": "limit_exceeded",
        "message": "The workflow's description is 15,728,640 characters; at most 8,000 are stored.",
        "field": "description",
        "value": 15 * 2**20,
        "allowed": 8000,
    }
    created = free.create_workflow(TEXT_TO_IMAGE)
    response = free.patch(f"/v1/workflows/{created['id']}", json={"description": "y" * 8001})
    assert response.json()["error"]["field"] == "description"
    many = {f"n{i}": {"node": "6", "input": "text"} for i in range(1000)}
    response = free.post("/v1/workflows", json={"name": "i", "graph": TEXT_TO_IMAGE, "inputs": many})
    assert response.json()["error"]["field"] == "inputs"
    assert free.patch(f"/v1/workflows/{created['id']}", json={"description": "y" * 8000}).status_code == 200


def test_comfyuis_default_workflows_pass_on_the_default_plan(stack, db) -> None:
    from api_service.accounts.models import Tenant
    from tests.support.factories import make_key

    tenant = Tenant.objects.create(name="new", slug="new-default-plan")  # the plan a new tenant gets
    assert tenant.plan_id == "free"
    # Cost limits are what this checks: the per-minute request limit must not cut the loop short.
    Tenant.objects.filter(pk=tenant.pk).update(requests_per_minute_override=1000)
    tenant.refresh_from_db()
    client = ApiClient(stack.base_url, make_key(tenant))
    for name in ("example.png", "canny_example.png", "yosemite_inpaint_example.png", "mountains.png"):
        buffer = io.BytesIO()
        Image.new("RGBA", (512, 512), (90, 120, 200, 255)).save(buffer, format="PNG")
        response = client.post("/v1/files", files={"file": (name, buffer.getvalue(), "image/png")})
        assert response.status_code == 201, response.text
    from tests.support.sampling import exported_sdxl_turbo

    for path in sorted(WORKFLOWS.glob("*.json")):
        graph = json.loads(path.read_text())
        if path.stem == "sdxl_turbo":
            graph = exported_sdxl_turbo(graph)
        response = client.post("/v1/workflows", json={"name": path.stem, "graph": graph})
        assert response.status_code == 201, (path.name, response.text)


def test_a_plans_limits_are_edited_as_data_under_the_settings_ceiling(db) -> None:
    from django.test import override_settings

    from api_service.accounts.limits import plan_cost_limits
    from api_service.accounts.models import Plan

    plan = Plan.objects.get(slug="pro")
    assert plan_cost_limits(plan).steps == 200
    plan.max_steps = 5000  # above the ceiling (LIMIT_MAX_STEPS, 1000 by default)
    assert plan_cost_limits(plan).steps == 1000
    plan.max_steps = None  # empty: the ceiling alone
    with override_settings(LIMIT_CEILINGS={**_ceilings(), "steps": 321}):
        assert plan_cost_limits(plan).steps == 321
    # Every seeded plan has every limit set: none is unlimited by omission.
    for seeded in Plan.objects.filter(slug__in=["free", "starter", "pro", "enterprise"]):
        assert all(getattr(seeded, f"max_{name}") for name in _ceilings()), seeded.slug


def _ceilings() -> dict[str, int]:
    from django.conf import settings

    return dict(settings.LIMIT_CEILINGS)


# -- uploads ------------------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming this size, then an IEND: no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"")[:8])
        + chunk(b"IEND", b"")
    )


def test_uploads_are_decoded_whole_before_they_are_accepted(free) -> None:
    claim = png_header_only(8192, 8192)
    assert len(claim) < 80
    response = free.post("/v1/files", files={"file": ("claim.png", claim, "image/png")})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_image"
    assert "8192x8192" in error["message"] and "truncated or corrupt" in error["message"]

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (10, 200, 30)).save(buffer, format="JPEG")
    cut = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    response = free.post("/v1/files", files={"file": ("cut.jpg", cut, "image/jpeg")})
    assert (response.status_code, response.json()["error"]["type"]) == (400, "invalid_image")

    response = free.post("/v1/files", files={"file": ("big.png", png_header_only(9000, 9000), "image/png")})
    assert (response.status_code, response.json()["error"]["type"]) == (413, "image_too_large")
    assert "9000x9000" in response.json()["error"]["message"]

    response = free.post("/v1/files", files={"file": ("whole.jpg", buffer.getvalue(), "image/jpeg")})
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (256, 256)


def test_the_size_of_an_uploaded_image_flows_into_the_graphs_cost(free) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000), (10, 200, 30)).save(buffer, format="PNG")
    uploaded = free.post("/v1/files", files={"file": ("wide.png", buffer.getvalue(), "image/png")}).json()
    graph: dict[str, Any] = {
        "1": {"class_type": "LoadImage", "inputs": {"image": uploaded["fileId"]}},
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": TEXT_TO_IMAGE["4"]["inputs"]["ckpt_name"]},
        },
        "10": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["4", 2]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
    }
    latent = refused(free.post("/v1/workflows", json={"name": "enc", "graph": graph}), "latent_pixels")
    assert latent["message"].startswith(
        "Node 10 (VAEEncode) input pixels: the latent would be 3000x2000 = 6.0 MP"
    )
    graph["2"] = {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["1", 0],
            "upscale_method": "area",
            "width": 1536,
            "height": 0,
            "crop": "disabled",
        },
    }
    graph["10"]["inputs"]["pixels"] = ["2", 0]
    assert free.post("/v1/workflows", json={"name": "enc", "graph": graph}).status_code == 201


def test_a_full_list_page_stays_bounded_on_the_largest_plan(db, capsys) -> None:
    """100 workflows at the Enterprise plan's graph cap and the name/description caps: list items carry
    no graph, so the page is bounded by the text caps alone (it was 55.7 MB with graphs in it)."""
    from django.conf import settings
    from django.test import Client

    from api_service.accounts.limits import tenant_cost_limits
    from api_service.workflows.services import workflow_create
    from nodes.cost import graph_bytes
    from tests.support.factories import make_key, make_tenant

    tenant = make_tenant(plan="enterprise")
    limits = tenant_cost_limits(tenant)
    assert limits.graph_bytes is not None
    graph: dict[str, Any] = text_to_image()
    graph["9"]["_meta"] = {"title": ""}
    graph["9"]["_meta"]["title"] = "é" * ((limits.graph_bytes - graph_bytes(graph)) // 2)  # kept, not run
    assert limits.graph_bytes - 2 <= graph_bytes(graph) <= limits.graph_bytes
    description = "🌅" * settings.WORKFLOW_DESCRIPTION_MAX_CHARS  # 4 bytes each in UTF-8
    for _ in range(100):
        workflow_create(tenant=tenant, name="n" * 200, description=description, graph=graph, inputs={})
    response = Client().get("/v1/workflows?limit=100", HTTP_AUTHORIZATION=f"Bearer {make_key(tenant)}")
    items = response.json()["items"]
    assert response.status_code == 200 and len(items) == 100
    assert all("graph" not in item for item in items)
    # UTF-8: at most 4 bytes a character; the rest of an item (ids, dates, inputs {}) well under 1 KiB.
    per_item = 4 * settings.WORKFLOW_DESCRIPTION_MAX_CHARS + 4 * 200 + 1024
    assert len(response.content) <= 100 * per_item < 4 * 2**20
    with capsys.disabled():
        print(f"\nlist page of 100 workflows at the Enterprise caps: {len(response.content):,} bytes")


def test_ops_edit_a_plans_cost_limits_in_admin(db) -> None:
    import secrets

    from django.contrib.auth import get_user_model
    from django.test import Client

    from api_service.accounts.models import Plan
    from tests.support.factories import make_tenant
    from tests.support.graphs import TEXT_TO_IMAGE

    client = Client()
    client.force_login(
        get_user_model().objects.create_superuser(username=f"ops-{secrets.token_hex(4)}", password="pw-ops-1")
    )
    Plan.objects.create(slug="tiny-steps", name="Tiny steps", requests_per_minute=100, max_steps=3)
    page = client.get("/admin/accounts/plan/tiny-steps/change/")
    assert page.status_code == 200
    assert b"max_sampling_work" in page.content and b"steps=3" in page.content  # the effective figures
    form = {
        "slug": "tiny-steps",
        "name": "Tiny steps",
        "requests_per_minute": "100",
        "max_steps": "10",
        "max_batch_size": "2",
    }
    response = client.post("/admin/accounts/plan/tiny-steps/change/", form)
    assert response.status_code == 302, response.content[:2000]
    assert (
        Plan.objects.get(slug="tiny-steps").max_steps,
        Plan.objects.get(slug="tiny-steps").max_batch_size,
    ) == (10, 2)

    from api_service.core.errors import GraphInvalid
    from api_service.workflows.services import workflow_create

    tenant = make_tenant(plan="tiny-steps")
    workflow_create(tenant=tenant, name="ok", graph=TEXT_TO_IMAGE)  # 4 steps
    with pytest.raises(GraphInvalid) as refused_graph:
        workflow_create(tenant=tenant, name="no", graph=text_to_image(**{"3": {"steps": 11}}))
    assert refused_graph.value.type == "limit_exceeded"
    assert "this plan allows 10 steps per sampler" in refused_graph.value.message
