"""The cost pass: every node's shape rule, the figures a graph adds up to, and the limits' messages."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from nodes.catalog import default_registry
from nodes.cost import CostLimits, GraphCost, Pixels, cost_issues, estimate_cost, estimate_tokens
from nodes.cost_rules import RULES, UPSCALE_MODEL_MAX_SCALE
from nodes.graph import validate_graph
from nodes.schema import NodeSpec

REGISTRY = default_registry()
WORKFLOWS = Path(__file__).resolve().parents[1] / "e2e" / "comfyui_workflows"
MI = 2**20


def free_plan() -> CostLimits:
    """The Free plan as the data migration seeds it."""
    migration = importlib.import_module("api_service.accounts.migrations.0003_plan_cost_limits")
    names = [field.removeprefix("max_") for field in migration.FIELDS]
    return CostLimits(**dict(zip(names, migration.PLAN_LIMITS["free"], strict=True)))


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def base(**extra: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint and two prompts; tests add the nodes they are about."""
    return {
        "ckpt": node("CheckpointLoaderSimple", ckpt_name="m"),
        "pos": node("CLIPTextEncode", text="a photo of a cat", clip=["ckpt", 1]),
        "neg": node("CLIPTextEncode", text="blurry", clip=["ckpt", 1]),
        **extra,
    }


def shape(graph: dict[str, Any], node_id: str, index: int = 0, **kwargs: Any) -> Pixels:
    """The shape output `index` of `node_id` has (a PreviewImage is added where nothing saves)."""
    return estimate(graph, **kwargs).outputs[node_id][index]


def spec_of(class_type: str) -> NodeSpec:
    spec = REGISTRY.get(class_type)
    assert spec is not None, class_type
    return spec


def estimate(graph: dict[str, Any], **kwargs: Any) -> GraphCost:
    if not any(spec_of(n["class_type"]).output_node for n in graph.values()):
        graph = {**graph, "out": node("PreviewImage", images=[_last_image(graph), 0])}
    return estimate_cost(graph, REGISTRY, **kwargs)


def _last_image(graph: dict[str, Any]) -> str:
    for node_id in reversed(list(graph)):
        outputs = spec_of(graph[node_id]["class_type"]).outputs
        if outputs and outputs[0].type == "IMAGE":
            return node_id
    raise AssertionError("no IMAGE output to preview")


def decoded(**latent_nodes: dict[str, Any]) -> dict[str, Any]:
    """Latent nodes ending in node "last", decoded so an output node needs them."""
    return base(**latent_nodes, dec=node("VAEDecode", samples=["last", 0], vae=["ckpt", 2]))


def issues_of(graph: dict[str, Any], limits: CostLimits | None = None, **kwargs: Any) -> list[dict]:
    return [i.to_public() for i in cost_issues(estimate(graph, **kwargs), limits or free_plan())]


# -- the catalogue ------------------------------------------------------------------------------


def test_every_registered_node_has_a_cost_rule_and_every_rule_a_node() -> None:
    registered = {spec.class_type for spec in REGISTRY}
    assert registered - set(RULES) == set(), "add a rule to nodes/cost_rules.py for these nodes"
    assert set(RULES) - registered == set()


def test_a_node_without_a_rule_costs_the_largest_image_never_nothing() -> None:
    graph = decoded(last=node("EmptyLatentImage", width=64, height=64, batch_size=1))
    rules = {k: v for k, v in RULES.items() if k != "EmptyLatentImage"}
    cost = estimate_cost(
        {**graph, "out": node("SaveImage", images=["dec", 0])},
        REGISTRY,
        rules=rules,
        unknown_image=(8192, 8192),
    )
    latent = next(m for m in cost.measures if m.measure == "latent_pixels")
    assert (latent.node_id, latent.value) == ("last", 8192 * 8192)


# -- latents ------------------------------------------------------------------------------------


