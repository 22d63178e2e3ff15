"""Which of ComfyUI's sampler names this deployment runs (pure data: the api imports it to validate).

Each name here has a function in nodes/sampling/samplers/ (SAMPLER_FUNCTIONS); a unit test checks
that the two agree.
"""

from __future__ import annotations

IMPLEMENTED_SAMPLERS: tuple[str, ...] = ("euler",)
