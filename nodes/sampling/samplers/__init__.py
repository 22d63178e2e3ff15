"""ComfyUI's samplers, each a function over a sigma schedule (k-diffusion's formulation).

A sampler is ``fn(model, x, sigmas, run, **options) -> x``:

- `model` is a Denoiser: ``model(x, sigma)`` returns the guided clean-latent prediction (x0) for the
  noisy latent `x` at noise level `sigma` (a 0-dim tensor); after each call ``model.last_uncond`` holds
  the unconditional x0 of that call (CFG++ samplers re-noise with it) and ``model.model_sampling`` says
  how the model relates sigma, timesteps and noise (flow models take other ancestral steps).
- `x` starts at ``sigmas[0]``'s noise level (already noised by the caller); the sampler steps it along
  `sigmas` (descending, usually ending in 0) and returns the final latent.
- `run` carries the seed for the sampler's own noise (ancestral and SDE samplers: see noise.py)
  and ``run.callback(i, x, denoised)``, called once after each step i (progress and the cancel check).
- `options` are a sampler's tunables with ComfyUI's defaults (eta, s_noise, ...), which the
  ``Sampler*`` nodes set. Stochastic samplers also take ``noise_sampler=`` (noise.py) to replace
  their default noise.

Written from the papers each function cites, in ComfyUI's sigma terms; never from ComfyUI's code.
docs/samplers.md lists each name with its method and checks.
"""

from __future__ import annotations

import functools

from nodes.sampling.samplers.adaptive import dpm_adaptive, dpm_fast
from nodes.sampling.samplers.ancestral import dpm_2_ancestral, dpmpp_2s_ancestral, dpmpp_2s_ancestral_cfg_pp
from nodes.sampling.samplers.contract import Denoiser, SamplerFn, SamplerRun
from nodes.sampling.samplers.deis import deis
from nodes.sampling.samplers.er_sde import er_sde
from nodes.sampling.samplers.euler import euler, euler_ancestral, euler_ancestral_cfg_pp, euler_cfg_pp
from nodes.sampling.samplers.multistep import dpmpp_2m, dpmpp_2m_cfg_pp, ipndm, ipndm_v, lms
from nodes.sampling.samplers.res_multistep import (
    gradient_estimation,
    gradient_estimation_cfg_pp,
    res_multistep,
    res_multistep_ancestral,
    res_multistep_ancestral_cfg_pp,
    res_multistep_cfg_pp,
)
from nodes.sampling.samplers.sa_solver import sa_solver, sa_solver_pece
from nodes.sampling.samplers.sde import dpmpp_2m_sde, dpmpp_3m_sde, dpmpp_sde
from nodes.sampling.samplers.second_order import dpm_2, heun, heunpp2
from nodes.sampling.samplers.seeds import seeds_2, seeds_3
from nodes.sampling.samplers.simple import ddpm, lcm
from nodes.sampling.samplers.unipc import uni_pc, uni_pc_bh2

__all__ = ["SAMPLER_FUNCTIONS", "Denoiser", "SamplerFn", "SamplerRun", "euler", "sampler_function"]


def _named(fn: SamplerFn, name: str, **defaults: object) -> SamplerFn:
    """`fn` with other default options under another sampler name (the _gpu and _heun variants)."""
    wrapped = functools.partial(fn, **defaults)
    functools.update_wrapper(wrapped, fn)
    wrapped.__name__ = name  # type: ignore[attr-defined]
    return wrapped


# name -> function, in ComfyUI's KSampler order; every name in names.IMPLEMENTED_SAMPLERS has one.
SAMPLER_FUNCTIONS: dict[str, SamplerFn] = {
    "euler": euler,
    "euler_cfg_pp": euler_cfg_pp,
    "euler_ancestral": euler_ancestral,
    "euler_ancestral_cfg_pp": euler_ancestral_cfg_pp,
    "heun": heun,
    "heunpp2": heunpp2,
    "dpm_2": dpm_2,
    "dpm_2_ancestral": dpm_2_ancestral,
    "lms": lms,
    "dpm_fast": dpm_fast,
    "dpm_adaptive": dpm_adaptive,
    "dpmpp_2s_ancestral": dpmpp_2s_ancestral,
    "dpmpp_2s_ancestral_cfg_pp": dpmpp_2s_ancestral_cfg_pp,
    "dpmpp_sde": dpmpp_sde,
    "dpmpp_sde_gpu": _named(dpmpp_sde, "dpmpp_sde_gpu", noise_device="gpu"),
    "dpmpp_2m": dpmpp_2m,
    "dpmpp_2m_cfg_pp": dpmpp_2m_cfg_pp,
    "dpmpp_2m_sde": dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": _named(dpmpp_2m_sde, "dpmpp_2m_sde_gpu", noise_device="gpu"),
    "dpmpp_2m_sde_heun": _named(dpmpp_2m_sde, "dpmpp_2m_sde_heun", solver_type="heun"),
    "dpmpp_2m_sde_heun_gpu": _named(
        dpmpp_2m_sde, "dpmpp_2m_sde_heun_gpu", solver_type="heun", noise_device="gpu"
    ),
    "dpmpp_3m_sde": dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": _named(dpmpp_3m_sde, "dpmpp_3m_sde_gpu", noise_device="gpu"),
    "ddpm": ddpm,
    "lcm": lcm,
    "ipndm": ipndm,
    "ipndm_v": ipndm_v,
    "deis": deis,
    "res_multistep": res_multistep,
    "res_multistep_cfg_pp": res_multistep_cfg_pp,
    "res_multistep_ancestral": res_multistep_ancestral,
    "res_multistep_ancestral_cfg_pp": res_multistep_ancestral_cfg_pp,
    "gradient_estimation": gradient_estimation,
    "gradient_estimation_cfg_pp": gradient_estimation_cfg_pp,
    "er_sde": er_sde,
    "seeds_2": seeds_2,
    "seeds_3": seeds_3,
    "sa_solver": sa_solver,
    "sa_solver_pece": sa_solver_pece,
    # ComfyUI's ddim is its euler sampler (deterministic DDIM is an Euler step in sigma)
    "ddim": euler,
    "uni_pc": uni_pc,
    "uni_pc_bh2": uni_pc_bh2,
}


def sampler_function(name: str) -> SamplerFn:
    try:
        return SAMPLER_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"Sampler {name!r} is not implemented here.") from None
