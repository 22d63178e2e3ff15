"""How a model's output, its noise level and its timestep relate: ComfyUI's "model sampling".

Every sampler works on ComfyUI's terms: a latent `x` at noise level `sigma`, and a denoiser that
returns the clean-latent prediction ("denoised", x0). A ModelSampling turns one model's raw output
into that prediction, names the timestep the network is given for a sigma, and adds noise to a
latent the way that model was trained:

- "eps" and "v": discrete diffusion (SD 1.x/2.x/SDXL), sigma = sqrt((1 - a) / a) over the
  training schedule's cumulative alphas; the network sees x / sqrt(sigma^2 + 1) and the nearest
  training timestep.
- "lcm" and "x0": discrete models distilled for few steps. "lcm" (Luo et al. 2023) adds the
  consistency model's boundary scalings to the eps prediction and tabulates only the 50 timesteps
  the model was distilled on (every 20th); "x0" networks predict the clean latent directly.
- "edm": continuous EDM sigmas (Karras et al. 2022; Stable Video Diffusion): any sigma in
  [sigma_min, sigma_max] (tabulated log-linearly for the table-walking schedulers), the network
  sees x / sqrt(sigma^2 + sigma_data^2) and the timestep 0.25 * ln(sigma); its output is eps or v
  (`prediction`), scaled by the EDM preconditioning with `edm_sigma_data`.
- "flow": rectified flow (SD3, FLUX, AuraFlow, Wan, LTX): x = (1 - sigma) * x0 + sigma * noise,
  the network predicts the velocity, sigma in (0, 1] shifted toward noise by `shift`.
  `flux_shift` picks FLUX's exponential time shift over SD3's rational one.

Written from the published definitions (Karras et al. 2022 for the sigma view, Esser et al. 2024
for SD3's shift, Black Forest Labs' reference for FLUX's), not from ComfyUI's code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

Prediction = Literal["eps", "v", "flow", "lcm", "x0"]
# Latent consistency models (LCM, Luo et al. 2023): sigma_data and the timestep scaling of their
# boundary condition, and how many of the training timesteps they were distilled on.
LCM_SIGMA_DATA = 0.5
LCM_TIMESTEP_SCALING = 10.0
LCM_ORIGINAL_STEPS = 50
# Zero terminal SNR (Lin et al. 2023) makes the last sigma infinite; a tiny alpha-bar keeps it finite.
ZSNR_LAST_ALPHA_CUMPROD = 4.8973451890853435e-08


def discrete_sigmas(noise_schedule: dict[str, Any], *, zsnr: bool = False) -> torch.Tensor:
    """The model's sigma at each training timestep (ascending), from a diffusers-style noise schedule.

    `zsnr` rescales the schedule to zero terminal SNR (Lin et al. 2023, Algorithm 1), as ComfyUI's
    ModelSamplingDiscrete does for models trained that way (also when the schedule says so)."""
    steps = int(noise_schedule.get("num_train_timesteps", 1000))
    trained = noise_schedule.get("trained_betas")
    kind = noise_schedule.get("beta_schedule", "scaled_linear")
    start = float(noise_schedule.get("beta_start", 0.00085))
    end = float(noise_schedule.get("beta_end", 0.012))
    if trained is not None:
        betas = torch.tensor(trained, dtype=torch.float64)
    elif kind == "scaled_linear":
        betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
    elif kind == "linear":
        betas = torch.linspace(start, end, steps, dtype=torch.float64)
    else:
        raise ValueError(f"Noise schedule {kind!r} is not one this model sampling knows.")
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    if zsnr or noise_schedule.get("rescale_betas_zero_snr"):
        alphas_cumprod = _zero_terminal_snr(alphas_cumprod)
    return ((1.0 - alphas_cumprod) / alphas_cumprod).sqrt().float()


def _zero_terminal_snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Shift and scale sqrt(alpha-bar) so the last timestep is pure noise, the first unchanged."""
    root = alphas_cumprod.sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * first / (first - last)
    rescaled = root**2
    rescaled[-1] = ZSNR_LAST_ALPHA_CUMPROD
    return rescaled