def test_empty_latent_image_is_its_width_height_and_batch() -> None:
    graph = decoded(last=node("EmptyLatentImage", width=768, height=512, batch_size=3))
    assert shape(graph, "last") == Pixels("latent", 768, 512, 3, "width", "batch_size")
    # Defaults apply where an input is left out, as at run time (512 x 512, batch 1).
    graph = decoded(last=node("EmptyLatentImage"))
    assert (shape(graph, "last").area, shape(graph, "last").batch) == (512 * 512, 1)


def test_the_issues_16k_latent_is_refused_naming_node_input_value_and_limit() -> None:
    graph = decoded(
        **{"5": node("EmptyLatentImage", width=16384, height=16384, batch_size=4096)},
        last=node("LatentFlip", samples=["5", 0], flip_method="x-axis: vertically"),
    )
    found = {i["limit"]: i for i in issues_of(graph)}
    assert found["latent_pixels"]["message"] == (
        "Node 5 (EmptyLatentImage) input width: the latent would be 16384x16384 = 268.4 MP per image; "
        "this plan allows 4.2 MP per latent image."
    )
    assert (found["latent_pixels"]["value"], found["latent_pixels"]["allowed"]) == (16384**2, 4 * MI)
    assert found["batch_size"]["input"] == "batch_size" and found["batch_size"]["value"] == 4096
    # The decode of that latent is not reported again: the latent was the cause.
    assert all(i["message"].startswith("Node 5 ") or i["limit"] == "output_images" for i in found.values())


def test_latent_upscale_to_a_size_keeps_the_aspect_for_a_zero_side() -> None:
    def upscaled(width: int, height: int) -> Pixels:
        graph = decoded(
            src=node("EmptyLatentImage", width=512, height=256),
            last=node(
                "LatentUpscale",
                samples=["src", 0],
                upscale_method="bilinear",
                width=width,
                height=height,
                crop="disabled",
            ),
        )
        return shape(graph, "last")

    assert (upscaled(1024, 768).width, upscaled(1024, 768).height) == (1024, 768)
    assert (upscaled(0, 512).width, upscaled(0, 512).height) == (1024, 512)
    assert (upscaled(2048, 0).width, upscaled(2048, 0).height) == (2048, 1024)
    assert upscaled(0, 0).area == 512 * 256


def test_upscale_by_chains_multiply_and_the_node_that_crosses_the_limit_is_named() -> None:
    graph = decoded(
        src=node("EmptyLatentImage", width=512, height=512),
        up1=node("LatentUpscaleBy", samples=["src", 0], upscale_method="bilinear", scale_by=2.0),
        up2=node("LatentUpscaleBy", samples=["up1", 0], upscale_method="bilinear", scale_by=8.0),
        last=node("LatentUpscaleBy", samples=["up2", 0], upscale_method="bilinear", scale_by=8.0),
    )
    assert shape(graph, "last").width == 512 * 2 * 8 * 8
    (crossing,) = [i for i in issues_of(graph) if i["limit"] == "latent_pixels"]
    assert crossing["message"].startswith(
        "Node up2 (LatentUpscaleBy) input scale_by: the latent would be 8192x8192"
    )


def test_latent_crop_rotate_and_batch_nodes() -> None:
    src = node("EmptyLatentImage", width=1024, height=512, batch_size=4)
    crop = decoded(src=src, last=node("LatentCrop", samples=["src", 0], width=2048, height=256, x=0, y=0))
    assert (shape(crop, "last").width, shape(crop, "last").height) == (
        1024,
        256,
    )  # never larger than the source
    for rotation, size in (
        ("90 degrees", (512, 1024)),
        ("180 degrees", (1024, 512)),
        ("270 degrees", (512, 1024)),
    ):
        graph = decoded(src=src, last=node("LatentRotate", samples=["src", 0], rotation=rotation))
        assert (shape(graph, "last").width, shape(graph, "last").height) == size
    picked = decoded(src=src, last=node("LatentFromBatch", samples=["src", 0], batch_index=0, length=64))
    assert shape(picked, "last").batch == 4
    picked = decoded(src=src, last=node("LatentFromBatch", samples=["src", 0], batch_index=1, length=2))
    assert shape(picked, "last").batch == 2
    repeated = decoded(src=src, last=node("RepeatLatentBatch", samples=["src", 0], amount=64))
    assert shape(repeated, "last").batch == 256
    found = {i["limit"]: i for i in issues_of(repeated)}
    assert found["batch_size"]["message"] == (
        "Node last (RepeatLatentBatch) input amount: the batch would hold 256 images; "
        "this plan allows batches of 8."
    )


