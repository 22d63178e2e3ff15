"""Background removal on tiny ONNX graphs of each family's real signature, through onnxruntime and the
real pre- and post-processing: detection, normalisation, activation, min-max, resize, threshold, alpha."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.background.families import FAMILIES, Signature, UnknownModel, detect_family, family_from_name
from nodes.background.loading import CPU, CUDA, execution_providers
from nodes.background.ops import (
    load_background_removal_model,
    normalise,
    predict_mask,
    remove_background,
)
from nodes.image.ops import save_image
from nodes.model_store import ModelStore
from tests.support.background_models import BACKGROUND_MODELS, COMFY_BIREFNET, write_background_models
from tests.support.node_context import NodeTestContext
from tiny_models.background import write_tiny_background_model

EXPECTED_FAMILY = {"u2net": "u2net", "u2netp": "u2net", "isnet": "isnet", "birefnet": "birefnet"}
EXPECTED_FAMILY |= {"rmbg14": "rmbg14", "rmbg2": "rmbg2"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models")
    write_background_models(path)
    return path


@pytest.fixture
def ctx(root: Path) -> NodeTestContext:
    return NodeTestContext(root)


def load(ctx: NodeTestContext, name: str) -> Any:
    (model,) = load_background_removal_model(ctx, name)
    return model


def picture(batch: int = 1, height: int = 24, width: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.rand((batch, height, width, 3), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", list(BACKGROUND_MODELS))
def test_each_family_gives_a_mask_of_the_image_size_and_rgba_with_it_as_alpha(
    ctx: NodeTestContext, name: str
) -> None:
    model = load(ctx, name)
    assert model.family.name == EXPECTED_FAMILY[BACKGROUND_MODELS[name]]
    image = picture(batch=2)
    mask, rgba = remove_background(ctx, model, image)
    assert mask.shape == (2, 24, 40) and rgba.shape == (2, 24, 40, 4)
    assert 0.0 <= float(mask.min()) and float(mask.max()) <= 1.0
    assert torch.equal(rgba[..., 3], mask)
    assert torch.equal(rgba[..., :3], image)
    assert not torch.equal(mask[0], mask[1])  # each image is run on its own


@pytest.mark.parametrize(("name", "size"), [("u2net.onnx", 320), ("isnet-general-use.onnx", 1024)])
def test_at_the_model_size_the_mask_is_stretched_to_the_full_range(
    ctx: NodeTestContext, name: str, size: int
) -> None:
    model = load(ctx, name)
    assert model.signature.fixed_size == size
    mask, _ = remove_background(ctx, model, picture(height=size, width=size))
    # Min-max: the least likely pixel is 0 and the most likely 1 (no resize in between).
    assert float(mask.min()) == pytest.approx(0.0, abs=1e-6)
    assert float(mask.max()) == pytest.approx(1.0, abs=1e-6)


def test_logit_families_get_a_sigmoid_before_the_min_max(ctx: NodeTestContext) -> None:
    model = load(ctx, "BiRefNet-general-epoch_244.onnx")
    image = picture(height=1024, width=1024, seed=3)
    feed = {model.signature.input_name: normalise(image[0].numpy(), model.family)}
    logits = model.session.run(None, feed)[0][0, 0]
    assert logits.min() < 0.0 or logits.max() > 1.0  # the tiny BiRefNet really gives logits
    probability = 1.0 / (1.0 + np.exp(-logits))
    expected = (probability - probability.min()) / (probability.max() - probability.min())
    got = predict_mask(model, image, 1024)[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    stretched_logits = (logits - logits.min()) / (logits.max() - logits.min())
    assert np.abs(got - stretched_logits).max() > 0.01  # the sigmoid did change the map


def test_each_family_normalises_with_its_own_mean_and_std() -> None:
    dim = np.full((2, 2, 3), 0.5, dtype=np.float32)
    u2net = normalise(dim, FAMILIES["u2net"])
    # rembg divides by the brightest pixel first: 0.5 / 0.5 = 1, then ImageNet's mean and std.
    np.testing.assert_allclose(
        u2net[0, :, 0, 0], (1.0 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225]
    )
    assert u2net.shape == (1, 3, 2, 2) and u2net.dtype == np.float32
    isnet = normalise(dim, FAMILIES["isnet"])
    np.testing.assert_allclose(isnet[0, :, 0, 0], 1.0 - np.array([0.485, 0.456, 0.406]), rtol=1e-6)
    rmbg = normalise(dim, FAMILIES["rmbg14"])  # BRIA: x / 255 only, mean 0.5, std 1
    np.testing.assert_allclose(rmbg[0, :, 0, 0], [0.0, 0.0, 0.0], atol=1e-7)


def test_threshold_cuts_the_soft_mask_into_foreground_and_background(ctx: NodeTestContext) -> None:
    model = load(ctx, "u2net.onnx")
    image = picture(height=64, width=64)
    soft, _ = remove_background(ctx, model, image)
    hard, rgba = remove_background(ctx, model, image, threshold=0.4)
    assert set(torch.unique(hard).tolist()) == {0.0, 1.0}
    assert torch.equal(hard, (soft >= 0.4).float())
    assert torch.equal(rgba[..., 3], hard)


def test_rgba_input_is_run_on_its_colour(ctx: NodeTestContext) -> None:
    model = load(ctx, "u2netp.onnx")
    rgb = picture()
    rgba_in = torch.cat((rgb, torch.zeros_like(rgb[..., :1])), dim=-1)
    assert torch.equal(remove_background(ctx, model, rgba_in)[0], remove_background(ctx, model, rgb)[0])
    with pytest.raises(ValueError, match="'image' has 1 channels"):
        remove_background(ctx, model, rgb[..., :1])


def test_a_graph_of_open_size_runs_at_the_resolution_input(tmp_path: Path) -> None:
    write_tiny_background_model(
        tmp_path / "background_removal" / "BiRefNet_HR.onnx", family="birefnet", open_size=True
    )
    ctx = NodeTestContext(tmp_path)
    model = load(ctx, "BiRefNet_HR.onnx")
    assert model.signature.input_shape == (1, 3, None, None) and model.signature.fixed_size is None
    image = picture(height=48, width=48)
    at_256, _ = remove_background(ctx, model, image, resolution=256)
    torch.testing.assert_close(at_256, predict_mask(model, image, 256))
    assert not torch.allclose(at_256, remove_background(ctx, model, image, resolution=512)[0])
    # A graph with fixed, non-square sides runs at exactly those.
    assert Signature("input_image", (1, 3, 768, None), "tensor(float)", 1).input_size(512) == (768, 512)
    assert model.signature.input_size(640) == (640, 640)


def test_the_session_is_cached_by_file_and_counts_its_bytes(root: Path) -> None:
    ctx = NodeTestContext(root)
    first = load(ctx, "u2net.onnx")
    assert load(ctx, "u2net.onnx") is first
    assert (ctx.models.loads, ctx.models.hits) == (1, 1)
    size = (root / "background_removal" / "u2net.onnx").stat().st_size
    assert first.model_cache_bytes == size and ctx.models.used_bytes() == size


def test_the_store_lists_onnx_models_with_their_family_and_refuses_torch_files(root: Path) -> None:
    entries = {e.name: e for e in ModelStore(root).entries("background_removal")}
    assert set(entries) == set(BACKGROUND_MODELS) | {COMFY_BIREFNET}
    assert entries["RMBG-1.4/model.onnx"].family == "rmbg14"
    assert entries["isnet-general-use.onnx"].family == "isnet"
    assert all(entries[name].refusal is None for name in BACKGROUND_MODELS)
    assert "background removal runs ONNX exports" in (entries[COMFY_BIREFNET].refusal or "")


def test_rembg_and_bria_file_names_name_their_family() -> None:
    names = {
        "u2net.onnx": "u2net",
        "u2net_human_seg.onnx": "u2net",
        "silueta.onnx": "u2net",
        "isnet-anime.onnx": "isnet",
        "BiRefNet-DIS-epoch_590.onnx": "birefnet",  # a BiRefNet trained on DIS5K
        "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx": "birefnet",
        "bria-rmbg-2.0.onnx": "rmbg2",
        "RMBG-1.4/onnx/model.onnx": "rmbg14",
        "briarmbg.onnx": "rmbg14",
    }
    assert {name: family_from_name(name) for name in names} == names
    assert family_from_name("model.onnx") is None


def test_signatures_decide_the_family_where_the_name_does_not() -> None:
    def sig(name: str, size: int | None, outputs: int = 1) -> Signature:
        return Signature(name, (1, 3, size, size), "tensor(float)", outputs)

    assert detect_family("model.onnx", sig("input.1", 320, 7)).name == "u2net"
    assert detect_family("model.onnx", sig("input_image", 1024, 6)).name == "isnet"
    assert detect_family("model.onnx", sig("input_image", 1024, 1)).name == "birefnet"
    assert detect_family("model.onnx", sig("input", 1024)).name == "rmbg14"
    assert detect_family("model.onnx", sig("pixel_values", None)).name == "rmbg2"
    with pytest.raises(UnknownModel, match="matches no supported family"):
        detect_family("model.onnx", sig("x", 512))
    with pytest.raises(UnknownModel, match="named as a U²-Net but takes 1024x1024"):
        detect_family("u2net.onnx", sig("input_image", 1024))
    with pytest.raises(UnknownModel, match=r"expected one float image input \[N, 3, H, W\]"):
        detect_family("u2net.onnx", Signature("input.1", (1, 1, 320, 320), "tensor(float)", 1))


def test_files_that_are_no_background_model_fail_clearly(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    folder = tmp_path / "background_removal"
    folder.mkdir()
    (folder / "broken.onnx").write_bytes(b"not a graph")
    two_inputs = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])],
        "two",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    model = helper.make_model(two_inputs, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, str(folder / "two-inputs.onnx"))
    ctx = NodeTestContext(tmp_path)
    with pytest.raises(UnknownModel, match=r"'broken\.onnx' does not open as an ONNX graph"):
        load(ctx, "broken.onnx")
    with pytest.raises(UnknownModel, match="takes 2 inputs \\('a', 'b'\\); expected one image"):
        load(ctx, "two-inputs.onnx")


def test_cuda_workers_use_the_cuda_provider_or_say_how_to_get_it() -> None:
    assert execution_providers("cpu", [CUDA, CPU]) == (CPU,)
    assert execution_providers("cuda:1", [CUDA, CPU]) == (CUDA, CPU)
    with pytest.raises(RuntimeError, match="install onnxruntime-gpu"):
        execution_providers("cuda", ["AzureExecutionProvider", CPU])


class SavingContext(NodeTestContext):
    def __init__(self) -> None:
        super().__init__()
        self.saved: list[bytes] = []

    def save_image(self, png: bytes, *, width: int, height: int, prefix: str) -> dict[str, Any]:
        self.saved.append(png)
        return {"width": width, "height": height}


def test_save_image_writes_rgba_pngs_for_four_channels(ctx: NodeTestContext) -> None:
    _, rgba = remove_background(ctx, load(ctx, "u2net.onnx"), picture(height=20, width=30))
    saving = SavingContext()
    save_image(saving, rgba)
    (png,) = saving.saved
    written = Image.open(io.BytesIO(png))
    assert (written.mode, written.size) == ("RGBA", (30, 20))
    alpha = np.asarray(written.getchannel("A"), dtype=np.float32) / 255.0
    np.testing.assert_allclose(alpha, rgba[0, ..., 3].numpy(), atol=0.5 / 255 + 1e-6)
