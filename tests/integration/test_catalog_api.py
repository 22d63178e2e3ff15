"""The node catalogue, the model store and the API's own documentation."""

from __future__ import annotations

import re

from tests.support.graphs import BROKEN_CHECKPOINT, SINGLE_FILE_CHECKPOINT, TINY_CHECKPOINT, TINY_VAE
from tests.support.lora_models import LORA_NAMES
from tests.support.sdxl_models import SDXL_CHECKPOINT, SDXL_SINGLE_FILE
from tiny_models.demo import DEMO_LORA


def test_nodes_catalogue_comes_from_the_schemas(api) -> None:
    items = api.get("/v1/nodes").json()["items"]
    by_type = {node["classType"]: node for node in items}
    assert {"CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "SaveImage", "LoadImage"} <= set(by_type)
    ksampler = by_type["KSampler"]
    assert ksampler["category"] == "sampling"
    steps = next(i for i in ksampler["inputs"] if i["name"] == "steps")
    assert (steps["type"], steps["default"], steps["min"], steps["max"]) == ("INT", 20, 1, 10000)
    assert ksampler["outputs"] == [{"index": 0, "type": "LATENT", "name": "LATENT"}]
    detail = api.get("/v1/nodes/CheckpointLoaderSimple").json()
    # Other test models (default-workflow names) may be listed too: these must be, in sorted order.
    choices = detail["inputs"][0]["choices"]
    assert choices == sorted(choices)
    assert {
        BROKEN_CHECKPOINT,
        SINGLE_FILE_CHECKPOINT,
        TINY_CHECKPOINT,
        SDXL_CHECKPOINT,
        SDXL_SINGLE_FILE,
    } <= set(choices)
    vae = api.get("/v1/nodes/VAELoader").json()
    # FLUX's, SD3's and Wan's VAEs too (flux_models.py, sd3_models.py, wan_models.py).
    assert vae["inputs"][0]["choices"] == [
        "ae.safetensors",
        "sd3_vae.safetensors",
        TINY_VAE,
        "wan_2.1_vae.safetensors",
    ]
    missing = api.get("/v1/nodes/NoSuchNode")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"


def test_models_lists_what_is_on_disk(api) -> None:
    models = api.get("/v1/models").json()
    names = {m["name"]: m for m in models["checkpoints"]}
    assert names[TINY_CHECKPOINT]["format"] == "diffusers"
    assert names[TINY_CHECKPOINT]["sizeBytes"] > 100_000
    assert [m["name"] for m in models["loras"]] == sorted([*LORA_NAMES, DEMO_LORA])  # + make run's demo


def test_models_report_their_family(api) -> None:
    """Detected from configs and safetensors headers (no torch in the api): SD1 and SDXL in both formats."""
    models = api.get("/v1/models").json()
    families = {m["name"]: m["family"] for folder in models.values() for m in folder}
    assert {name: families[name] for name in (TINY_CHECKPOINT, SINGLE_FILE_CHECKPOINT)} == {
        TINY_CHECKPOINT: "sd15",
        SINGLE_FILE_CHECKPOINT: "sd15",
    }
    assert (families[SDXL_CHECKPOINT], families[SDXL_SINGLE_FILE]) == ("sdxl", "sdxl")
    assert families[TINY_VAE] == "sd_vae"
    assert families[BROKEN_CHECKPOINT] == "unknown"  # a model_index.json without a unet/


def test_openapi_and_docs_are_served_without_a_key(anonymous) -> None:
    schema = anonymous.get("/v1/openapi.json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    assert "/v1/workflows/{workflow_id}/execute" in spec["paths"]
    assert "/v1/workflows/executions/{execution_id}/poll" in spec["paths"]
    docs = anonymous.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    # The page's assets are served locally (no CDN: installs may be offline).
    assets = re.findall(r"[\"'](/static/[^\"']+\.(?:js|css))[\"']", docs.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert anonymous.get(asset).status_code == 200
