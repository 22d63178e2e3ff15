"""Which of ComfyUI's sampler names this deployment runs (pure data: the api imports it to validate).

Each name here has a function in nodes/sampling/samplers/ (SAMPLER_FUNCTIONS); a unit test checks
that the two agree.
"""

from __future__ import annotations

IMPLEMENTED_SAMPLERS: tuple[str, ...] = (
    "euler", "euler_cfg_pp", "heun", "heunpp2", "dpm_2", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2m",
    "dpmpp_2m_cfg_pp", "ipndm", "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp",
    "gradient_estimation", "gradient_estimation_cfg_pp", "ddim", "uni_pc", "uni_pc_bh2",
)  # fmt: skip
