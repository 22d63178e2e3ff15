"""The stochastic samplers against the closed-form Gaussian denoiser: started from the noised data,
they must end (over many elements and seeds) with the data's mean and spread, on eps and flow models,
and give the same numbers again for the same seed. Also the noise samplers themselves."""

from __future__ import annotations

import pytest
import torch

from nodes.sampling.noise import BrownianTreeNoiseSampler, brownian_noise_sampler, gaussian_noise_sampler
from nodes.sampling.samplers import SamplerRun, sampler_function
from nodes.sampling.samplers.er_sde import er_sde_noise_scaler
from tests.support.analytic_denoiser import GaussianDenoiser, flow_sigmas, karras_sigmas

ZERO = torch.zeros(1, dtype=torch.float64)
STOCHASTIC = (
    "euler_ancestral", "euler_ancestral_cfg_pp", "dpm_2_ancestral", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm",
    "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp", "er_sde", "seeds_2", "seeds_3",
    "sa_solver", "sa_solver_pece",
)  # fmt: skip
# dpmpp_sde's two noise draws per step overlap, so it needs the Brownian tree's correlation; the
# multistep SDE samplers draw over disjoint intervals, where Gaussian noise has the same law (faster)
NEEDS_TREE = {"dpmpp_sde", "dpmpp_sde_gpu"}
QUIET = SamplerRun(seed=3, callback=lambda i, x, denoised: None)


def _schedule(steps: int, flow: bool) -> torch.Tensor:
    return torch.cat([flow_sigmas(steps, start=1.0, end=0.02) if flow else karras_sigmas(steps), ZERO])


def _sample(name: str, flow: bool, steps: int, n: int, seed: int = 3, **options: object) -> torch.Tensor:
    model = GaussianDenoiser(flow=flow)
    sigmas = _schedule(steps, flow)
    z = torch.randn(n, generator=torch.Generator().manual_seed(seed + 100), dtype=torch.float64)
    x = model.marginal(z, float(sigmas[0]))
    if name not in NEEDS_TREE and "noise_sampler" not in options and name.startswith("dpmpp_"):
        options["noise_sampler"] = gaussian_noise_sampler(x, seed)
    return sampler_function(name)(model, x, sigmas, SamplerRun(seed, QUIET.callback), **options)


@pytest.mark.parametrize("flow", [False, True], ids=["eps", "flow"])
@pytest.mark.parametrize("name", [name for name in STOCHASTIC if not name.endswith("_gpu")])
def test_stochastic_samplers_end_with_the_data_distribution(name: str, flow: bool) -> None:
    n = 2000 if name in NEEDS_TREE else 8000
    out = _sample(name, flow, 150, n)
    # data N(0.5, 0.5^2); statistical error ~0.006 (std) and ~0.011 (mean) at n = 2000
    assert abs(float(out.mean()) - 0.5) < 0.03
    assert abs(float(out.std()) - 0.5) < 0.03, float(out.std())


ER_SDE_CHOICES = [("Reverse-time SDE", 1.0), ("Reverse-time SDE", 0.5), ("ODE", 0.0)]


@pytest.mark.parametrize(("solver_type", "eta"), ER_SDE_CHOICES)
def test_er_sde_noise_scale_choices_end_with_the_data_distribution(solver_type: str, eta: float) -> None:
    phi, s_noise = er_sde_noise_scaler(solver_type, eta)
    for flow in (False, True):
        out = _sample("er_sde", flow, 150, 8000, noise_scaler=phi, s_noise=s_noise)
        assert abs(float(out.mean()) - 0.5) < 0.03 and abs(float(out.std()) - 0.5) < 0.03
    with pytest.raises(ValueError, match="solver_type"):
        er_sde_noise_scaler("SDE")


@pytest.mark.parametrize("name", [*STOCHASTIC, "lcm"])
def test_stochastic_samplers_repeat_for_a_seed(name: str) -> None:
    first, again, other = (_sample(name, False, 8, 64, seed=s) for s in (5, 5, 6))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("name", ["euler", "heun", "dpm_2", "heunpp2"])
