"""The background-removal model families, and how an ONNX graph's signature tells them apart. No onnx.

Each family is one way to run a model: the input size it was trained at, how pixels are normalised,
and whether its output is already a probability or still a logit. The figures are those rembg (the
project that distributes these ONNX files) uses for them.

A family is read from the file name first (rembg's and the model authors' names say it), then
checked against the graph: a name can be wrong, the input tensor cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Family:
    name: str
    label: str
    size: int  # the square input it was trained at (used when the graph leaves the size open)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # "sigmoid": the output is logits; "none": the network ends in a sigmoid already; "auto": exports
    # of the family differ, so logits are recognised by values outside [0, 1].
    activation: str
    # rembg divides by the brightest value, BRIA's own pipeline by 255 (RMBG-1.4).
    scale: str = "max"
    resample: str = "lanczos"


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        # U²-Net and its variants (u2netp, u2net_human_seg, silueta) end every side output in a sigmoid.
        Family("u2net", "U²-Net", 320, IMAGENET_MEAN, IMAGENET_STD, "none"),
        # IS-Net (DIS): rembg feeds it with ImageNet's mean and unit std.
        Family("isnet", "IS-Net (DIS)", 1024, IMAGENET_MEAN, (1.0, 1.0, 1.0), "none"),
        # BiRefNet's exports give the last decoder's logits.
        Family("birefnet", "BiRefNet", 1024, IMAGENET_MEAN, IMAGENET_STD, "sigmoid"),
        # BRIA RMBG-1.4 is an IS-Net trained by BRIA: x/255, mean 0.5, std 1, bilinear.
        Family("rmbg14", "BRIA RMBG-1.4", 1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), "none", "255", "bilinear"),
        # BRIA RMBG-2.0 is a BiRefNet trained by BRIA; rembg's export ends in the sigmoid, others do not.
        Family("rmbg2", "BRIA RMBG-2.0", 1024, IMAGENET_MEAN, IMAGENET_STD, "auto"),
    )
}

# File names as rembg, BRIA and BiRefNet's author publish them, lower-cased. Order matters: the
# first match wins (rembg's "BiRefNet-DIS-epoch_590.onnx" is a BiRefNet trained on DIS5K, not an
# IS-Net; "bria-rmbg-2.0" before a bare "rmbg").
_NAME_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("birefnet", re.compile(r"birefnet")),
    ("u2net", re.compile(r"u2net|silueta")),
    ("isnet", re.compile(r"isnet")),
    ("rmbg2", re.compile(r"rmbg[-_ ]?2")),
    ("rmbg14", re.compile(r"rmbg[-_ ]?1\.?4|briarmbg|rmbg")),
)


@dataclass(frozen=True)
class Signature:
    """What the ONNX graph declares: its input (name, shape with None for an open axis) and outputs."""

    input_name: str
    input_shape: tuple[int | None, ...]
    input_type: str
    outputs: int

    @property
    def fixed_size(self) -> int | None:
        """The square size the graph requires, or None when height and width are left open."""
        height, width = self.input_shape[2], self.input_shape[3]
        if height is not None and width is not None and height == width:
            return height
        return None

    def input_size(self, resolution: int) -> tuple[int, int]:
        """(height, width) to run at: the graph's fixed sides, `resolution` for the sides it leaves open."""
        height, width = self.input_shape[2], self.input_shape[3]
        return (height or resolution, width or resolution)

    def describe(self) -> str:
        shape = "x".join("?" if d is None else str(d) for d in self.input_shape)
        return f"input {self.input_name!r} {self.input_type} [{shape}], {self.outputs} output(s)"


class UnknownModel(ValueError):
    """The file is no background-removal model this worker knows how to run."""


def family_from_name(filename: str) -> str | None:
    lowered = filename.lower()
    for family, pattern in _NAME_PATTERNS:
        if pattern.search(lowered):
            return family
    return None


def family_from_graph(signature: Signature) -> str | None:
    """The family a graph's signature alone implies (rembg's files, BRIA's model.onnx), or None."""
    size = signature.fixed_size
    if size == 320:
        return "u2net"  # U²-Net is the only family trained at 320
    if signature.input_name == "pixel_values":
        return "rmbg2"  # BRIA's RMBG-2.0 export (transformers naming)
    if signature.input_name == "input" and size in (1024, None):
        return "rmbg14"  # BRIA's RMBG-1.4 model.onnx
    if signature.input_name == "input_image":
        # IS-Net exports keep its six side outputs; BiRefNet's give the final map only.
        return "isnet" if signature.outputs > 1 else "birefnet"
    return None


def detect_family(filename: str, signature: Signature) -> Family:
    """The family to run this graph as; UnknownModel (naming what was seen) when there is none."""
    _check_image_input(filename, signature)
    named = family_from_name(filename)
    graphed = family_from_graph(signature)
    family = named or graphed
    if family is None:
        raise UnknownModel(
            f"Background removal model {filename!r}: its signature ({signature.describe()}) matches no "
            f"supported family ({', '.join(f.label for f in FAMILIES.values())}); keep the file name "
            "rembg or the model's authors gave it (u2net.onnx, isnet-general-use.onnx, "
            "BiRefNet-general-epoch_244.onnx, RMBG-1.4 model.onnx ...), which names its family."
        )
    size = signature.fixed_size
    if family == "u2net" and size not in (320, None):
        raise UnknownModel(
            f"Background removal model {filename!r} is named as a U²-Net but takes {size}x{size} images "
            "(U²-Net takes 320x320); rename it after the family it belongs to."
        )
    if family != "u2net" and size == 320:
        raise UnknownModel(
            f"Background removal model {filename!r} is named as {FAMILIES[family].label} but takes "
            "320x320 images, as U²-Net does; rename it after the family it belongs to."
        )
    return FAMILIES[family]


def _check_image_input(filename: str, signature: Signature) -> None:
    shape = signature.input_shape
    if len(shape) != 4 or shape[1] != 3 or signature.input_type != "tensor(float)":
        raise UnknownModel(
            f"Background removal model {filename!r}: expected one float image input [N, 3, H, W], "
            f"found {signature.describe()}."
        )
    if signature.outputs < 1:
        raise UnknownModel(f"Background removal model {filename!r} has no output.")
