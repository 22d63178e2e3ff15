"""Cost rules of the SVD nodes (torch-free; nodes/cost_rules.py adds them to its table).

SVD_img2vid_Conditioning makes the LATENT: `video_frames` latents of width x height, so the
sampler's cost and the latent limits see every frame; its two conditionings are one image each
(no prompt tokens). The loader and the guidance patches carry no sizes.
"""

from __future__ import annotations

from typing import Any

from nodes.cost import LATENT_KIND, Conditioning, NodeCost, Pixels, Rule


def svd_conditioning(n: NodeCost) -> tuple[Any, ...]:
    side = "width" if n.number("width") >= n.number("height") else "height"
    latent = Pixels(LATENT_KIND, int(n.number("width")), int(n.number("height")), 1, side)
    image = Conditioning(1, 0, 0, 0)
    return image, image, latent.rebatched(int(n.number("video_frames")), "video_frames")


def _none(n: NodeCost) -> tuple[Any, ...]:
    return tuple(None for _ in n.spec.outputs)


RULES: dict[str, Rule] = {
    "ImageOnlyCheckpointLoader": _none,
    "SVD_img2vid_Conditioning": svd_conditioning,
    "VideoLinearCFGGuidance": _none,
    "VideoTriangleCFGGuidance": _none,
}