def test_latents_that_keep_the_first_inputs_shape() -> None:
    big = node("EmptyLatentImage", width=1024, height=1024, batch_size=2)
    small = node("EmptyLatentImage", width=256, height=256)
    mask = node("SolidMask", value=1.0, width=64, height=64)
    cases: dict[str, dict[str, Any]] = {
        "LatentComposite": {"samples_to": ["a", 0], "samples_from": ["b", 0]},
        "LatentBlend": {"samples1": ["a", 0], "samples2": ["b", 0]},
        "LatentFlip": {"samples": ["a", 0], "flip_method": "x-axis: vertically"},
        "SetLatentNoiseMask": {"samples": ["a", 0], "mask": ["m", 0]},
    }
    for class_type, inputs in cases.items():
        graph = decoded(a=big, b=small, m=mask, last=node(class_type, **inputs))
        assert (shape(graph, "last").area, shape(graph, "last").batch) == (1024 * 1024, 2), class_type


def test_vae_encode_and_decode_carry_the_size_of_the_uploaded_image() -> None:
    load = node("LoadImage", image="photo.png")
    mask = node("SolidMask", value=1.0, width=64, height=64)
    for class_type, extra in (
        ("VAEEncode", {}),
        ("VAEEncodeForInpaint", {"mask": ["m", 0], "grow_mask_by": 6}),
    ):
        graph = decoded(img=load, m=mask, last=node(class_type, pixels=["img", 0], vae=["ckpt", 2], **extra))
        sizes = {"photo.png": (3000, 2000)}
        assert shape(graph, "last", image_sizes=sizes) == Pixels("latent", 3000, 2000, 1, "pixels", "pixels")
        assert shape(graph, "dec", image_sizes=sizes).kind == "image"
        (issue,) = [i for i in issues_of(graph, image_sizes=sizes) if i["limit"] == "latent_pixels"]
        assert issue["message"].startswith(
            f"Node last ({class_type}) input pixels: the latent would be 3000x2000"
        )


def test_an_image_of_unknown_size_counts_as_the_largest() -> None:
    graph = {"img": node("LoadImage", image="nobody-knows.png")}
    assert shape(graph, "img", unknown_image=(9000, 9000)).area == 81_000_000
    assert shape(graph, "img", index=1, unknown_image=(9000, 9000)).kind == "mask"


# -- images and masks ---------------------------------------------------------------------------


def loaded(**nodes_: dict[str, Any]) -> dict[str, Any]:
    return {"img": node("LoadImage", image="in.png"), **nodes_}


SIZES = {"in.png": (1000, 500)}


def image_shape(graph: dict[str, Any], node_id: str = "last", index: int = 0) -> tuple[int, int, int]:
    out = shape(graph, node_id, index, image_sizes=SIZES)
    return out.width, out.height, out.batch


def test_image_scale_nodes() -> None:
    scale = {"upscale_method": "bilinear", "crop": "disabled"}
    assert image_shape(loaded(last=node("ImageScale", image=["img", 0], width=640, height=480, **scale))) == (
        640,
        480,
        1,
    )
    assert image_shape(loaded(last=node("ImageScale", image=["img", 0], width=0, height=1000, **scale))) == (
        2000,
        1000,
        1,
    )
    assert image_shape(loaded(last=node("ImageScale", image=["img", 0], width=0, height=0, **scale))) == (
        1000,
        500,
        1,
    )
    by = loaded(last=node("ImageScaleBy", image=["img", 0], upscale_method="bilinear", scale_by=2.5))
    assert image_shape(by) == (2500, 1250, 1)
    total = loaded(
        last=node("ImageScaleToTotalPixels", image=["img", 0], upscale_method="bilinear", megapixels=2.0)
    )
    width, height, _ = image_shape(total)
    assert abs(width * height - 2 * MI) < 3000 and abs(width / height - 2) < 0.01


