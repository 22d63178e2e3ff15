"""Upscale models: tiny ESRGANs in both key layouts through spandrel, tiling, batches, alpha, errors."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nodes.upscale import ops
from nodes.upscale.loading import UpscaleModel, load_upscale_model
from tests.support.node_context import NodeTestContext
from tiny_models.upscaler import write_tiny_esrgan


class Context(NodeTestContext):
    """The upscale nodes' context: files read straight from a folder (also ones the store would not list)."""

    def __init__(self, root: Path) -> None:
        super().__init__(cache_bytes=64 * 2**20)
        self.root = root

    def model_path(self, folder: str, name: str) -> Path:
        return self.root / folder / name


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("upscale-models")
    for layout in ("old", "new"):
        for scale in (2, 4):
            for suffix in (".safetensors", ".pth"):
                path = root / "upscale_models" / f"{layout}-x{scale}{suffix}"
                write_tiny_esrgan(path, seed=3, scale=scale, layout=layout)
    return root


def pixels(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
@pytest.mark.parametrize("layout", ["old", "new"])
@pytest.mark.parametrize("scale", [2, 4])
def test_both_layouts_load_with_their_scale(models: Path, layout: str, scale: int, suffix: str) -> None:
    model = load_upscale_model(models / "upscale_models" / f"{layout}-x{scale}{suffix}", "cpu")
    assert (model.architecture, model.scale, model.input_channels, model.output_channels) == (
        "ESRGAN",
        scale,
        3,
        3,
    )
    out = model.descriptor(pixels(1, 3, 12, 10))
    assert out.shape == (1, 3, 12 * scale, 10 * scale)


def test_old_and_new_layouts_of_the_same_weights_upscale_identically(models: Path) -> None:
    # At 4x both layouts hold the same tensors (same seed, same order), only under other keys.
    old = load_upscale_model(models / "upscale_models" / "old-x4.safetensors", "cpu")
    new = load_upscale_model(models / "upscale_models" / "new-x4.pth", "cpu")
    image = pixels(1, 3, 16, 16)
    torch.testing.assert_close(old.descriptor(image), new.descriptor(image))


def test_a_basicsr_release_nested_under_params_ema_loads(tmp_path: Path) -> None:
    path = write_tiny_esrgan(
        tmp_path / "RealESRGAN_x2plus.pth", seed=0, scale=2, layout="new", wrap="params_ema"
    )
    assert list(torch.load(path, weights_only=True)) == ["params_ema"]
    assert load_upscale_model(path, "cpu").scale == 2


def test_loader_node_goes_through_the_model_cache(models: Path) -> None:
    ctx = Context(models)
    (first,) = ops.upscale_model_loader(ctx, "old-x4.pth")
    (second,) = ops.upscale_model_loader(ctx, "old-x4.pth")
    assert first is second
    assert (ctx.models.loads, ctx.models.hits) == (1, 1)
    assert ctx.models.used_bytes() > 100_000  # the module's weights are counted against the budget


def test_a_file_that_is_no_upscaler_is_a_clear_error(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "vae.safetensors"
    save_file({"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3)}, str(path))
    with pytest.raises(ValueError, match=r"'vae\.safetensors'.*no architecture"):
        load_upscale_model(path, "cpu")
    other = tmp_path / "model.onnx"
    other.write_bytes(b"onnx")
    with pytest.raises(ValueError, match=r"unsupported file type '\.onnx'"):
        load_upscale_model(other, "cpu")


SPRUNG: list[str] = []


def _spring() -> str:
    SPRUNG.append("ran")
    return "trap"


class Trap:
    def __reduce__(self) -> tuple[Callable[[], str], tuple[()]]:
        return (_spring, ())


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model.0.weight": torch.zeros(1), "payload": Trap()}, path)
    with pytest.raises(ValueError, match=r"evil\.pth.*needs .*_spring to load, which would run code"):
        load_upscale_model(path, "cpu")
    assert SPRUNG == []


def test_spandrel_import_leaves_no_torchvision_stand_in(models: Path) -> None:
    load_upscale_model(models / "upscale_models" / "old-x2.pth", "cpu")
    assert "spandrel" in sys.modules
    if importlib.util.find_spec("torchvision") is None:
        assert not any(name.startswith("torchvision") for name in sys.modules)


def test_untiled_when_the_image_fits_one_tile(models: Path) -> None:
    model = load_upscale_model(models / "upscale_models" / "new-x2.safetensors", "cpu")
    image = pixels(1, 3, 24, 20)
    tiled = ops.upscale_tiled(model.descriptor, image, scale=2, tile=24, overlap=4, device="cpu")
    assert torch.equal(tiled, model.descriptor(image))


def test_small_tiles_match_the_whole_image_within_tolerance(models: Path) -> None:
    model = load_upscale_model(models / "upscale_models" / "old-x2.safetensors", "cpu")
    image = pixels(1, 3, 48, 40)
    whole = model.descriptor(image)
    tiled = ops.upscale_tiled(model.descriptor, image, scale=2, tile=32, overlap=8, device="cpu")
    assert tiled.shape == whole.shape == (1, 3, 96, 80)
    difference = (tiled - whole).abs()
    assert difference.mean() < 0.01 and difference.max() < 0.2, (difference.mean(), difference.max())
    # ...while another image's upscale differs far more: the tolerance is meaningful.
    assert (model.descriptor(pixels(1, 3, 48, 40, seed=1)) - whole).abs().mean() > 0.05


def test_tile_origins_cover_the_axis_with_the_last_tile_flush() -> None:
    assert ops.tile_starts(40, 512, 32) == [0]
    assert ops.tile_starts(100, 32, 8) == [0, 24, 48, 68]
    assert ops.tile_starts(32, 32, 8) == [0]


def test_node_upscales_a_batch_item_by_item_with_progress_per_tile(models: Path) -> None:
    ctx = Context(models)
    (model,) = ops.upscale_model_loader(ctx, "old-x2.safetensors")
    batch = pixels(2, 20, 16, 3)
    (out,) = ops.image_upscale_with_model(ctx, model, batch)
    assert out.shape == (2, 40, 32, 3)
    assert 0.0 <= out.min() and out.max() <= 1.0
    (single,) = ops.image_upscale_with_model(ctx, model, batch[1:])
    torch.testing.assert_close(out[1:], single)
    assert not torch.equal(out[0], out[1])

    ctx.steps.clear()
    ops.upscale_with_halving(ctx, model, batch.movedim(-1, 1), tile=12, overlap=3)
    tiles = len(ops.tile_starts(20, 12, 3)) * len(ops.tile_starts(16, 12, 3))
    assert tiles == 4
    assert ctx.steps == [(step, 2 * tiles) for step in range(1, 2 * tiles + 1)]


def test_rgba_upscales_the_colour_and_resizes_alpha(models: Path) -> None:
    ctx = Context(models)
    (model,) = ops.upscale_model_loader(ctx, "new-x4.pth")
    rgb = pixels(1, 8, 8, 3)
    rgba = torch.cat([rgb, torch.full((1, 8, 8, 1), 0.25)], dim=-1)
    (out,) = ops.image_upscale_with_model(ctx, model, rgba)
    (colour_only,) = ops.image_upscale_with_model(ctx, model, rgb)
    assert out.shape == (1, 32, 32, 4)
    torch.testing.assert_close(out[..., :3], colour_only)
    torch.testing.assert_close(out[..., 3], torch.full((1, 32, 32), 0.25))


def test_an_image_with_channels_the_model_does_not_take_is_a_clear_error(models: Path) -> None:
    ctx = Context(models)
    (model,) = ops.upscale_model_loader(ctx, "old-x2.pth")
    with pytest.raises(ValueError, match="takes 3-channel images; this image has 2 channels"):
        ops.image_upscale_with_model(ctx, model, pixels(1, 8, 8, 2))


class NearestX2:
    """A stand-in for a model on a small GPU: out of memory above 128-pixel tiles."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sizes: list[tuple[int, int]] = []

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        self.sizes.append((image.shape[-2], image.shape[-1]))
        if max(image.shape[-2:]) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (test stand-in)")
        return F.interpolate(image, scale_factor=2, mode="nearest")


def stand_in_model(limit: int) -> tuple[UpscaleModel, NearestX2]:
    net = NearestX2(limit)
    return UpscaleModel(torch.nn.Identity(), net, "stand-in", 2, 3, 3, "stand-in"), net


def test_out_of_memory_halves_the_tile_down_to_128(tmp_path: Path) -> None:
    model, net = stand_in_model(limit=128)
    image = pixels(1, 3, 300, 260)
    out = ops.upscale_with_halving(Context(tmp_path), model, image, tile=512)
    # Nearest-neighbour upsampling is local, so the feathered tiles reassemble it exactly.
    torch.testing.assert_close(out, F.interpolate(image, scale_factor=2, mode="nearest"))
    assert net.sizes[0] == (300, 260) and net.sizes[1] == (256, 256)
    assert max(max(size) for size in net.sizes[2:]) == 128

    always, _ = stand_in_model(limit=0)
    with pytest.raises(torch.OutOfMemoryError):
        ops.upscale_with_halving(Context(tmp_path), always, image, tile=512)
