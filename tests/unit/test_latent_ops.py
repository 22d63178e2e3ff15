"""Latent nodes called directly on small tensors: shapes, batches, exact placement, loud errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from nodes.latent import ops, ops_transform, resize
from nodes.latent import specs as latent_specs
from tests.support.node_context import NodeTestContext

CTX = NodeTestContext()


def latent(batch: int = 1, height: int = 6, width: int = 8, **extra: Any) -> dict[str, Any]:
    """A LATENT whose every value is distinct, so moved values are easy to follow."""
    samples = torch.arange(batch * 4 * height * width, dtype=torch.float32).reshape(batch, 4, height, width)
    return {"samples": samples, **extra}


def snapshot(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v.clone() if isinstance(v, torch.Tensor) else list(v) for k, v in value.items()}


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, after[key]), key
        else:
            assert value == after[key], key


def test_upscale_method_choices_match_the_implementation() -> None:
    assert latent_specs.LATENT_UPSCALE_METHODS == resize.LATENT_UPSCALE_METHODS


# --- LatentUpscale / LatentUpscaleBy -------------------------------------------------------------


@pytest.mark.parametrize("method", resize.LATENT_UPSCALE_METHODS)
def test_latent_upscale_gives_the_requested_size_with_every_method(method: str) -> None:
    source = latent(batch=2, noise_mask=torch.ones(1, 1, 48, 64))
    before = snapshot(source)
    (out,) = ops_transform.latent_upscale(CTX, source, method, width=128, height=96, crop="disabled")
    assert out["samples"].shape == (2, 4, 12, 16)
    assert out["noise_mask"] is source["noise_mask"]  # carried over, as in ComfyUI
    assert_unchanged(before, source)


def test_latent_upscale_keeps_the_aspect_ratio_when_a_side_is_zero() -> None:
    (out,) = ops_transform.latent_upscale(CTX, latent(), "bilinear", width=0, height=96, crop="disabled")
    assert out["samples"].shape[-2:] == (12, 16)
    (out,) = ops_transform.latent_upscale(CTX, latent(), "bilinear", width=32, height=0, crop="disabled")
    assert out["samples"].shape[-2:] == (3, 4)


def test_latent_upscale_with_both_sides_zero_is_a_copy() -> None:
    source = latent()
    (out,) = ops_transform.latent_upscale(CTX, source, "bicubic", width=0, height=0, crop="disabled")
    assert torch.equal(out["samples"], source["samples"])
    assert out["samples"] is not source["samples"]


def test_nearest_exact_doubling_repeats_each_latent_pixel() -> None:
    source = latent(height=2, width=2)
    (out,) = ops_transform.latent_upscale(CTX, source, "nearest-exact", width=32, height=32, crop="disabled")
    expected = source["samples"].repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.equal(out["samples"], expected)


def test_center_crop_trims_the_source_to_the_new_aspect_before_resizing() -> None:
    source = latent(height=4, width=8)
    (out,) = ops_transform.latent_upscale(CTX, source, "nearest-exact", width=32, height=32, crop="center")
    assert torch.equal(out["samples"], source["samples"][:, :, :, 2:6])


def test_bislerp_keeps_the_length_of_latent_vectors() -> None:
    # Two orthogonal unit vectors side by side: slerp keeps unit length, lerp would shrink it.
    source = torch.zeros(1, 4, 1, 2)
    source[0, 0, 0, 0] = 1.0
    source[0, 1, 0, 1] = 1.0
    out = resize.resize_latent(source, 4, 1, "bislerp", "disabled")
    assert torch.allclose(out.norm(dim=1), torch.ones(1, 1, 4), atol=1e-5)
    assert not torch.allclose(
        F.interpolate(source, size=(1, 4), mode="bilinear").norm(dim=1), out.norm(dim=1)
    )


def test_bislerp_of_parallel_vectors_is_bilinear() -> None:
    direction = torch.tensor([1.0, 2.0, -1.0, 0.5]).reshape(1, 4, 1, 1)
    lengths = torch.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    source = direction * lengths
    out = resize.resize_latent(source, 7, 5, "bislerp", "disabled")
    expected = F.interpolate(source, size=(5, 7), mode="bilinear", align_corners=False)
    assert torch.allclose(out, expected, atol=1e-5)


def test_latent_upscale_refuses_a_side_below_one_latent_pixel() -> None:
    with pytest.raises(ValueError, match="width"):
        ops_transform.latent_upscale(CTX, latent(), "bilinear", width=4, height=64, crop="disabled")


def test_latent_upscale_by_rounds_the_latent_size() -> None:
    (out,) = ops_transform.latent_upscale_by(CTX, latent(batch=3), "area", scale_by=1.5)
    assert out["samples"].shape == (3, 4, 9, 12)
    with pytest.raises(ValueError, match="scale_by"):
        ops_transform.latent_upscale_by(CTX, latent(), "area", scale_by=0.01)


# --- LatentFromBatch / RepeatLatentBatch ---------------------------------------------------------


def test_latent_from_batch_slices_and_remembers_the_batch_index() -> None:
    source = latent(batch=4)
    before = snapshot(source)
    (out,) = ops_transform.latent_from_batch(CTX, source, batch_index=1, length=2)
    assert torch.equal(out["samples"], source["samples"][1:3])
    assert out["batch_index"] == [1, 2]
    # Taken again, the indices still point into the original batch.
    (again,) = ops_transform.latent_from_batch(CTX, out, batch_index=1, length=1)
    assert torch.equal(again["samples"], source["samples"][2:3])
    assert again["batch_index"] == [2]
    assert_unchanged(before, source)


def test_latent_from_batch_slices_per_latent_masks_and_keeps_a_shared_one() -> None:
    per_latent = torch.arange(4.0).reshape(4, 1, 1).expand(4, 2, 2)
    (out,) = ops_transform.latent_from_batch(CTX, latent(batch=4, noise_mask=per_latent), 2, 2)
    assert out["noise_mask"].shape == (2, 1, 2, 2)
    assert out["noise_mask"][:, 0, 0, 0].tolist() == [2.0, 3.0]
    shared = torch.ones(1, 2, 2)
    (out,) = ops_transform.latent_from_batch(CTX, latent(batch=4, noise_mask=shared), 2, 2)
    assert out["noise_mask"].shape == (1, 1, 2, 2)


@pytest.mark.parametrize(("batch_index", "length", "name"), [(4, 1, "batch_index"), (2, 3, "length")])
def test_latent_from_batch_refuses_a_slice_past_the_end(batch_index: int, length: int, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ops_transform.latent_from_batch(CTX, latent(batch=4), batch_index=batch_index, length=length)


def test_repeat_latent_batch_tiles_latents_masks_and_indices() -> None:
    source = latent(batch=2, noise_mask=torch.stack([torch.zeros(3, 4), torch.ones(3, 4)]))
    (out,) = ops_transform.repeat_latent_batch(CTX, source, amount=3)
    assert out["samples"].shape == (6, 4, 6, 8)
    assert torch.equal(out["samples"][4:6], source["samples"])
    assert out["noise_mask"][:, 0, 0, 0].tolist() == [0.0, 1.0] * 3
    assert "batch_index" not in out

    (picked,) = ops_transform.latent_from_batch(CTX, latent(batch=8), batch_index=3, length=2)
    (out,) = ops_transform.repeat_latent_batch(CTX, picked, amount=3)
    # Each copy gets indices of its own, so each draws its own noise.
    assert out["batch_index"] == [3, 4, 5, 6, 7, 8]


# --- LatentComposite / LatentBlend ---------------------------------------------------------------


def test_latent_composite_pastes_at_the_exact_place() -> None:
    target = {"samples": torch.zeros(1, 4, 8, 8)}
    source = {"samples": torch.ones(1, 4, 2, 3)}
    (out,) = ops_transform.latent_composite(CTX, target, source, x=16, y=8, feather=0)
    expected = torch.zeros(1, 4, 8, 8)
    expected[:, :, 1:3, 2:5] = 1.0
    assert torch.equal(out["samples"], expected)
    assert torch.equal(target["samples"], torch.zeros(1, 4, 8, 8))


def test_latent_composite_clips_at_the_edge_and_broadcasts_one_source() -> None:
    target = {"samples": torch.zeros(3, 4, 8, 8), "batch_index": [0, 1, 2]}
    source = {"samples": torch.ones(1, 4, 4, 4)}
    (out,) = ops_transform.latent_composite(CTX, target, source, x=56, y=48, feather=0)
    assert out["samples"].sum() == 3 * 4 * 2 * 1
    assert torch.equal(out["samples"][:, :, 6:, 7:], torch.ones(3, 4, 2, 1))
    assert out["batch_index"] == [0, 1, 2]


def test_latent_composite_feathers_inner_edges_only() -> None:
    target = {"samples": torch.zeros(1, 1, 8, 8)}
    source = {"samples": torch.ones(1, 1, 4, 8)}
    # Pasted at the top-left, 4 rows high, full width: only the bottom edge is inside samples_to.
    (out,) = ops_transform.latent_composite(CTX, target, source, x=0, y=0, feather=16)
    column = out["samples"][0, 0, :, 3].tolist()
    assert column == [1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    assert torch.equal(out["samples"][0, 0, 3], torch.full((8,), 0.5))


@pytest.mark.parametrize(("x", "y", "name"), [(64, 0, "x"), (0, 64, "y")])
def test_latent_composite_refuses_a_position_outside_the_target(x: int, y: int, name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} "):
        ops_transform.latent_composite(
            CTX, {"samples": torch.zeros(1, 4, 8, 8)}, {"samples": torch.ones(1, 4, 2, 2)}, x, y, 0
        )


def test_latent_blend_mixes_by_the_factor() -> None:
    first, second = {"samples": torch.full((2, 4, 3, 3), 4.0)}, {"samples": torch.zeros(2, 4, 3, 3)}
    (out,) = ops_transform.latent_blend(CTX, first, second, blend_factor=0.25)
    assert torch.equal(out["samples"], torch.full((2, 4, 3, 3), 1.0))


def test_latent_blend_resizes_the_second_latent_to_the_first() -> None:
    (out,) = ops_transform.latent_blend(CTX, latent(batch=2), latent(batch=1, height=3, width=5), 0.5)
    assert out["samples"].shape == (2, 4, 6, 8)
    with pytest.raises(ValueError, match="samples2"):
        ops_transform.latent_blend(CTX, latent(batch=2), latent(batch=3), 0.5)


# --- LatentFlip / LatentRotate / LatentCrop ------------------------------------------------------


def test_latent_flip_is_exact() -> None:
    source = latent(batch=2)
    (vertical,) = ops_transform.latent_flip(CTX, source, "x-axis: vertically")
    (horizontal,) = ops_transform.latent_flip(CTX, source, "y-axis: horizontally")
    assert torch.equal(vertical["samples"][:, :, 0], source["samples"][:, :, -1])
    assert torch.equal(horizontal["samples"][..., 0], source["samples"][..., -1])
    (back,) = ops_transform.latent_flip(CTX, vertical, "x-axis: vertically")
    assert torch.equal(back["samples"], source["samples"])


def test_latent_rotate_turns_clockwise() -> None:
    source = {"samples": torch.zeros(1, 4, 2, 3)}
    source["samples"][:, :, 0, 0] = 1.0  # top-left
    (quarter,) = ops_transform.latent_rotate(CTX, source, "90 degrees")
    assert quarter["samples"].shape == (1, 4, 3, 2)
    assert quarter["samples"][0, 0].tolist() == [[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]  # now top-right
    (half,) = ops_transform.latent_rotate(CTX, source, "180 degrees")
    assert torch.equal(half["samples"], torch.flip(source["samples"], dims=(2, 3)))
    (three,) = ops_transform.latent_rotate(CTX, quarter, "270 degrees")
    assert torch.equal(three["samples"], source["samples"])
    (none,) = ops_transform.latent_rotate(CTX, source, "none")
    assert torch.equal(none["samples"], source["samples"])


def test_latent_crop_takes_the_exact_window() -> None:
    source = latent(batch=2, height=16, width=16)
    (out,) = ops_transform.latent_crop(CTX, source, width=64, height=72, x=16, y=56)
    assert torch.equal(out["samples"], source["samples"][:, :, 7:16, 2:10])
    out["samples"][:] = -1  # a copy, not a view of the input
    assert source["samples"].min() == 0


@pytest.mark.parametrize(
    ("width", "height", "x", "y", "name"),
    [(64, 64, 72, 0, "x"), (136, 64, 0, 0, "x"), (64, 64, 0, 72, "y"), (64, 136, 0, 0, "y")],
)
def test_latent_crop_refuses_a_window_past_the_edge(
    width: int, height: int, x: int, y: int, name: str
) -> None:
    with pytest.raises(ValueError, match=f"^{name} "):
        ops_transform.latent_crop(CTX, latent(height=16, width=16), width=width, height=height, x=x, y=y)


# --- SetLatentNoiseMask --------------------------------------------------------------------------


def test_set_latent_noise_mask_attaches_the_mask_to_a_new_dict() -> None:
    source = latent(batch=2, batch_index=[4, 5])
    mask = torch.rand(1, 48, 64)
    (out,) = ops.set_latent_noise_mask(CTX, source, mask)
    assert "noise_mask" not in source
    assert out["noise_mask"].shape == (1, 1, 48, 64)
    assert torch.equal(out["noise_mask"][:, 0], mask)
    assert out["samples"] is source["samples"] and out["batch_index"] == [4, 5]
    (per_latent,) = ops.set_latent_noise_mask(CTX, source, torch.rand(2, 48, 64))
    assert per_latent["noise_mask"].shape == (2, 1, 48, 64)


def test_set_latent_noise_mask_refuses_a_mask_batch_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="mask"):
        ops.set_latent_noise_mask(CTX, latent(batch=2), torch.rand(3, 48, 64))