def test_upscale_with_model_uses_the_factor_in_the_models_name_else_the_largest() -> None:
    def upscaled(model_name: str) -> tuple[int, int, int]:
        return image_shape(
            loaded(
                model=node("UpscaleModelLoader", model_name=model_name),
                last=node("ImageUpscaleWithModel", upscale_model=["model", 0], image=["img", 0]),
            )
        )

    assert upscaled("RealESRGAN_x4plus.safetensors") == (4000, 2000, 1)
    assert upscaled("RealESRGAN_x2plus.pth") == (2000, 1000, 1)
    assert upscaled("4x-UltraSharp.pth") == (4000, 2000, 1)
    assert upscaled("my-upscaler.safetensors") == (
        1000 * UPSCALE_MODEL_MAX_SCALE,
        500 * UPSCALE_MODEL_MAX_SCALE,
        1,
    )


def test_crop_pad_and_batch_images() -> None:
    crop = loaded(last=node("ImageCrop", image=["img", 0], width=300, height=900, x=0, y=0))
    assert image_shape(crop) == (300, 500, 1)
    pad = loaded(
        last=node(
            "ImagePadForOutpaint", image=["img", 0], left=10, top=20, right=4000, bottom=0, feathering=40
        )
    )
    assert image_shape(pad) == (5010, 520, 1) and image_shape(pad, index=1) == (5010, 520, 1)
    assert shape(pad, "last", 1, image_sizes=SIZES).kind == "mask"
    # 2.6 MP: within the Free plan's images.
    assert not [i for i in issues_of(pad, image_sizes=SIZES) if i["limit"] == "image_pixels"]
    batch = loaded(
        two=node("ImageBatch", image1=["img", 0], image2=["img", 0]),
        last=node("ImageBatch", image1=["two", 0], image2=["two", 0]),
    )
    assert image_shape(batch) == (1000, 500, 4)


def test_images_and_masks_that_keep_their_size() -> None:
    other = node(
        "ImageScale", image=["img", 0], upscale_method="bilinear", width=64, height=64, crop="disabled"
    )
    cases: dict[str, dict[str, Any]] = {
        "ImageBlend": {"image1": ["img", 0], "image2": ["o", 0], "blend_factor": 0.5, "blend_mode": "normal"},
        "ImageCompositeMasked": {
            "destination": ["img", 0],
            "source": ["o", 0],
            "x": 0,
            "y": 0,
            "resize_source": False,
        },
        "ImageBlur": {"image": ["img", 0], "blur_radius": 1, "sigma": 1.0},
        "ImageSharpen": {"image": ["img", 0], "sharpen_radius": 1, "sigma": 1.0, "alpha": 1.0},
        "ImageQuantize": {"image": ["img", 0], "colors": 16, "dither": "none"},
        "ImageInvert": {"image": ["img", 0]},
    }
    for class_type, inputs in cases.items():
        assert image_shape(loaded(o=other, last=node(class_type, **inputs))) == (1000, 500, 1), class_type
    to_mask = loaded(
        last=node("ImageToMask", image=["img", 0], channel="red"), back=node("MaskToImage", mask=["last", 0])
    )
    assert shape(to_mask, "last", image_sizes=SIZES).kind == "mask"
    back = loaded(
        m=node("ImageToMask", image=["img", 0], channel="red"), last=node("MaskToImage", mask=["m", 0])
    )
    assert image_shape(back) == (1000, 500, 1)


