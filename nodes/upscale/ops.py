"""UpscaleModelLoader and ImageUpscaleWithModel. IMAGE is float [B, H, W, C] in [0, 1]."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nodes.context import NodeContext
from nodes.upscale.loading import UpscaleModel, load_upscale_model

# As ComfyUI: 512-pixel tiles overlapping by 32, the tile halved on out-of-memory down to 128.
TILE = 512
OVERLAP = 32
MIN_TILE = 128


def upscale_model_loader(ctx: NodeContext, model_name: str) -> tuple[UpscaleModel]:
    path = ctx.model_path("upscale_models", model_name)
    return (ctx.models.get(("upscale", str(path), ctx.device), lambda: load_upscale_model(path, ctx.device)),)


def image_upscale_with_model(
    ctx: NodeContext, upscale_model: UpscaleModel, image: torch.Tensor
) -> tuple[torch.Tensor]:
    channels = image.shape[-1]
    wanted = upscale_model.input_channels
    if channels == wanted:
        color, alpha = image, None
    elif channels == 4 and wanted == 3:
        # The model sees RGB; alpha follows with a plain bilinear resize (models are trained on colour).
        color, alpha = image[..., :3], image[..., 3:]
    else:
        raise ValueError(
            f"Upscale model {upscale_model.name!r} takes {wanted}-channel images; this image has "
            f"{channels} channels."
        )
    upscaled = upscale_with_halving(ctx, upscale_model, color.movedim(-1, 1), tile=TILE)
    if alpha is not None:
        size = upscaled.shape[-2:]
        resized = F.interpolate(alpha.movedim(-1, 1), size=size, mode="bilinear", align_corners=False)
        upscaled = torch.cat([upscaled, resized.clamp(0, 1)], dim=1)
    return (upscaled.movedim(1, -1).contiguous(),)


def upscale_with_halving(
    ctx: NodeContext, upscale_model: UpscaleModel, pixels: torch.Tensor, *, tile: int, overlap: int = OVERLAP
) -> torch.Tensor:
    """Tiled upscale of [B, C, H, W]; on out-of-memory the tile is halved, as ComfyUI does."""
    while True:
        try:
            return upscale_tiled(
                upscale_model.descriptor,
                pixels,
                scale=upscale_model.scale,
                tile=tile,
                overlap=overlap,
                device=ctx.device,
                on_tile=_tile_reporter(ctx),
            )
        except torch.OutOfMemoryError:
            if tile // 2 < MIN_TILE:
                raise
            tile //= 2
            if ctx.device.startswith("cuda"):
                torch.cuda.empty_cache()


def _tile_reporter(ctx: NodeContext) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        ctx.check_cancelled()
        ctx.progress(done, total)

    return report


@torch.no_grad()  # not inference_mode: later nodes may modify the IMAGE in place
def upscale_tiled(
    model: Callable[[torch.Tensor], torch.Tensor],
    pixels: torch.Tensor,
    *,
    scale: int,
    tile: int,
    overlap: int,
    device: str,
    on_tile: Callable[[int, int], None] = lambda done, total: None,
) -> torch.Tensor:
    """Run `model` over overlapping tiles of [B, C, H, W] and feather the seams.

    Each output pixel is the weighted mean of the tiles that cover it; the weight ramps up
    across the overlap, so neighbouring tiles cross-fade instead of meeting at a hard edge.
    An image no larger than one tile goes through whole, exactly as without tiling. The result
    stays on the input's device (the CPU), so only one tile at a time occupies `device`.
    """
    if overlap * 2 >= tile:
        raise ValueError(f"Tile overlap {overlap} must be less than half the tile size {tile}.")
    batch, _, height, width = pixels.shape
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    total, done = batch * len(ys) * len(xs), 0
    out: torch.Tensor | None = None
    weight_sum = torch.zeros((1, 1, height * scale, width * scale), dtype=torch.float32)
    for index in range(batch):
        for y in ys:
            for x in xs:
                h, w = min(tile, height - y), min(tile, width - x)
                piece = pixels[index : index + 1, :, y : y + h, x : x + w].to(device, torch.float32)
                result = model(piece).float().to(pixels.device)
                if out is None:
                    out = torch.zeros((batch, result.shape[1], height * scale, width * scale))
                weight = feather(
                    h, w, scale, overlap, top=y > 0, left=x > 0, bottom=y + h < height, right=x + w < width
                )
                region = (slice(y * scale, (y + h) * scale), slice(x * scale, (x + w) * scale))
                out[index, :, region[0], region[1]] += result[0] * weight
                if index == 0:
                    weight_sum[0, :, region[0], region[1]] += weight
                done += 1
                on_tile(done, total)
    assert out is not None
    return (out / weight_sum).clamp_(0, 1)


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: a step of tile - overlap, the last tile flush with the edge."""
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return starts


def feather(
    h: int, w: int, scale: int, overlap: int, *, top: bool, left: bool, bottom: bool, right: bool
) -> torch.Tensor:
    """[H*s, W*s] weights: 1 inside, ramping down across the overlap on sides that meet a neighbour."""
    ramp = overlap * scale

    def axis(length: int, start: bool, end: bool) -> torch.Tensor:
        weights = torch.ones(length)
        if ramp > 0:
            edge = (torch.arange(min(ramp, length), dtype=torch.float32) + 0.5) / ramp
            if start:
                weights[: edge.numel()] = torch.minimum(weights[: edge.numel()], edge)
            if end:
                weights[length - edge.numel() :] = torch.minimum(
                    weights[length - edge.numel() :], edge.flip(0)
                )
        return weights

    return axis(h * scale, top, bottom)[:, None] * axis(w * scale, left, right)[None, :]
