"""Tiny random-weight ESRGAN (RRDBNet) upscalers for tests and demos, in the real on-disk layouts.

``layout="old"`` is the original ESRGAN repository's sequential layout (``model.0.weight``,
``model.1.sub.N.RDB1.conv1.0.weight``, upsampling convs at ``model.3`` / ``model.6``, the HR and
last convs after them), the layout of most community ``.pth`` upscalers. ``layout="new"`` is
BasicSR's / Real-ESRGAN's (``conv_first``, ``body.N.rdb1.conv1``, ``conv_body``, ``conv_up1``,
``conv_up2``, ``conv_hr``, ``conv_last``); as in Real-ESRGAN, its 2x variant always upsamples 4x
after a pixel-unshuffle, so its first conv takes 12 channels.

spandrel detects the architecture and infers the scale from these keys and shapes alone. Its
RRDBNet fixes the growth channels at 32; only the feature width and block count are shrunk.
Nothing is downloaded; ``.safetensors`` or a plain weights-only ``.pth``/``.pt`` by the suffix.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from tiny_models.common import make_readable

GROWTH = 32  # spandrel's RRDBNet hard-codes gc=32
FEATURES = 8
BLOCKS = 1


def write_tiny_esrgan(
    path: Path, *, seed: int, scale: int = 4, layout: str = "old", wrap: str | None = None
) -> Path:
    """Write a random ESRGAN state dict of ``scale`` (2 or 4) in ``layout`` ("old" or "new").

    ``wrap`` nests the state dict under that key, as BasicSR's releases do (``params_ema`` in
    ``RealESRGAN_x4plus.pth``); only for ``.pth``/``.pt``, since safetensors holds flat tensors.
    """
    if scale not in (2, 4):
        raise ValueError(f"scale must be 2 or 4, got {scale}")
    if layout not in ("old", "new"):
        raise ValueError(f"layout must be 'old' or 'new', got {layout!r}")
    generator = torch.Generator().manual_seed(seed)
    state = (_old_layout if layout == "old" else _new_layout)(scale, generator)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        if wrap:
            raise ValueError("a .safetensors file is flat: write it without wrap")
        from safetensors.torch import save_file

        save_file(state, str(path))
    elif path.suffix in (".pth", ".pt"):
        torch.save({wrap: state} if wrap else state, path)
    else:
        raise ValueError(f"write .safetensors, .pth or .pt, not {path.suffix!r}")
    make_readable(path)
    return path


def _conv(
    generator: torch.Generator, out_ch: int, in_ch: int, *, gain: float = 1.0, bias: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    # He-style init; residual-block convs get a small gain, as ESRGAN initialises them (x0.1).
    std = gain * math.sqrt(2.0 / (in_ch * 9))
    weight = torch.randn((out_ch, in_ch, 3, 3), generator=generator) * std
    return weight, bias + torch.randn((out_ch,), generator=generator) * 0.01


def _last_conv(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # Centred on mid-grey with a modest gain, so most output pixels are not clamped to 0 or 1.
    return _conv(generator, 3, FEATURES, gain=0.2, bias=0.5)


def _rdb_convs(generator: torch.Generator) -> list[tuple[int, tuple[torch.Tensor, torch.Tensor]]]:
    """The five dense convs of one residual dense block: conv c sees nf + (c-1)*gc channels."""
    convs = []
    for c in range(1, 6):
        out_ch = FEATURES if c == 5 else GROWTH
        convs.append((c, _conv(generator, out_ch, FEATURES + (c - 1) * GROWTH, gain=0.1)))
    return convs


def _old_layout(scale: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}

    def put(prefix: str, conv: tuple[torch.Tensor, torch.Tensor]) -> None:
        state[f"{prefix}.weight"], state[f"{prefix}.bias"] = conv

    put("model.0", _conv(generator, FEATURES, 3))
    for block in range(BLOCKS):
        for rdb in (1, 2, 3):
            for c, conv in _rdb_convs(generator):
                put(f"model.1.sub.{block}.RDB{rdb}.conv{c}.0", conv)
    put(f"model.1.sub.{BLOCKS}", _conv(generator, FEATURES, FEATURES))
    # Sequential: [conv, shortcut, (upsample, conv, lrelu) per 2x, HR conv, lrelu, last conv].
    ups = int(math.log2(scale))
    for i in range(ups):
        put(f"model.{3 + 3 * i}", _conv(generator, FEATURES, FEATURES))
    last_up = 3 * ups
    put(f"model.{last_up + 2}", _conv(generator, FEATURES, FEATURES))
    put(f"model.{last_up + 4}", _last_conv(generator))
    return state


def _new_layout(scale: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}

    def put(prefix: str, conv: tuple[torch.Tensor, torch.Tensor]) -> None:
        state[f"{prefix}.weight"], state[f"{prefix}.bias"] = conv

    in_ch = 3 * (4 if scale == 2 else 1)  # 2x: pixel-unshuffle by 2, then the 4x body
    put("conv_first", _conv(generator, FEATURES, in_ch))
    for block in range(BLOCKS):
        for rdb in (1, 2, 3):
            for c, conv in _rdb_convs(generator):
                put(f"body.{block}.rdb{rdb}.conv{c}", conv)
    put("conv_body", _conv(generator, FEATURES, FEATURES))
    put("conv_up1", _conv(generator, FEATURES, FEATURES))
    put("conv_up2", _conv(generator, FEATURES, FEATURES))
    put("conv_hr", _conv(generator, FEATURES, FEATURES))
    put("conv_last", _last_conv(generator))
    return state
