"""The mask and pixel nodes on small tensors: shapes, batches and exact values where they are defined.

Each op is looked up through the registry (so its `impl` path is checked too) and
called with a tiny context that has only what these nodes use.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nodes.catalog import default_registry
from nodes.schema import NodeResult


class Ctx:
    """Files to read and a list that collects saved PNGs: all that these nodes ask of a worker."""

    node_id = "1"
    device = "cpu"

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = files or {}
        self.saved: list[tuple[bytes, str]] = []

    def read_file(self, file_id: str) -> bytes:
        return self.files[file_id]

    def save_image(self, png: bytes, *, width: int, height: int, prefix: str) -> dict[str, Any]:
        self.saved.append((png, prefix))
        return {"filename": f"{prefix}_{len(self.saved):05d}.png", "width": width, "height": height}

    def check_cancelled(self) -> None:
        pass


def run(class_type: str, ctx: Ctx | None = None, **inputs: Any) -> Any:
    return default_registry().implementation(class_type)(ctx or Ctx(), **inputs)


def png(array: np.ndarray) -> bytes:
    """[H, W, 3|4] uint8 as an RGB or RGBA PNG; a [H, W] uint16 array as a 16-bit greyscale PNG."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def pixel_mask(height: int, width: int, *points: tuple[int, int]) -> torch.Tensor:
    mask = torch.zeros((height, width))
    for y, x in points:
        mask[y, x] = 1.0
    return mask


# Masks


def test_solid_and_invert_mask() -> None:
    (solid,) = run("SolidMask", value=0.25, width=4, height=3)
    assert solid.shape == (1, 3, 4) and solid.dtype == torch.float32
    assert torch.equal(solid, torch.full((1, 3, 4), 0.25))
    # A single [H, W] mask comes back as a batch of one.
    (inverted,) = run("InvertMask", mask=torch.tensor([[0.0, 0.25], [1.0, 0.5]]))
    assert torch.equal(inverted, torch.tensor([[[1.0, 0.75], [0.0, 0.5]]]))
    (batch,) = run("InvertMask", mask=torch.zeros((3, 2, 2)))
    assert batch.shape == (3, 2, 2) and bool((batch == 1).all())


def test_mask_to_image_and_back() -> None:
    mask = torch.rand((2, 5, 7))
    (image,) = run("MaskToImage", mask=mask)
    assert image.shape == (2, 5, 7, 3)
    for channel in ("red", "green", "blue"):
        (back,) = run("ImageToMask", image=image, channel=channel)
        assert torch.equal(back, mask)
    (single,) = run("MaskToImage", mask=mask[0])
    assert single.shape == (1, 5, 7, 3)
    with pytest.raises(ValueError, match="'channel'"):
        run("ImageToMask", image=image, channel="alpha")
    rgba = torch.rand((1, 2, 2, 4))
    assert torch.equal(run("ImageToMask", image=rgba, channel="alpha")[0], rgba[..., 3])


def test_threshold_mask() -> None:
    (out,) = run("ThresholdMask", mask=torch.tensor([[0.2, 0.5, 0.7]]), value=0.5)
    assert torch.equal(out, torch.tensor([[[0.0, 0.0, 1.0]]]))


@pytest.mark.parametrize(
    ("operation", "region"),
    [
        ("multiply", [[1.0, 0.0], [0.0, 0.0]]),
        ("add", [[1.0, 1.0], [1.0, 0.0]]),  # 1 + 1 is clamped to 1
        ("subtract", [[0.0, 0.0], [1.0, 0.0]]),
        ("and", [[1.0, 0.0], [0.0, 0.0]]),
        ("or", [[1.0, 1.0], [1.0, 0.0]]),
        ("xor", [[0.0, 1.0], [1.0, 0.0]]),
    ],
)
def test_mask_composite_operations(operation: str, region: list) -> None:
    destination = torch.tensor([[[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]]])
    source = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    (out,) = run("MaskComposite", destination=destination, source=source, x=2, y=0, operation=operation)
    assert out.shape == (1, 2, 4)
    assert torch.equal(out[0, :, :2], destination[0, :, :2])  # outside the source: untouched
    assert torch.equal(out[0, :, 2:], torch.tensor(region))


