"""Canny, Morphology, ImageScaleToMaxDimension and the latent arithmetic nodes, on real tensors.

Canny and Morphology are checked against kornia, which ComfyUI's own nodes call (a test-only
dependency: ours are written in torch).
"""

from __future__ import annotations

import pytest
import torch

from nodes.image import ops_filters as filters
from nodes.latent import ops_math as math_ops
from tests.support.node_context import NodeTestContext

ctx = NodeTestContext()


def picture(height: int = 40, width: int = 56, seed: int = 0) -> torch.Tensor:
    """Shapes on a textured background, [1, H, W, 3]: edges of every orientation and some noise."""
    generator = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    disc = ((ys - height / 2) ** 2 + (xs - width / 3) ** 2 < (height / 4) ** 2).float()
    box = ((ys > 5) & (ys < 20) & (xs > width / 2) & (xs < width - 6)).float()
    grey = 0.15 + 0.6 * disc + 0.3 * box + 0.05 * torch.rand((height, width), generator=generator)
    tint = torch.tensor([1.0, 0.8, 0.6])
    return (grey[None, :, :, None] * tint).clamp(0, 1)


@pytest.mark.parametrize(("low", "high"), [(0.4, 0.8), (0.1, 0.3), (0.05, 0.9), (0.6, 0.6)])
def test_canny_gives_kornias_edges(low: float, high: float) -> None:
    kornia = pytest.importorskip("kornia")
    for seed in range(3):
        image = picture(seed=seed)
        (ours,) = filters.canny(ctx, image, low, high)
        _, theirs = kornia.filters.canny(image.movedim(-1, 1), low, high)
        assert ours.shape == (1, 40, 56, 3)
        assert torch.equal(ours[..., 0], theirs[:, 0]) and torch.equal(ours[..., 0], ours[..., 2])
        assert set(ours.unique().tolist()) <= {0.0, 1.0}


def test_canny_draws_one_thin_closed_outline_around_a_square() -> None:
    image = torch.zeros(1, 32, 32, 3)
    image[:, 8:24, 8:24] = 1.0
    (edges,) = filters.canny(ctx, image, 0.4, 0.8)
    edge = edges[0, :, :, 0]
    assert edge[16, 16] == 0 and edge[2, 2] == 0  # inside and far outside: nothing
    for row in range(10, 22):  # every row of the square's left and right sides has an edge pixel near them
        assert edge[row, 5:11].sum() >= 1 and edge[row, 21:27].sum() >= 1
        assert edge[row, 5:11].sum() <= 2  # thin: non-maximum suppression keeps about one pixel
    high_only = filters.canny(ctx, image, 0.98, 0.99)[0][0, :, :, 0]
    assert high_only.sum() <= edge.sum()


def test_hysteresis_keeps_weak_edges_only_where_they_touch_strong_ones() -> None:
    image = torch.zeros(1, 32, 64, 3)
    image[:, :16, 32:] = 1.0  # a step of 1: a strong edge (magnitude about 2.6 after the blur)
    image[:, 16:, 32:] = 0.5  # its continuation, a step of 0.5: weak (about 1.3), but connected
    image[:, 8:24, 4:12] = 0.5  # a weak square far from any strong edge
    (edges,) = filters.canny(ctx, image, 0.3, 1.9)
    edge = edges[0, :, :, 0]
    for row in range(20, 28):
        assert edge[row, 30:34].sum() >= 1, row  # the weak half of the long edge is kept
    assert edge[:, :20].sum() == 0  # the isolated weak square is dropped
    (no_hysteresis_needed,) = filters.canny(ctx, image, 0.3, 1.2)
    assert no_hysteresis_needed[0, :, :20, 0].sum() > 0  # with a lower high threshold it is strong


def test_canny_refuses_thresholds_in_the_wrong_order() -> None:
    with pytest.raises(ValueError, match="low_threshold"):
        filters.canny(ctx, picture(), 0.8, 0.4)


@pytest.mark.parametrize("kernel_size", [3, 4, 5])
@pytest.mark.parametrize("operation", filters.MORPHOLOGY_OPERATIONS)
def test_morphology_matches_kornia(operation: str, kernel_size: int) -> None:
    kornia = pytest.importorskip("kornia")
    image = picture(24, 30)
    (ours,) = filters.morphology(ctx, image, operation, kernel_size)
    kernel = torch.ones(kernel_size, kernel_size)
    pixels = image.movedim(-1, 1)
    reference = {
        "erode": kornia.morphology.erosion,
        "dilate": kornia.morphology.dilation,
        "open": kornia.morphology.opening,
        "close": kornia.morphology.closing,
        "gradient": kornia.morphology.gradient,
        "top_hat": kornia.morphology.top_hat,
        "bottom_hat": kornia.morphology.bottom_hat,
    }[operation](pixels, kernel).movedim(1, -1)
    assert ours.shape == image.shape
    assert torch.allclose(ours, reference, atol=1e-6)


def test_dilation_grows_a_bright_pixel_into_a_square() -> None:
    image = torch.zeros(1, 9, 9, 3)
    image[0, 4, 4] = 1.0
    (grown,) = filters.morphology(ctx, image, "dilate", 3)
    assert torch.equal(grown[0, 3:6, 3:6], torch.ones(3, 3, 3)) and grown.sum() == 27
    (back,) = filters.morphology(ctx, grown, "erode", 3)
    assert torch.equal(back, image)


