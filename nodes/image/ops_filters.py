"""Edge detection, morphology and the largest-side resizer, in torch on IMAGE tensors [B, H, W, C] in 0..1.

Canny follows the algorithm ComfyUI's node runs (kornia.filters.canny, its 5x5 sigma-1 blur and its
thresholds on the unnormalised Sobel magnitude), written here step by step: grey, Gaussian blur,
Sobel, non-maximum suppression along the gradient rounded to 45 degrees, double threshold and
hysteresis. Morphology uses a flat square kernel, with pixels outside the image never counted
("geodesic" borders), as ComfyUI's node does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nodes.context import NodeContext
from nodes.image.ops import resize

Tensor = torch.Tensor

# Rec. 601 luma, as the reference converts RGB to grey.
_GREY = (0.299, 0.587, 0.114)
_BLUR_SIZE, _BLUR_SIGMA = 5, 1.0
_EPS = 1e-6
# Neighbour offsets (dy, dx) of the 8 gradient directions, 45 degrees apart, from "right" clockwise.
_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
# Of two equal magnitudes across an edge the left (upper) pixel is kept: a tie beats the neighbour to
# the right (direction 0) and below (direction 2) only.
_TIE_WINS = (True, False, True, False, False, False, False, False)


def canny(ctx: NodeContext, image: Tensor, low_threshold: float, high_threshold: float) -> tuple[Tensor]:
    """White edges on black, [B, H, W, 3]."""
    if low_threshold > high_threshold:
        raise ValueError(
            f"Input 'low_threshold' ({low_threshold}) must not be above 'high_threshold' ({high_threshold})."
        )
    grey = _to_grey(image.movedim(-1, 1).float())
    edges = canny_edges(grey, low_threshold, high_threshold)
    return (edges.expand(-1, 3, -1, -1).movedim(1, -1).contiguous(),)


def canny_edges(grey: Tensor, low: float, high: float) -> Tensor:
    """[B, 1, H, W] grey -> [B, 1, H, W] edges of 0 and 1."""
    blurred = _gaussian_blur(grey, _BLUR_SIZE, _BLUR_SIGMA)
    gx, gy = _sobel(blurred)
    height, width = grey.shape[-2:]
    # Magnitude one pixel beyond the image, where there is no gradient: a flat pixel never beats it.
    padded = torch.sqrt(F.pad(gx, (1, 1, 1, 1)) ** 2 + F.pad(gy, (1, 1, 1, 1)) ** 2 + _EPS)
    magnitude = padded[..., 1:-1, 1:-1]
    direction = (torch.nan_to_num(torch.atan2(gy, gx)) * (4 / math.pi)).round().long() % 8
    keep = magnitude > math.sqrt(_EPS)
    for index, (dy, dx) in enumerate(_DIRECTIONS):
        # Each pixel is compared with its two neighbours along its gradient: directions k and k + 4.
        along = (direction == index) | (direction == (index + 4) % 8)
        neighbour = padded[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        beats = magnitude > neighbour
        if _TIE_WINS[index]:
            beats = beats | (magnitude == neighbour)
        keep = keep & (beats | ~along)
    thin = magnitude * keep
    strong, weak = thin > high, thin > low
    while True:  # hysteresis: weak pixels touching a strong one (8-neighbourhood) become strong
        grown = weak & (F.max_pool2d(strong.float(), 3, stride=1, padding=1) > 0)
        if torch.equal(grown, strong):
            return strong.to(grey.dtype)
        strong = grown | strong


def _to_grey(pixels: Tensor) -> Tensor:
    if pixels.shape[1] == 1:
        return pixels
    if pixels.shape[1] < 3:
        raise ValueError(f"Input 'image' has {pixels.shape[1]} channels; Canny needs RGB (3) or grey (1).")
    weights = torch.tensor(_GREY, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
    return (pixels[:, :3] * weights).sum(1, keepdim=True)


def _gaussian_blur(pixels: Tensor, size: int, sigma: float) -> Tensor:
    offsets = torch.arange(size, dtype=pixels.dtype, device=pixels.device) - size // 2
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    half = size // 2
    padded = F.pad(pixels, (half, half, half, half), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, size))
    return F.conv2d(rows, kernel.view(1, 1, size, 1))


def _sobel(pixels: Tensor) -> tuple[Tensor, Tensor]:
    """Unnormalised 3x3 Sobel gradients (x to the right, y down), edges replicated."""
    sobel_x = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=pixels.dtype, device=pixels.device)
    padded = F.pad(pixels, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel_x.view(1, 1, 3, 3))
    gy = F.conv2d(padded, sobel_x.t().contiguous().view(1, 1, 3, 3))
    return gx, gy


MORPHOLOGY_OPERATIONS = ("erode", "dilate", "open", "close", "gradient", "bottom_hat", "top_hat")


def morphology(ctx: NodeContext, image: Tensor, operation: str, kernel_size: int) -> tuple[Tensor]:
    """Grey-scale morphology with a flat kernel_size x kernel_size square, channel by channel."""
    if operation not in MORPHOLOGY_OPERATIONS:
        choices = ", ".join(MORPHOLOGY_OPERATIONS)
        raise ValueError(f"Input 'operation': {operation!r} is not one of {choices}.")
    pixels = image.movedim(-1, 1).float()
    if operation == "erode":
        out = _erode(pixels, kernel_size)
    elif operation == "dilate":
        out = _dilate(pixels, kernel_size)
    elif operation == "open":
        out = _dilate(_erode(pixels, kernel_size), kernel_size)
    elif operation == "close":
        out = _erode(_dilate(pixels, kernel_size), kernel_size)
    elif operation == "gradient":
        out = _dilate(pixels, kernel_size) - _erode(pixels, kernel_size)
    elif operation == "top_hat":
        out = pixels - _dilate(_erode(pixels, kernel_size), kernel_size)
    else:  # bottom_hat
        out = _erode(_dilate(pixels, kernel_size), kernel_size) - pixels
    return (out.movedim(1, -1).contiguous(),)


def _dilate(pixels: Tensor, size: int) -> Tensor:
    # The kernel's origin is its centre (size // 2); dilation reflects the kernel, so an even-sized one
    # reaches one pixel further after the origin than before it. Outside the image never wins (-inf).
    return _window_max(pixels, size - size // 2 - 1, size // 2)


def _erode(pixels: Tensor, size: int) -> Tensor:
    return -_window_max(-pixels, size // 2, size - size // 2 - 1)


def _window_max(pixels: Tensor, before: int, after: int) -> Tensor:
    padded = F.pad(pixels, (before, after, before, after), value=-math.inf)
    return F.max_pool2d(padded, before + after + 1, stride=1)


SCALE_METHODS = ("area", "lanczos", "bilinear", "nearest-exact", "bilinear", "bicubic")


def image_scale_to_max_dimension(
    ctx: NodeContext, image: Tensor, upscale_method: str, largest_size: int
) -> tuple[Tensor]:
    """Resize so the longer side is `largest_size` pixels, keeping the aspect ratio."""
    if largest_size < 1:
        raise ValueError(f"Input 'largest_size': {largest_size} pixels; give at least 1.")
    height, width = image.shape[1], image.shape[2]
    if height > width:
        width, height = max(1, round(width / height * largest_size)), largest_size
    elif width > height:
        width, height = largest_size, max(1, round(height / width * largest_size))
    else:
        width = height = largest_size
    return (resize(image, width, height, upscale_method),)
