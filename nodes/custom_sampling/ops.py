"""Implementations of the custom-sampling nodes: SAMPLER choices, guiders, noise, SamplerCustom(Advanced)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nodes.context import NodeContext
from nodes.custom_sampling.choices import configured_sampler
from nodes.diffusion.handles import ModelHandle
from nodes.diffusion.samplers import sampler_problem
from nodes.sampling import run
from nodes.sampling.guiders import Guider
from nodes.sampling.model_sampling import model_sampling_of
from nodes.sampling.noise_inputs import initial_noise
from nodes.sampling.run import SamplerChoice, check_options

Conditioning = list[list[Any]]
Latent = dict[str, Any]


@dataclass(frozen=True)
class Noise:
    """A NOISE value: RandomNoise's seed, or DisableNoise (no noise; seed 0 for the sampler's own)."""

    seed: int
    enabled: bool = True

    def generate(self, latent_image: Latent) -> torch.Tensor:
        if not self.enabled:
            return torch.zeros(latent_image["samples"].shape)
        return initial_noise(latent_image, self.seed)


def _choice(name: str, **options: Any) -> tuple[SamplerChoice]:
    problem = sampler_problem(name)
    if problem:
        raise ValueError(problem[0].upper() + problem[1:])
    check_options(name, options)
    return (SamplerChoice(name, options),)


def ksampler_select(ctx: NodeContext, sampler_name: str) -> tuple[SamplerChoice]:
    return _choice(sampler_name)


def _noise(node: str, inputs: dict[str, Any], *names: str) -> tuple[SamplerChoice]:
    return _choice(configured_sampler(node, inputs), **{name: inputs[name] for name in names})


def sampler_euler_ancestral(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    return _noise("SamplerEulerAncestral", inputs, "eta", "s_noise")


def sampler_euler_ancestral_cfg_pp(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    return _noise("SamplerEulerAncestralCFGPP", inputs, "eta", "s_noise")


def sampler_lms(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    return _noise("SamplerLMS", inputs, "order")


def sampler_dpmpp_3m_sde(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    return _noise("SamplerDPMPP_3M_SDE", inputs, "eta", "s_noise")


def sampler_dpmpp_2m_sde(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    return _noise("SamplerDPMPP_2M_SDE", inputs, "solver_type", "eta", "s_noise")


def sampler_dpmpp_sde(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    return _noise("SamplerDPMPP_SDE", inputs, "eta", "s_noise", "r")


def sampler_dpmpp_2s_ancestral(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    return _noise("SamplerDPMPP_2S_Ancestral", inputs, "eta", "s_noise")


def sampler_dpm_adaptative(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    return _noise("SamplerDPMAdaptative", inputs, *inputs)


def sampler_er_sde(ctx: NodeContext, **inputs: Any) -> tuple[SamplerChoice]:
    # The node's solver type and eta pick ER-SDE's noise scale function (and whether it adds noise).
    from nodes.sampling.samplers.er_sde import er_sde_noise_scaler

    scaler, noise_factor = er_sde_noise_scaler(str(inputs["solver_type"]), float(inputs["eta"]))
    return _choice(
        configured_sampler("SamplerER_SDE", inputs),
        max_stage=inputs["max_stage"],
        s_noise=float(inputs["s_noise"]) * noise_factor,
        noise_scaler=scaler,
    )


def sampler_sa_solver(ctx: NodeContext, model: ModelHandle, **inputs: Any) -> tuple[SamplerChoice]:
    # The stochastic part of sampling is given in percents of the schedule; the sampler maps them.
    return _choice(configured_sampler("SamplerSASolver", inputs), **inputs)


def basic_guider(ctx: NodeContext, model: ModelHandle, conditioning: Conditioning) -> tuple[Guider]:
    return (Guider(model, {"positive": conditioning}, "basic"),)


def cfg_guider(
    ctx: NodeContext, model: ModelHandle, positive: Conditioning, negative: Conditioning, cfg: float
) -> tuple[Guider]:
    return (Guider(model, {"positive": positive, "negative": negative}, "cfg", cfg=cfg),)


def dual_cfg_guider(
    ctx: NodeContext,
    model: ModelHandle,
    cond1: Conditioning,
    cond2: Conditioning,
    negative: Conditioning,
    cfg_conds: float,
    cfg_cond2_negative: float,
    style: str = "regular",
) -> tuple[Guider]:
    if style not in ("regular", "nested"):
        raise ValueError(f"style must be 'regular' or 'nested', got {style!r}.")
    conds = {"positive": cond1, "middle": cond2, "negative": negative}
    return (Guider(model, conds, "dual", cfg=cfg_conds, cfg2=cfg_cond2_negative, style=style),)


def random_noise(ctx: NodeContext, noise_seed: int) -> tuple[Noise]:
    return (Noise(int(noise_seed)),)


def disable_noise(ctx: NodeContext) -> tuple[Noise]:
    return (Noise(0, enabled=False),)


def add_noise(
    ctx: NodeContext, model: ModelHandle, noise: Noise, sigmas: torch.Tensor, latent_image: Latent
) -> tuple[Latent]:
    """The latent noised by the span of `sigmas` (first minus last; a single sigma: itself), the way
    the model adds noise; an empty schedule leaves it as it is."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float32).flatten()
    if len(sigmas) == 0:
        return (latent_image,)
    scale = (sigmas[0] - sigmas[-1]).abs() if len(sigmas) > 1 else sigmas[0]
    latent = latent_image["samples"].float()
    noised = model_sampling_of(model).noise_scaling(scale, noise.generate(latent_image), latent)
    return ({**latent_image, "samples": torch.nan_to_num(noised, nan=0.0, posinf=0.0, neginf=0.0)},)


def sampler_custom(
    ctx: NodeContext,
    model: ModelHandle,
    add_noise: bool,
    noise_seed: int,
    cfg: float,
    positive: Conditioning,
    negative: Conditioning,
    sampler: SamplerChoice,
    sigmas: torch.Tensor,
    latent_image: Latent,
) -> tuple[Latent, Latent]:
    guider = Guider(model, {"positive": positive, "negative": negative}, "cfg", cfg=cfg)
    # The sampler's own noise follows noise_seed even without initial noise, as in ComfyUI.
    return _sample(ctx, guider, sampler, sigmas, latent_image, Noise(int(noise_seed), bool(add_noise)))


def sampler_custom_advanced(
    ctx: NodeContext,
    noise: Noise,
    guider: Guider,
    sampler: SamplerChoice,
    sigmas: torch.Tensor,
    latent_image: Latent,
) -> tuple[Latent, Latent]:
    return _sample(ctx, guider, sampler, sigmas, latent_image, noise)


def _sample(
    ctx: NodeContext,
    guider: Guider,
    sampler: SamplerChoice,
    sigmas: torch.Tensor,
    latent_image: Latent,
    noise: Noise,
) -> tuple[Latent, Latent]:
    """(output, denoised_output): the final latent, and the last step's clean-latent prediction
    (the output itself when no step ran)."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float32).flatten()
    result = run.sample(ctx, guider, sampler, sigmas, latent_image, noise.generate(latent_image), noise.seed)
    out = {**latent_image, "samples": result.samples}
    denoised = {**latent_image, "samples": result.denoised} if result.denoised is not None else out
    return out, denoised
