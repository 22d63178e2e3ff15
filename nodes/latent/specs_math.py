"""Schemas of latent arithmetic and batching (nodes/latent/ops_math.py). No torch."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import BOOLEAN, COMBO, FLOAT, INT, LATENT, MASK, InputSpec, NodeSpec, OutputSpec

MATH = "nodes.latent.ops_math"


def _pair(class_type: str, function: str, category: str = "latent/advanced") -> V3NodeSpec:
    return V3NodeSpec(
        class_type=class_type,
        category=category,
        impl=f"{MATH}:{function}",
        inputs=(InputSpec("samples1", LATENT), InputSpec("samples2", LATENT)),
        outputs=(OutputSpec(LATENT),),
    )


SPECS = (
    _pair("LatentAdd", "latent_add"),
    _pair("LatentSubtract", "latent_subtract"),
    V3NodeSpec(
        class_type="LatentMultiply",
        category="latent/advanced",
        impl=f"{MATH}:latent_multiply",
        inputs=(
            InputSpec("samples", LATENT),
            InputSpec("multiplier", FLOAT, default=1.0, min=-10.0, max=10.0, step=0.01),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    V3NodeSpec(
        class_type="LatentInterpolate",
        category="latent/advanced",
        impl=f"{MATH}:latent_interpolate",
        inputs=(
            InputSpec("samples1", LATENT),
            InputSpec("samples2", LATENT),
            InputSpec("ratio", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    _pair("LatentBatch", "latent_batch", category="latent/batch"),
    V3NodeSpec(
        class_type="LatentBatchSeedBehavior",
        category="latent/advanced",
        impl=f"{MATH}:latent_batch_seed_behavior",
        inputs=(
            InputSpec("samples", LATENT),
            InputSpec("seed_behavior", COMBO, choices=("random", "fixed"), default="fixed"),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    NodeSpec(
        class_type="LatentCompositeMasked",
        category="latent",
        impl=f"{MATH}:latent_composite_masked",
        inputs=(
            InputSpec("destination", LATENT),
            InputSpec("source", LATENT),
            InputSpec("x", INT, default=0, min=0, max=16384, step=8),
            InputSpec("y", INT, default=0, min=0, max=16384, step=8),
            InputSpec("resize_source", BOOLEAN, default=False),
            InputSpec("mask", MASK, required=False),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
)