def test_mask_composite_clips_and_broadcasts_batches() -> None:
    (out,) = run(
        "MaskComposite",
        destination=torch.zeros((4, 4)),
        source=torch.ones((3, 3, 3)),
        x=3,
        y=1,
        operation="add",
    )
    assert out.shape == (3, 4, 4)
    assert int(out[0].sum()) == 3 and bool((out[:, 1:, 3] == 1).all())
    with pytest.raises(ValueError, match="outside"):
        run(
            "MaskComposite",
            destination=torch.zeros((4, 4)),
            source=torch.ones((2, 2)),
            x=4,
            y=0,
            operation="add",
        )
    with pytest.raises(ValueError, match="batches of 2 and 3"):
        run(
            "MaskComposite",
            destination=torch.zeros((2, 4, 4)),
            source=torch.ones((3, 2, 2)),
            x=0,
            y=0,
            operation="or",
        )


def test_crop_mask() -> None:
    mask = torch.arange(20, dtype=torch.float32).reshape(4, 5)
    (out,) = run("CropMask", mask=mask, x=1, y=2, width=2, height=2)
    assert torch.equal(out, torch.tensor([[[11.0, 12.0], [16.0, 17.0]]]))
    # Past the edge the crop is smaller, as in ComfyUI.
    (edge,) = run("CropMask", mask=mask, x=3, y=3, width=512, height=512)
    assert edge.shape == (1, 1, 2)
    with pytest.raises(ValueError, match="outside"):
        run("CropMask", mask=mask, x=5, y=0, width=1, height=1)


def test_grow_mask_by_one_pixel() -> None:
    dot = pixel_mask(5, 5, (2, 2))
    (square,) = run("GrowMask", mask=dot, expand=1, tapered_corners=False)
    assert square.shape == (1, 5, 5)
    assert torch.equal(square[0], F.pad(torch.ones((3, 3)), (1, 1, 1, 1)))
    (cross,) = run("GrowMask", mask=dot, expand=1, tapered_corners=True)
    assert torch.equal(cross[0], pixel_mask(5, 5, (2, 2), (1, 2), (3, 2), (2, 1), (2, 3)))
    (diamond,) = run("GrowMask", mask=dot, expand=2, tapered_corners=True)
    assert int(diamond.sum()) == 13
    # Negative expand erodes: the 3x3 block shrinks back to its centre.
    (shrunk,) = run("GrowMask", mask=square, expand=-1, tapered_corners=False)
    assert torch.equal(shrunk[0], dot)
    # At the border, grows only inwards.
    (corner,) = run("GrowMask", mask=pixel_mask(3, 3, (0, 0)).unsqueeze(0), expand=1, tapered_corners=False)
    assert torch.equal(corner[0], pixel_mask(3, 3, (0, 0), (0, 1), (1, 0), (1, 1)))
    (unchanged,) = run("GrowMask", mask=dot, expand=0, tapered_corners=True)
    assert torch.equal(unchanged[0], dot)


def test_feather_mask_ramps_each_edge() -> None:
    (out,) = run("FeatherMask", mask=torch.ones((2, 4, 6)), left=2, top=0, right=3, bottom=0)
    assert out.shape == (2, 4, 6)
    assert torch.allclose(out[0, 0], torch.tensor([0.5, 1.0, 1.0, 1.0, 2 / 3, 1 / 3]))
    assert torch.equal(out[0], out[1])
    (vertical,) = run("FeatherMask", mask=torch.ones((4, 3)), left=0, top=4, right=0, bottom=2)
    assert torch.allclose(
        vertical[0, :, 0], torch.tensor([0.25, 0.5, 0.75, 1.0]) * torch.tensor([1, 1, 1, 0.5])
    )


# Image geometry


