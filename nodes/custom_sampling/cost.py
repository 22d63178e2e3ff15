"""Cost rules of the custom-sampling nodes (torch-free; nodes/cost_rules.py lists them in its table).

A schedule's cost value is its step count, carried along SIGMAS links to the sampler that runs it;
a guider's is its network passes per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodes.cost import Conditioning, NodeCost, Rule

# A prompt is encoded in windows of 75 tokens (as nodes/cost_rules.py counts it).
CLIP_WINDOW = 75


def _cond(n: NodeCost, name: str) -> Conditioning:
    value = n.linked(name)
    return value if isinstance(value, Conditioning) else Conditioning(1, CLIP_WINDOW, CLIP_WINDOW)


@dataclass(frozen=True)
class SigmaSteps:
    """A SIGMAS value: how many sampler steps it holds (len - 1)."""

    steps: int


@dataclass(frozen=True)
class GuiderPasses:
    """A GUIDER value: network passes per step, as for KSampler's conditionings."""

    passes: float


# SIGMAS whose length the api cannot know: as many steps as KSampler may run.
MAX_SAMPLER_STEPS = 10000


def sigma_steps(name: str = "steps") -> Rule:
    return lambda n: (SigmaSteps(int(n.number(name))),)


def _steps_of(n: NodeCost) -> int:
    value = n.linked("sigmas")
    return value.steps if isinstance(value, SigmaSteps) else MAX_SAMPLER_STEPS


def split_sigmas(n: NodeCost) -> tuple[Any, ...]:
    steps, at = _steps_of(n), int(n.number("step"))
    return SigmaSteps(min(at, steps)), SigmaSteps(max(steps - at, 0))


def split_sigmas_denoise(n: NodeCost) -> tuple[Any, ...]:
    steps = _steps_of(n)
    low = round(steps * n.number("denoise"))
    return SigmaSteps(steps - low), SigmaSteps(low)


def same_steps(n: NodeCost) -> tuple[Any, ...]:
    return (SigmaSteps(_steps_of(n)),)


def extend_sigmas(n: NodeCost) -> tuple[Any, ...]:
    # At most every step is split into `steps` steps.
    return (SigmaSteps(_steps_of(n) * max(1, int(n.number("steps")))),)


def _passes(positive: Conditioning, negative: Conditioning | None) -> float:
    if negative is None:
        return float(positive.entries)
    return max(1.0, (positive.entries + negative.entries) / 2)


def guider(*names: str) -> Rule:
    def rule(n: NodeCost) -> tuple[Any, ...]:
        conds = [_cond(n, name) for name in names]
        entries = sum(c.entries for c in conds)
        return (GuiderPasses(max(1.0, entries / 2) if len(conds) > 1 else float(entries)),)

    return rule


def custom_sampler(n: NodeCost) -> tuple[Any, ...]:
    """SamplerCustom(Advanced): the steps its SIGMAS hold, the passes of its guider (or conditionings)."""
    latent = n.pixels("latent_image")
    steps = _steps_of(n)
    n.measure("steps", steps, "sigmas", f"{steps:,} steps")
    if n.spec.input("guider") is not None:
        value = n.linked("guider")
        passes = value.passes if isinstance(value, GuiderPasses) else 2.0
    else:
        passes = _passes(_cond(n, "positive"), _cond(n, "negative"))
    n.add_sampling(steps=steps, latent=latent, passes=passes, input_name="sigmas")
    return latent, latent
