"""Image utilities as ComfyUI runs them: stitch, flip, rotate, noise, empty images, alpha, batch slices."""

from __future__ import annotations

import pytest
import torch

from nodes.image import ops_utility as ops
from tests.support.node_context import NodeTestContext

CTX = NodeTestContext()


def ramp(batch: int = 1, height: int = 2, width: int = 3, channels: int = 3) -> torch.Tensor:
    """Every value different, so any move of a pixel shows."""
    count = batch * height * width * channels
    return (torch.arange(count, dtype=torch.float32) / count).reshape(batch, height, width, channels)


def test_flip_mirrors_about_the_named_axis() -> None:
    image = ramp()
    (vertical,) = ops.image_flip(CTX, image, "x-axis: vertically")
    (horizontal,) = ops.image_flip(CTX, image, "y-axis: horizontally")
    assert torch.equal(vertical[0, 0], image[0, 1]) and torch.equal(vertical[0, 1], image[0, 0])
    assert torch.equal(horizontal[0, :, 0], image[0, :, 2])


def test_rotate_turns_clockwise() -> None:
    image = ramp(height=2, width=3)
    (quarter,) = ops.image_rotate(CTX, image, "90 degrees")
    assert quarter.shape == (1, 3, 2, 3)
    # Clockwise: the old bottom-left pixel lands top-left, the old top-left lands top-right.
    assert torch.equal(quarter[0, 0, 0], image[0, 1, 0])
    assert torch.equal(quarter[0, 0, 1], image[0, 0, 0])
    (half,) = ops.image_rotate(CTX, image, "180 degrees")
    assert torch.equal(half, torch.flip(image, dims=[1, 2]))
    (three,) = ops.image_rotate(CTX, image, "270 degrees")
    assert torch.equal(ops.image_rotate(CTX, quarter, "180 degrees")[0], three)
    assert torch.equal(ops.image_rotate(CTX, image, "none")[0], image)


def test_noise_is_seeded_scaled_and_clipped() -> None:
    image = torch.full((2, 8, 8, 3), 0.5)
    (a,) = ops.image_add_noise(CTX, image, seed=3, strength=0.2)
    (b,) = ops.image_add_noise(CTX, image, seed=3, strength=0.2)
    (c,) = ops.image_add_noise(CTX, image, seed=4, strength=0.2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    expected = image + 0.2 * torch.randn(image.shape, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, expected.clamp(0, 1))
    assert torch.equal(ops.image_add_noise(CTX, image, seed=3, strength=0.0)[0], image)
    (loud,) = ops.image_add_noise(CTX, image, seed=3, strength=1.0)
    assert float(loud.min()) == 0.0 and float(loud.max()) == 1.0


def test_empty_image_is_filled_with_the_colour() -> None:
    (image,) = ops.empty_image(CTX, width=5, height=4, batch_size=3, color=0xFF8000)
    assert image.shape == (3, 4, 5, 3)
    torch.testing.assert_close(image[2, 3, 4], torch.tensor([1.0, 128 / 255, 0.0]))


def test_image_from_batch_clamps_to_the_batch() -> None:
    batch = ramp(batch=4)
    assert torch.equal(ops.image_from_batch(CTX, batch, batch_index=1, length=2)[0], batch[1:3])
    assert torch.equal(ops.image_from_batch(CTX, batch, batch_index=9, length=5)[0], batch[3:])


def test_join_and_split_alpha_are_inverse_and_follow_the_mask_convention() -> None:
    image = ramp(batch=2, height=4, width=4)
    mask = torch.zeros(2, 4, 4)
    mask[:, :2] = 1.0  # masked: the top half becomes transparent
    (rgba,) = ops.join_image_with_alpha(CTX, image, mask)
    assert rgba.shape == (2, 4, 4, 4)
    assert torch.equal(rgba[..., 3], 1.0 - mask)
    rgb, split_mask = ops.split_image_with_alpha(CTX, rgba)
    assert torch.equal(rgb, image) and torch.equal(split_mask, mask)
    # No alpha: opaque, nothing masked. A smaller mask is stretched to the image; batches cut to the shorter.
    assert torch.equal(ops.split_image_with_alpha(CTX, image)[1], torch.zeros(2, 4, 4))
    (joined,) = ops.join_image_with_alpha(CTX, image, torch.ones(1, 2, 2))
    assert joined.shape == (1, 4, 4, 4) and float(joined[..., 3].max()) == 0.0


@pytest.mark.parametrize(
    ("direction", "first_at"), [("right", (0, 0)), ("left", (0, 6)), ("down", (0, 0)), ("up", (4, 0))]
)
def test_stitch_places_image2_on_the_named_side(direction: str, first_at: tuple[int, int]) -> None:
    image1 = torch.zeros(1, 4, 6, 3)
    image2 = torch.ones(1, 4, 6, 3)
    (stitched,) = ops.image_stitch(CTX, image1, direction, match_image_size=True, image2=image2)
    assert stitched.shape == ((1, 4, 12, 3) if direction in ("left", "right") else (1, 8, 6, 3))
    y, x = first_at
    assert float(stitched[0, y, x].max()) == 0.0  # image1's corner


def test_stitch_matches_sizes_pads_spaces_and_lines_up_batches_and_channels() -> None:
    image1 = torch.zeros(2, 4, 4, 3)
    image2 = torch.ones(1, 2, 6, 4)  # half the height, an alpha channel, a batch of one
    (matched,) = ops.image_stitch(CTX, image1, "right", True, 0, "white", image2)
    assert matched.shape == (2, 4, 4 + 12, 4)  # image2 scaled to height 4 keeps its 3:1 aspect
    assert torch.equal(matched[..., :4, 3], torch.ones(2, 4, 4))  # image1 got an opaque alpha
    (padded,) = ops.image_stitch(CTX, image1, "right", False, 3, "red", image2)
    # Unmatched: image2 centred in image1's height, spacing rounded up to an even 4 pixels of red.
    assert padded.shape == (2, 4, 4 + 4 + 6, 4)
    assert padded[0, 0, 5].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert float(padded[0, 0, 8:, 0].max()) == 0.0 and float(padded[0, 1, 8:, 0].min()) == 1.0
    assert torch.equal(ops.image_stitch(CTX, image1)[0], image1)  # no image2: image1 unchanged


def test_rebatch_regroups_every_image_and_refuses_mixed_sizes() -> None:
    first, second = ramp(batch=3, height=2, width=2), ramp(batch=2, height=2, width=2) + 1.0
    (batches,) = ops.rebatch_images(CTX, [first, second], [2])
    assert [b.shape[0] for b in batches] == [2, 2, 1]
    assert torch.equal(torch.cat(batches), torch.cat([first, second]))
    with pytest.raises(ValueError, match="mix images of different sizes"):
        ops.rebatch_images(CTX, [first, ramp(height=3, width=2)], [4])