def sd3_time_shift(shift: float, t: torch.Tensor) -> torch.Tensor:
    """SD3's resolution shift: t' = shift * t / (1 + (shift - 1) * t)."""
    if shift == 1.0:
        return t
    return shift * t / (1.0 + (shift - 1.0) * t)


def flux_time_shift(mu: float, t: torch.Tensor) -> torch.Tensor:
    """FLUX's exponential shift: t' = e^mu / (e^mu + 1/t - 1)."""
    return math.exp(mu) / (math.exp(mu) + (1.0 / t - 1.0))


@dataclass(frozen=True)
class ModelSampling:
    prediction: Prediction = "eps"
    # discrete models: sigma per training timestep, ascending (index = timestep)
    table: torch.Tensor | None = field(default=None, repr=False)
    # flow models: the time shift and the factor from sigma to the network's timestep
    shift: float = 1.0
    multiplier: float = 1000.0
    flux_shift: bool = False
    # flow models are tabulated at this many points for schedulers that walk the table (simple, ...)
    flow_points: int = 1000
    # discrete models: table entry i is training timestep i * stride + stride - 1 (LCM keeps every
    # 20th of 1000; everyone else all of them, stride 1)
    stride: int = 1
    # continuous EDM models (ModelSampling.edm): sigma_data; None for every other kind
    edm_sigma_data: float | None = None

    @classmethod
    def discrete(
        cls, noise_schedule: dict[str, Any], prediction: Prediction | None = None, *, zsnr: bool = False
    ) -> ModelSampling:
        types: dict[str, Prediction] = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}
        kind = prediction or types.get(str(noise_schedule.get("prediction_type", "epsilon")), "eps")
        table = discrete_sigmas(noise_schedule, zsnr=zsnr)
        if kind == "lcm":
            stride = len(table) // LCM_ORIGINAL_STEPS
            return cls(prediction=kind, table=table[stride - 1 :: stride].clone(), stride=stride)
        return cls(prediction=kind, table=table)

    @classmethod
    def edm(
        cls, *, sigma_min: float, sigma_max: float, sigma_data: float = 1.0, prediction: Prediction = "v"
    ) -> ModelSampling:
        """ComfyUI's ModelSamplingContinuousEDM: 1000 log-spaced sigmas stand for the continuum."""
        table = torch.linspace(math.log(sigma_min), math.log(sigma_max), 1000, dtype=torch.float64).exp()
        return cls(prediction=prediction, table=table.float(), edm_sigma_data=sigma_data)

    @classmethod
    def flow(cls, *, shift: float = 1.0, multiplier: float = 1000.0, flux: bool = False) -> ModelSampling:
        return cls(prediction="flow", shift=shift, multiplier=multiplier, flux_shift=flux)

    # --- the sigma grid ---------------------------------------------------------------------
    @property
    def sigmas(self) -> torch.Tensor:
        """Every sigma the model knows, ascending (flow models: tabulated)."""
        if self.table is not None:
            return self.table
        t = torch.arange(1, self.flow_points + 1, dtype=torch.float64) / self.flow_points
        return self._shifted(t).float()

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def _shifted(self, t: torch.Tensor) -> torch.Tensor:
        return flux_time_shift(self.shift, t) if self.flux_shift else sd3_time_shift(self.shift, t)

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The timestep the network is given at `sigma` (discrete: the nearest training timestep)."""
        if self.edm_sigma_data is not None:
            return 0.25 * sigma.float().log()
        if self.table is None:
            return sigma * self.multiplier
        log_sigmas = self.table.to(sigma.device).log()
        distance = (sigma.float().log().reshape(-1, 1) - log_sigmas.reshape(1, -1)).abs()
        index = distance.argmin(dim=1).reshape(sigma.shape).float()
        return index * self.stride + (self.stride - 1)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """The sigma of a (fractional) timestep: log-linear between training timesteps."""
        if self.edm_sigma_data is not None:
            return (timestep.float() / 0.25).exp()
        if self.table is None:
            return self._shifted(timestep / self.multiplier)
        log_sigmas = self.table.to(timestep.device).log()
        t = ((timestep.float() - (self.stride - 1)) / self.stride).clamp(0, len(log_sigmas) - 1)
        low = t.floor().long()
        high = (low + 1).clamp(max=len(log_sigmas) - 1)
        w = t - low
        return ((1 - w) * log_sigmas[low] + w * log_sigmas[high]).exp()

    def percent_to_sigma(self, percent: float) -> float:
        """The sigma a fraction of the way through sampling stands for (0: start, 1: end)."""
        if percent <= 0.0:
            return 1.0 if self.table is None else 999999999.9  # above every sigma the model has
        if percent >= 1.0:
            return 0.0
        if self.table is None:
            return float(self._shifted(torch.tensor(1.0 - percent, dtype=torch.float64)))
        if self.edm_sigma_data is not None:
            low, high = math.log(self.sigma_min), math.log(self.sigma_max)
            return math.exp(low + (1.0 - percent) * (high - low))
        last = len(self.table) * self.stride - 1  # the last training timestep
        return float(self.sigma(torch.tensor((1.0 - percent) * last)))

    # --- model output <-> denoised ----------------------------------------------------------
    def model_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """What the network is fed at `sigma` (discrete models take x scaled to unit variance)."""
        if self.prediction == "flow":
            return x
        data = self.edm_sigma_data if self.edm_sigma_data is not None else 1.0
        return x / _expand(sigma, x).pow(2).add(data * data).sqrt()

    def denoised(self, sigma: torch.Tensor, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The clean-latent prediction from the network's raw output."""
        s = _expand(sigma, x)
        if self.prediction == "v":
            d = self.edm_sigma_data if self.edm_sigma_data is not None else 1.0
            return x * d * d / (s * s + d * d) - output * s * d / (s * s + d * d).sqrt()
        if self.prediction == "x0":
            return output
        if self.prediction == "lcm":
            # The consistency model's boundary condition: c_skip * x + c_out * (eps's x0).
            t = _expand(self.timestep(torch.as_tensor(sigma, dtype=torch.float32)), x)
            scaled = t * LCM_TIMESTEP_SCALING
            c_skip = LCM_SIGMA_DATA**2 / (scaled**2 + LCM_SIGMA_DATA**2)
            c_out = scaled / (scaled**2 + LCM_SIGMA_DATA**2).sqrt()
            return c_out * (x - output * s) + c_skip * x
        return x - output * s  # eps, and flow's velocity (noise - x0)

    def noise_scaling(
        self, sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor, *, max_denoise: bool = False
    ) -> torch.Tensor:
        """`latent` noised to level `sigma` (max_denoise: the first step of a full txt2img run)."""
        s = _expand(sigma, noise)
        if self.prediction == "flow":
            return s * noise + (1.0 - s) * latent
        if max_denoise:
            return latent + noise * (s * s + 1.0).sqrt()
        return latent + noise * s

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """A sampler's final x as a LATENT (flow models' leftover noise is undone by 1 - sigma)."""
        if self.prediction == "flow":
            return latent / (1.0 - _expand(sigma, latent))
        return latent


def _expand(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    return sigma.reshape(sigma.shape + (1,) * (like.dim() - sigma.dim())) if sigma.dim() else sigma


def model_sampling_of(model: Any) -> ModelSampling:
    """A ModelHandle's ModelSampling: its own, or the discrete schedule of its scheduler_config."""
    own = getattr(model, "model_sampling", None)
    return own if own is not None else ModelSampling.discrete(model.scheduler_config)