def test_mask_nodes() -> None:
    def mask_shape(**nodes_: dict[str, Any]) -> tuple[int, int, int]:
        graph = {**nodes_, "img": node("MaskToImage", mask=["last", 0])}
        out = shape(graph, "last", image_sizes=SIZES)
        assert out.kind == "mask"
        return out.width, out.height, out.batch

    assert mask_shape(last=node("SolidMask", value=1.0, width=300, height=200)) == (300, 200, 1)
    assert mask_shape(last=node("LoadImageMask", image="in.png", channel="alpha")) == (1000, 500, 1)
    solid = node("SolidMask", value=1.0, width=300, height=200)
    assert mask_shape(s=solid, last=node("CropMask", mask=["s", 0], x=0, y=0, width=100, height=900)) == (
        100,
        200,
        1,
    )
    small = node("SolidMask", value=1.0, width=10, height=10)
    cases: dict[str, dict[str, Any]] = {
        "FeatherMask": {"mask": ["s", 0], "left": 1, "top": 1, "right": 1, "bottom": 1},
        "GrowMask": {"mask": ["s", 0], "expand": 2, "tapered_corners": True},
        "InvertMask": {"mask": ["s", 0]},
        "ThresholdMask": {"mask": ["s", 0], "value": 0.5},
        "MaskComposite": {"destination": ["s", 0], "source": ["t", 0], "x": 0, "y": 0, "operation": "add"},
    }
    for class_type, inputs in cases.items():
        assert mask_shape(s=solid, t=small, last=node(class_type, **inputs)) == (300, 200, 1), class_type


# -- prompts, sampling, outputs -----------------------------------------------------------------


def sampled(steps: int = 20, latent: dict | None = None, **extra: Any) -> dict[str, Any]:
    graph = base(
        lat=latent or node("EmptyLatentImage", width=512, height=512, batch_size=1),
        last=node(
            "KSampler",
            model=["ckpt", 0],
            seed=1,
            steps=steps,
            cfg=7.0,
            sampler_name="euler",
            scheduler="normal",
            positive=["pos", 0],
            negative=["neg", 0],
            latent_image=["lat", 0],
            denoise=1.0,
        ),
        dec=node("VAEDecode", samples=["last", 0], vae=["ckpt", 2]),
        save=node("SaveImage", images=["dec", 0], filename_prefix="x"),
    )
    graph["last"]["inputs"].update(extra)
    return graph


def test_steps_are_limited_per_sampler_and_sampling_work_per_execution() -> None:
    (issue,) = [i for i in issues_of(sampled(steps=10000)) if i["limit"] == "steps"]
    assert (
        issue["message"]
        == "Node last (KSampler) input steps: 10,000 steps; this plan allows 100 steps per sampler."
    )
    assert issues_of(sampled(steps=100)) == []
    big = node("EmptyLatentImage", width=2048, height=2048, batch_size=8)
    found = {i["limit"]: i for i in issues_of(sampled(steps=50, latent=big))}
    assert found["sampling_work"]["message"].startswith(
        "Node last (KSampler) input steps: sampling 50 steps x 8 images x 4.2 MP = 1,678 megapixel-steps"
    )
    assert estimate(sampled(steps=20)).sampling_work == pytest.approx(20 * 512 * 512 / 1e6)


def test_ksampler_advanced_counts_its_steps_too() -> None:
    graph = sampled(steps=20)
    inputs = graph["last"]["inputs"]
    inputs.pop("seed"), inputs.pop("denoise")
    inputs.update(
        noise_seed=1,
        add_noise="enable",
        start_at_step=0,
        end_at_step=10000,
        return_with_leftover_noise="disable",
        steps=5000,
    )
    graph["last"]["class_type"] = "KSamplerAdvanced"
    assert (
        validate_graph({**graph, "s": node("SaveImage", images=["dec", 0])}, REGISTRY, dynamic_choices={})
        == []
    )
    assert [i["limit"] for i in issues_of(graph)] == ["steps", "sampling_work"]


def test_a_long_prompt_is_refused_at_its_text_input() -> None:
    prompt = "a castle on a hill, " * 50_000  # about 1 MiB
    graph = sampled()
    graph["pos"]["inputs"]["text"] = prompt
    (issue,) = [i for i in issues_of(graph) if i.get("input") == "text"]
    assert issue["message"].startswith(
        "Node pos (CLIPTextEncode) input text: the prompt is about 350,000 tokens"
    )
    assert issue["allowed"] == 512