def test_image_pad_for_outpaint_sizes_and_mask() -> None:
    image = torch.full((2, 4, 6, 3), 0.2)
    out, mask = run("ImagePadForOutpaint", image=image, left=8, top=0, right=0, bottom=8, feathering=0)
    assert out.shape == (2, 12, 14, 3)
    assert mask.shape == (1, 12, 14)
    assert torch.equal(out[:, :4, 8:, :], image)
    assert bool((out[:, 4:, :, :] == 0.5).all()) and bool((out[:, :, :8, :] == 0.5).all())
    assert bool((mask[0, :4, 8:] == 0).all())
    assert int(mask.sum()) == 12 * 14 - 4 * 6

    # Feathering ramps the mask inwards from the padded sides only: ((f - d) / f)^2.
    image = torch.zeros((1, 8, 8, 3))
    _, mask = run("ImagePadForOutpaint", image=image, left=8, top=0, right=0, bottom=8, feathering=2)
    inner = mask[0, :8, 8:]
    assert torch.allclose(inner[0, :3], torch.tensor([1.0, 0.25, 0.0]))  # left edge: d = 0, 1, 2
    assert torch.allclose(inner[-3:, 4], torch.tensor([0.0, 0.0, 0.25]))  # bottom: d = 3, 2, 1
    # Too much feathering for the image: skipped, as in ComfyUI.
    _, mask = run("ImagePadForOutpaint", image=image, left=8, top=0, right=0, bottom=0, feathering=4)
    assert bool((mask[0, :, 8:] == 0).all())


def test_image_composite_masked() -> None:
    destination = torch.zeros((2, 4, 4, 3))
    source = torch.ones((1, 2, 2, 3))
    (out,) = run(
        "ImageCompositeMasked", destination=destination, source=source, x=1, y=1, resize_source=False
    )
    assert out.shape == (2, 4, 4, 3)
    assert int(out[..., 0].sum()) == 2 * 4
    assert bool((out[:, 1:3, 1:3] == 1).all()) and not destination.any()

    half = torch.full((2, 2), 0.5)
    (blended,) = run(
        "ImageCompositeMasked",
        destination=destination,
        source=source,
        x=0,
        y=0,
        resize_source=False,
        mask=half,
    )
    assert torch.allclose(blended[:, :2, :2], torch.full((2, 2, 2, 3), 0.5))
    # A mask of another size is stretched to the source; resize_source stretches the source.
    (stretched,) = run(
        "ImageCompositeMasked",
        destination=destination,
        source=source,
        x=0,
        y=0,
        resize_source=True,
        mask=torch.ones((1, 8, 8)),
    )
    assert bool((stretched == 1).all())
    # Only the part inside the destination is pasted; a longer source batch is cut to the destination's.
    numbered = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 2, 2, 4) / 2
    (edge,) = run(
        "ImageCompositeMasked", destination=destination, source=numbered, x=3, y=3, resize_source=False
    )
    assert edge.shape == (2, 4, 4, 3)
    assert edge[1, 3, 3, 0] == 0.5 and int((edge > 0).sum()) == 3  # RGBA source: alpha dropped
    with pytest.raises(ValueError, match="outside"):
        run("ImageCompositeMasked", destination=destination, source=source, x=0, y=4, resize_source=False)


def test_image_batch_resizes_the_second_batch() -> None:
    first = torch.full((1, 4, 6, 3), 0.1)
    second = torch.full((2, 8, 16, 3), 0.7)
    (out,) = run("ImageBatch", image1=first, image2=second)
    assert out.shape == (3, 4, 6, 3)
    assert torch.equal(out[0], first[0])
    assert torch.allclose(out[1:], torch.full((2, 4, 6, 3), 0.7))
    (mixed,) = run("ImageBatch", image1=first, image2=torch.full((1, 4, 6, 4), 0.3))
    assert mixed.shape == (2, 4, 6, 4)
    assert bool((mixed[0, ..., 3] == 1).all()) and bool((mixed[1, ..., 3] == 0.3).all())


