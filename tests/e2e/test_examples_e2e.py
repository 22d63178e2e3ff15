"""End to end: every docs/examples/*.json, posted unchanged through the live stack on the demo models
`make run` writes (the test model store holds them under the same names: tests/conftest.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.test_image_inputs_and_failures import upload
from tests.e2e.test_text_to_image import download_png
from tests.unit.test_examples import EXAMPLES

pytestmark = pytest.mark.e2e

INPUT_SIZE = (64, 48)  # the uploaded pictures: small, so the image-input examples stay quick
# The examples' sizes and step counts are what a real model wants (512 px, 20 steps); on the CPU even the
# tiny models take minutes at that size, so the test makes them small: same graph, same models.
QUICK_SIDE, QUICK_STEPS = 64, 2


def _picture(alpha: bool) -> bytes:
    xs = np.linspace(0, 255, INPUT_SIZE[0], dtype=np.float32)[None, :]
    ys = np.linspace(0, 255, INPUT_SIZE[1], dtype=np.float32)[:, None]
    channels = [xs + 0 * ys, ys + 0 * xs, (xs + ys) / 2]
    for channel in channels:  # a white and a black block: sharp edges, so Canny finds some
        channel[12:36, 8:28] = 255.0
        channel[20:40, 40:60] = 0.0
    if alpha:  # inpaint: the transparent square is the part to repaint (MASK = 1 - alpha)
        a = np.full(INPUT_SIZE[::-1], 255, dtype=np.float32)
        a[16:32, 24:40] = 0
        channels.append(a)
    buffer = io.BytesIO()
    Image.fromarray(np.stack(channels, axis=-1).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


UPLOADS = {"example.png": _picture(alpha=False), "inpaint_example.png": _picture(alpha=True)}


def _quick(graph: dict) -> dict:
    for node in graph.values():
        inputs = node["inputs"]
        for key in ("width", "height"):
            if isinstance(inputs.get(key), int):
                inputs[key] = min(inputs[key], QUICK_SIDE)
        if isinstance(inputs.get("steps"), int):
            inputs["steps"] = min(inputs["steps"], QUICK_STEPS)
    return graph


def _saved(graph: dict) -> dict[str, str]:
    """SaveImage node id -> the link to the images it saves."""
    return {nid: node["inputs"]["images"] for nid, node in graph.items() if node["class_type"] == "SaveImage"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_on_the_demo_models(api, path: Path) -> None:
    graph = _quick(json.loads(path.read_text()))
    needed = {n["inputs"]["image"] for n in graph.values() if n["class_type"] == "LoadImage"}
    for name in sorted(needed):
        upload(api, UPLOADS[name], name=name)
    execution = api.wait(api.execute(api.create_workflow(graph, name=path.stem)["id"]), timeout=300)
    assert execution["status"] == "COMPLETED", execution
    sizes: dict[str, tuple[int, int]] = {}
    for node_id in _saved(graph):
        (image,) = execution["outputs"][node_id]["images"]
        png = download_png(image["url"])
        assert png.size == (image["width"], image["height"])
        assert len(set(png.getdata())) > 1, f"node {node_id} saved one flat colour"
        sizes[node_id] = png.size
        if "cutout" in graph[node_id]["inputs"]["filename_prefix"]:
            assert png.mode == "RGBA"  # the background remover's mask is the alpha
    for node_id, node in graph.items():  # animations (image_to_video): one file of all the frames
        if node["class_type"] == "SaveAnimatedWEBP":
            (item,) = execution["outputs"][node_id]["images"]
            frames = next(
                n["inputs"]["video_frames"] for n in graph.values() if "video_frames" in n["inputs"]
            )
            assert (item["contentType"], item["frames"]) == ("image/webp", frames)
            sizes[node_id] = (item["width"], item["height"])
    _check_sizes(path.stem, graph, sizes)
    for node_id, node in graph.items():  # text (the LLM's prompt): inline in poll, never empty
        if node["class_type"] == "PreviewAny":
            (text,) = execution["outputs"][node_id]["text"]
            assert text["mediaType"] == "text" and text["text"].strip(), text


def _check_sizes(name: str, graph: dict, sizes: dict[str, tuple[int, int]]) -> None:
    latent = next((n["inputs"] for n in graph.values() if "width" in n["inputs"]), None)
    if name in ("upscale", "background_removal", "image_to_image", "inpaint"):
        scale = 4 if name == "upscale" else 1
        assert set(sizes.values()) == {(INPUT_SIZE[0] * scale, INPUT_SIZE[1] * scale)}
    elif name == "llm_text_to_image_upscale_background_removal":
        original, cutout = sizes["9"], sizes["14"]
        assert cutout == (original[0] * 4, original[1] * 4)
    elif latent is not None:
        assert (latent["width"], latent["height"]) in sizes.values()