def test_sdxl_prompts_are_counted_for_both_encoders() -> None:
    graph = sampled()
    graph["pos"] = node("CLIPTextEncodeSDXL", clip=["ckpt", 1], text_g="short", text_l="word " * 600)
    found = [i for i in issues_of(graph) if i["limit"] == "prompt_tokens"]
    assert [i["input"] for i in found] == ["text_l"]


def test_combined_and_concatenated_prompts_add_up_at_the_sampler() -> None:
    graph = sampled()
    # Each Combine doubles the entries: 2^7 = 128 prompts, each one more UNet pass per step.
    previous = "pos"
    for i in range(7):
        graph[f"c{i}"] = node(
            "ConditioningCombine", conditioning_1=[previous, 0], conditioning_2=[previous, 0]
        )
        previous = f"c{i}"
    graph["last"]["inputs"]["positive"] = [previous, 0]
    found = {i["limit"]: i for i in issues_of(graph)}
    assert found["prompt_tokens"]["message"].startswith(
        "Node last (KSampler) input positive: "
        "the positive conditioning holds 128 prompts, 9,600 tokens in all"
    )
    assert estimate(graph).sampling_work == pytest.approx(20 * 512 * 512 / 1e6 * (128 + 1) / 2)
    concat = sampled()
    concat["cc"] = node("ConditioningConcat", conditioning_to=["pos", 0], conditioning_from=["neg", 0])
    concat["cc2"] = node("ConditioningConcat", conditioning_to=["cc", 0], conditioning_from=["cc", 0])
    concat["last"]["inputs"]["positive"] = ["cc2", 0]
    (measure,) = [m for m in estimate(concat).measures if m.input == "positive"]
    assert measure.value == 4 * 75  # padded windows: (75 + 75) + (75 + 75)


def test_conditioning_nodes_that_keep_their_prompts() -> None:
    mask = node("SolidMask", value=1.0, width=64, height=64)
    image = node("LoadImage", image="in.png")
    cases: dict[str, dict[str, Any]] = {
        "ConditioningAverage": {
            "conditioning_to": ["big", 0],
            "conditioning_from": ["neg", 0],
            "conditioning_to_strength": 0.5,
        },
        "ConditioningSetArea": {
            "conditioning": ["big", 0],
            "width": 64,
            "height": 64,
            "x": 0,
            "y": 0,
            "strength": 1.0,
        },
        "ConditioningSetAreaPercentage": {
            "conditioning": ["big", 0],
            "width": 1.0,
            "height": 1.0,
            "x": 0,
            "y": 0,
            "strength": 1.0,
        },
        "ConditioningSetAreaStrength": {"conditioning": ["big", 0], "strength": 1.0},
        "ConditioningSetMask": {
            "conditioning": ["big", 0],
            "mask": ["m", 0],
            "strength": 1.0,
            "set_cond_area": "default",
        },
        "ConditioningSetTimestepRange": {"conditioning": ["big", 0], "start": 0.0, "end": 1.0},
        "ConditioningZeroOut": {"conditioning": ["big", 0]},
        "ControlNetApply": {
            "conditioning": ["big", 0],
            "control_net": ["cn", 0],
            "image": ["img", 0],
            "strength": 1.0,
        },
    }
    for class_type, inputs in cases.items():
        graph = sampled()
        graph["big"] = node("ConditioningCombine", conditioning_1=["pos", 0], conditioning_2=["pos", 0])
        graph.update(
            m=mask,
            img=image,
            cn=node("ControlNetLoader", control_net_name="c"),
            edit=node(class_type, **inputs),
        )
        graph["last"]["inputs"]["positive"] = ["edit", 0]
        (measure,) = [m for m in estimate(graph, image_sizes=SIZES).measures if m.input == "positive"]
        assert measure.value == 150, class_type  # both entries of the combined prompt got through
    graph = sampled()
    graph["big"] = node("ConditioningCombine", conditioning_1=["pos", 0], conditioning_2=["pos", 0])
    graph.update(img=image, cn=node("ControlNetLoader", control_net_name="c"))
    graph["apply"] = node(
        "ControlNetApplyAdvanced",
        positive=["big", 0],
        negative=["neg", 0],
        control_net=["cn", 0],
        image=["img", 0],
        strength=1.0,
        start_percent=0.0,
        end_percent=1.0,
    )
    graph["last"]["inputs"].update(positive=["apply", 0], negative=["apply", 1])
    (measure,) = [m for m in estimate(graph, image_sizes=SIZES).measures if m.input == "positive"]
    assert measure.value == 150