@pytest.mark.parametrize(
    ("size", "largest", "expected"),
    [((30, 60), 40, (20, 40)), ((60, 30), 40, (40, 20)), ((32, 32), 48, (48, 48)), ((10, 31), 93, (30, 93))],
)
def test_image_scale_to_max_dimension_keeps_the_aspect(size: tuple, largest: int, expected: tuple) -> None:
    image = torch.rand(2, *size, 3)
    for method in ("area", "lanczos", "bilinear", "nearest-exact", "bicubic"):
        (out,) = filters.image_scale_to_max_dimension(ctx, image, method, largest)
        assert tuple(out.shape) == (2, *expected, 3)
        assert 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="largest_size"):
        filters.image_scale_to_max_dimension(ctx, image, "area", 0)


def latent(batch: int = 2, h: int = 6, w: int = 8, seed: int = 0, **extra: object) -> dict:
    return {"samples": torch.randn(batch, 4, h, w, generator=torch.Generator().manual_seed(seed)), **extra}


def test_latent_add_subtract_multiply() -> None:
    a, b = latent(seed=1, noise_mask=torch.ones(1, 6, 8)), latent(seed=2)
    (added,) = math_ops.latent_add(ctx, a, b)
    (subtracted,) = math_ops.latent_subtract(ctx, a, b)
    (scaled,) = math_ops.latent_multiply(ctx, a, -1.5)
    assert torch.equal(added["samples"], a["samples"] + b["samples"])
    assert torch.equal(subtracted["samples"], a["samples"] - b["samples"])
    assert torch.equal(scaled["samples"], a["samples"] * -1.5)
    assert added["noise_mask"] is a["noise_mask"]  # the first latent's other keys are kept
    # A second latent of another size and batch is resized and cycled to the first one's.
    (mixed,) = math_ops.latent_add(ctx, latent(batch=3), latent(batch=1, h=3, w=4, seed=4))
    assert mixed["samples"].shape == (3, 4, 6, 8)


def test_latent_interpolate_blends_directions_and_lengths() -> None:
    a, b = latent(seed=1), latent(seed=2)
    for ratio, expected in ((1.0, a), (0.0, b)):
        (out,) = math_ops.latent_interpolate(ctx, a, b, ratio)
        assert torch.allclose(out["samples"], expected["samples"], atol=1e-5)
    (half,) = math_ops.latent_interpolate(ctx, a, b, 0.5)
    norms = [torch.linalg.vector_norm(x["samples"], dim=1) for x in (a, b, half)]
    assert torch.allclose(norms[2], (norms[0] + norms[1]) / 2, atol=1e-5)


def test_latent_batch_appends_with_batch_indices_and_seed_behaviour_sets_them() -> None:
    a, b = latent(batch=2), latent(batch=1, h=3, w=4, seed=3)
    (both,) = math_ops.latent_batch(ctx, a, b)
    assert both["samples"].shape == (3, 4, 6, 8) and both["batch_index"] == [0, 1, 0]
    assert torch.equal(both["samples"][:2], a["samples"])
    (fixed,) = math_ops.latent_batch_seed_behavior(ctx, {**both, "batch_index": [5, 6, 7]}, "fixed")
    assert fixed["batch_index"] == [5, 5, 5]
    (random,) = math_ops.latent_batch_seed_behavior(ctx, fixed, "random")
    assert "batch_index" not in random and "batch_index" in fixed


def test_latent_composite_masked_pastes_where_the_mask_says() -> None:
    dest, src = latent(batch=2, h=8, w=8, seed=1), latent(batch=1, h=4, w=4, seed=2)
    (plain,) = math_ops.latent_composite_masked(ctx, dest, src, 16, 8, False)
    expected = dest["samples"].clone()
    expected[:, :, 1:5, 2:6] = src["samples"]
    assert torch.equal(plain["samples"], expected)
    mask = torch.zeros(1, 32, 32)
    mask[:, :, 16:] = 1.0  # right half of the source only
    (masked,) = math_ops.latent_composite_masked(ctx, dest, src, 32, 0, False, mask)
    out = masked["samples"]
    assert torch.equal(out[:, :, :, :6], dest["samples"][:, :, :, :6])  # the masked-out half: untouched
    assert torch.equal(out[:, :, 4:], dest["samples"][:, :, 4:])  # below the paste: untouched
    assert torch.equal(out[:, :, :4, 6:], src["samples"][:, :, :, 2:].expand(2, -1, -1, -1))
    (clipped,) = math_ops.latent_composite_masked(ctx, dest, src, 48, 48, False)  # half outside
    assert torch.equal(clipped["samples"][:, :, 6:, 6:], src["samples"][:, :, :2, :2].expand(2, -1, -1, -1))
    (stretched,) = math_ops.latent_composite_masked(ctx, dest, src, 0, 0, True)
    assert stretched["samples"].shape == dest["samples"].shape
    assert not torch.equal(stretched["samples"], dest["samples"])