def test_image_scale_by_and_to_total_pixels() -> None:
    image = torch.full((2, 4, 6, 4), 0.5)
    (out,) = run("ImageScaleBy", image=image, upscale_method="nearest-exact", scale_by=1.5)
    assert out.shape == (2, 6, 9, 4) and torch.allclose(out, torch.full_like(out, 0.5))
    with pytest.raises(ValueError, match="'scale_by'"):
        run("ImageScaleBy", image=image, upscale_method="bilinear", scale_by=0.1)
    wide = torch.rand((1, 100, 200, 3))
    for method in ("nearest-exact", "bilinear", "area", "bicubic", "lanczos"):
        (scaled,) = run("ImageScaleToTotalPixels", image=wide, upscale_method=method, megapixels=0.01)
        assert scaled.shape == (1, 72, 145, 3)  # sqrt(0.01 * 2^20 / 20000) = 0.724
        assert 0 <= float(scaled.min()) and float(scaled.max()) <= 1


# Post-processing


def test_image_blend_modes() -> None:
    a = torch.tensor([0.2, 0.6, 1.0]).view(1, 1, 3, 1).expand(1, 1, 3, 3)
    b = torch.tensor([0.5, 0.5, 0.25]).view(1, 1, 3, 1).expand(1, 1, 3, 3)

    def blend(mode: str, factor: float = 1.0, image2: torch.Tensor = b) -> torch.Tensor:
        return run("ImageBlend", image1=a, image2=image2, blend_factor=factor, blend_mode=mode)[0]

    assert torch.allclose(blend("normal"), b)
    assert torch.allclose(blend("normal", 0.0), a)
    assert torch.allclose(blend("multiply"), a * b)
    assert torch.allclose(blend("screen"), 1 - (1 - a) * (1 - b))
    assert torch.allclose(blend("difference")[0, 0, :, 0], torch.tensor([0.0, 0.1, 0.75]))
    assert torch.allclose(blend("overlay")[0, 0, :, 0], torch.tensor([0.2, 0.6, 1.0]))
    assert torch.allclose(blend("soft_light")[0, 0, :, 0], torch.tensor([0.2, 0.6, 1.0]))
    assert torch.allclose(blend("multiply", 0.5), a * 0.5 + a * b * 0.5)
    # A batch of one blends with each image; another size is resized to image1's.
    (batched,) = run(
        "ImageBlend",
        image1=torch.zeros((3, 4, 4, 3)),
        image2=torch.ones((1, 8, 6, 3)),
        blend_factor=0.5,
        blend_mode="normal",
    )
    assert batched.shape == (3, 4, 4, 3) and torch.allclose(batched, torch.full_like(batched, 0.5))
    with pytest.raises(ValueError, match="batches of 2 and 3"):
        run(
            "ImageBlend",
            image1=torch.zeros((2, 4, 4, 3)),
            image2=torch.zeros((3, 4, 4, 3)),
            blend_factor=0.5,
            blend_mode="normal",
        )


def gaussian_2d_reference(image: torch.Tensor, radius: int, sigma: float) -> torch.Tensor:
    """ComfyUI's documented kernel exp(-(x^2+y^2)/(2 sigma^2)) on a [-1, 1] grid, as one 2-D convolution."""
    grid = torch.linspace(-1, 1, 2 * radius + 1)
    kernel = torch.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).expand(image.shape[-1], 1, -1, -1)
    x = F.pad(image.permute(0, 3, 1, 2), (radius,) * 4, mode="reflect")
    return F.conv2d(x, kernel, groups=image.shape[-1]).permute(0, 2, 3, 1)


def test_image_blur() -> None:
    image = torch.rand((2, 9, 11, 3))
    (out,) = run("ImageBlur", image=image, blur_radius=3, sigma=0.8)
    assert out.shape == image.shape
    assert torch.allclose(out, gaussian_2d_reference(image, 3, 0.8), atol=1e-5)
    (flat,) = run("ImageBlur", image=torch.full((1, 5, 5, 3), 0.4), blur_radius=2, sigma=1.0)
    assert torch.allclose(flat, torch.full_like(flat, 0.4))
    with pytest.raises(ValueError, match="'blur_radius'"):
        run("ImageBlur", image=image, blur_radius=9, sigma=1.0)