def test_churn_adds_seeded_noise(name: str) -> None:
    churned = [_sample(name, False, 8, 64, seed=s, s_churn=2.0) for s in (5, 5, 6)]
    plain = _sample(name, False, 8, 64, seed=5)
    torch.testing.assert_close(churned[0], churned[1], rtol=0, atol=0)
    assert not torch.allclose(churned[0], churned[2]) and not torch.allclose(churned[0], plain)


@pytest.mark.parametrize("flow", [False, True], ids=["eps", "flow"])
def test_lcm_follows_its_closed_form_variance(flow: bool) -> None:
    # x0 = E[x0 | x] shrinks the spread; re-noising to the next sigma adds it back: track it exactly
    model = GaussianDenoiser(flow=flow)
    sigmas = _schedule(8, flow)
    out = _sample("lcm", flow, 8, 20000)
    var = model.std(float(sigmas[0])) ** 2
    for i in range(len(sigmas) - 1):
        s = float(sigmas[i])
        a = 1 - s if flow else 1.0
        var *= (a * model.var / (a * a * model.var + s * s)) ** 2
        s_next = float(sigmas[i + 1])
        if s_next > 0:
            var = ((1 - s_next) ** 2 if flow else 1.0) * var + s_next**2
    assert abs(float(out.mean()) - 0.5) < 0.02
    assert float(out.var()) == pytest.approx(var, rel=0.05)


def test_brownian_increments_add_up_and_have_unit_variance() -> None:
    x = torch.zeros(20000, dtype=torch.float64)
    tree = BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=7)
    a, b, c = torch.tensor(9.0), torch.tensor(4.0), torch.tensor(1.0)
    whole = tree(a, c) * (a - c).sqrt()
    parts = tree(a, b) * (a - b).sqrt() + tree(b, c) * (b - c).sqrt()
    torch.testing.assert_close(whole, parts, rtol=1e-6, atol=1e-6)
    for noise in (tree(a, b), tree(b, c), tree(a, c)):
        assert abs(float(noise.std()) - 1.0) < 0.03 and abs(float(noise.mean())) < 0.03
    # disjoint intervals are independent; the same query gives the same draw; another seed another
    assert abs(float(torch.corrcoef(torch.stack([tree(a, b), tree(b, c)]))[0, 1])) < 0.03
    torch.testing.assert_close(tree(a, b), BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=7)(a, b))
    assert not torch.allclose(tree(a, b), BrownianTreeNoiseSampler(x, 0.03, 14.6, seed=8)(a, b))


def test_brownian_sampler_spans_the_schedule_and_gpu_names_differ_only_in_device() -> None:
    x = torch.zeros(16, dtype=torch.float32)
    sigmas = torch.tensor([14.6, 3.0, 0.5, 0.0])
    on_cpu, on_device = brownian_noise_sampler(x, sigmas, 1), brownian_noise_sampler(x, sigmas, 1, cpu=False)
    # here the latent lives on the CPU, so both trees do and draw alike
    torch.testing.assert_close(on_cpu(sigmas[0], sigmas[1]), on_device(sigmas[0], sigmas[1]))
    assert on_cpu(sigmas[1], sigmas[2]).dtype == torch.float32
    for cpu_name in ("dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde"):
        model = GaussianDenoiser()
        start = model.marginal(torch.linspace(-2, 2, 32, dtype=torch.float64), 14.6)
        outs = [
            sampler_function(name)(GaussianDenoiser(), start.clone(), karras_sigmas(6), QUIET)
            for name in (cpu_name, cpu_name + "_gpu")
        ]
        torch.testing.assert_close(outs[0], outs[1])


def test_gaussian_noise_sampler_is_seeded_and_device_independent() -> None:
    x = torch.zeros(8, dtype=torch.float16)
    first, again = gaussian_noise_sampler(x, 4), gaussian_noise_sampler(x, 4)
    s = torch.tensor(1.0)
    draw = first(s, s)
    assert draw.dtype == torch.float16
    torch.testing.assert_close(draw, again(s, s))
    assert not torch.allclose(draw, first(s, s))