def test_loaders_output_no_shape() -> None:
    for class_type in (
        "CheckpointLoaderSimple",
        "VAELoader",
        "CLIPSetLastLayer",
        "LoraLoader",
        "LoraLoaderModelOnly",
        "ControlNetLoader",
    ):
        assert RULES[class_type].__name__ == "none", class_type


def test_output_images_add_up_over_every_output_node() -> None:
    graph = sampled(latent=node("EmptyLatentImage", width=64, height=64, batch_size=4))
    for i in range(6):
        graph[f"save{i}"] = node("SaveImage", images=["dec", 0], filename_prefix="x")
    graph["preview"] = node("PreviewImage", images=["dec", 0])
    assert estimate(graph).output_images == 32
    (issue,) = [i for i in issues_of(graph) if i["limit"] == "output_images"]
    # Named once, at the node where the running total crosses the limit.
    assert issue["message"] == (
        "Node save2 (SaveImage) input images: the execution would store 20 images (4 from this node); "
        "this plan allows 16 output images per execution."
    )


def test_graph_size_limits_are_graph_wide() -> None:
    graph = sampled()
    graph["pos"]["inputs"]["text"] = "x" * 70_000
    found = {i["limit"]: i for i in issues_of(graph)}
    assert "input" not in found["graph_bytes"]
    assert found["graph_bytes"]["message"].startswith("The graph is 7")
    limits = CostLimits(nodes=5)
    (issue,) = [i.to_public() for i in cost_issues(estimate(sampled()), limits)]
    assert issue["message"] == "The graph has 7 nodes; this plan allows 5 nodes."


def test_no_limit_set_means_that_figure_is_not_limited() -> None:
    graph = sampled(steps=10000, latent=node("EmptyLatentImage", width=16384, height=16384, batch_size=4096))
    assert cost_issues(estimate(graph), CostLimits()) == []


# -- the default workflows and the token estimate -----------------------------------------------


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.json")), ids=lambda p: p.stem)
def test_comfyuis_default_workflows_fit_the_free_plan(path: Path) -> None:
    graph = json.loads(path.read_text())
    images = {n["inputs"]["image"]: (512, 512) for n in graph.values() if n["class_type"] == "LoadImage"}
    assert cost_issues(estimate_cost(graph, REGISTRY, image_sizes=images), free_plan()) == []


def test_the_token_estimate_is_not_below_clips_own_count() -> None:
    from transformers import CLIPTokenizer

    from nodes.diffusion.clip_vocab import bundled_tokenizer_dir
    from nodes.diffusion.single_file import DEFAULT_CONFIG_DIR

    tokenizer = CLIPTokenizer.from_pretrained(
        bundled_tokenizer_dir(DEFAULT_CONFIG_DIR / "tokenizer"), local_files_only=True
    )
    prompts = [
        n["inputs"]["text"]
        for path in WORKFLOWS.glob("*.json")
        for n in json.loads(path.read_text()).values()
        if n["class_type"] == "CLIPTextEncode"
    ] + [
        "masterpiece, best quality, (cat:1.2), 8k uhd, photorealistic, sharp focus, f/1.8 85mm",
        "Ein Schloss auf dem Hügel, Sonnenuntergang — 日本の城, 夕焼け 🌅",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "1234567890 !!!??? ((((((((very)))))))) [[[emphasis]]]",
    ]
    for prompt in prompts:
        actual = len(tokenizer(prompt)["input_ids"]) - 2  # without the start and end tokens
        assert estimate_tokens(prompt) >= actual, prompt
    assert estimate_tokens("") == 0