def test_image_sharpen() -> None:
    image = torch.rand((1, 8, 8, 3)) * 0.5 + 0.25
    (same,) = run("ImageSharpen", image=image, sharpen_radius=1, sigma=1.0, alpha=0.0)
    assert torch.allclose(same, image)
    (flat,) = run("ImageSharpen", image=torch.full((2, 6, 6, 3), 0.3), sharpen_radius=2, sigma=1.0, alpha=2.0)
    assert flat.shape == (2, 6, 6, 3) and torch.allclose(flat, torch.full_like(flat, 0.3))
    (sharp,) = run("ImageSharpen", image=image, sharpen_radius=1, sigma=1.0, alpha=0.05)
    expected = image + 0.5 * (image - gaussian_2d_reference(image, 1, 1.0))
    assert torch.allclose(sharp, expected.clamp(0, 1), atol=1e-5)


@pytest.mark.parametrize("dither", ["none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16"])
def test_image_quantize_colour_count(dither: str) -> None:
    image = torch.rand((2, 16, 20, 3))
    (out,) = run("ImageQuantize", image=image, colors=4, dither=dither)
    assert out.shape == image.shape
    for frame in out:
        assert len(torch.unique(frame.reshape(-1, 3), dim=0)) <= 4
    (one,) = run("ImageQuantize", image=image, colors=1, dither=dither)
    assert all(len(torch.unique(frame.reshape(-1, 3), dim=0)) == 1 for frame in one)


# Files in, PNGs out


def test_load_image_mask_channels() -> None:
    rgba = np.zeros((3, 4, 4))
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    rgba[1, 2, 3] = 0  # one transparent pixel
    ctx = Ctx(
        {
            "file_rgba": png(rgba.astype(np.uint8)),
            "file_rgb": png(np.full((5, 2, 3), 51, dtype=np.uint8)),
            "file_grey16": png(np.full((2, 3), 25500, dtype=np.uint16)),
        }
    )
    (alpha,) = run("LoadImageMask", ctx, image="file_rgba", channel="alpha")
    assert alpha.shape == (1, 3, 4)
    assert alpha[0, 1, 2] == 1 and int(alpha.sum()) == 1  # mask = 1 - alpha
    (red,) = run("LoadImageMask", ctx, image="file_rgba", channel="red")
    assert bool((red == 1).all())
    (green,) = run("LoadImageMask", ctx, image="file_rgba", channel="green")
    assert not green.any()
    (no_alpha,) = run("LoadImageMask", ctx, image="file_rgb", channel="alpha")
    assert no_alpha.shape == (1, 5, 2) and not no_alpha.any()
    (blue,) = run("LoadImageMask", ctx, image="file_rgb", channel="blue")
    assert torch.allclose(blue, torch.full((1, 5, 2), 0.2))
    # 16-bit greyscale is divided by 255 first, as ComfyUI does: 25500 reads as 100 of 255.
    (grey,) = run("LoadImageMask", ctx, image="file_grey16", channel="green")
    assert grey.shape == (1, 2, 3) and torch.allclose(grey, torch.full((1, 2, 3), 100 / 255))


def test_preview_image_saves_every_image() -> None:
    ctx = Ctx()
    result = run("PreviewImage", ctx, images=torch.full((2, 3, 5, 3), 1.0))
    assert isinstance(result, NodeResult) and result.outputs == ()
    assert [i["width"] for i in result.ui["images"]] == [5, 5]
    assert [prefix for _, prefix in ctx.saved] == ["ComfyUI_temp", "ComfyUI_temp"]
    picture = Image.open(io.BytesIO(ctx.saved[0][0]))
    assert picture.size == (5, 3) and picture.getpixel((0, 0)) == (255, 255, 255)
