"""Every sampler function against the closed-form Gaussian denoiser (tests/support/analytic_denoiser.py).

Deterministic samplers (and the stochastic ones with their noise switched off) must converge to the
exact probability-flow ODE solution with their order: the error ratio when the step count doubles is
about 2^order. Orders are measured on a Karras schedule (sigma 14.6 to 0.03, eps model); the flow model
checks convergence on an SD3-shifted schedule.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from nodes.diffusion.samplers import COMFY_SAMPLERS
from nodes.sampling.names import IMPLEMENTED_SAMPLERS
from nodes.sampling.samplers import SAMPLER_FUNCTIONS, SamplerRun, sampler_function
from nodes.sampling.samplers.er_sde import er_sde_noise_scaler
from nodes.sampling.samplers.multistep import _AB, _variable_ab, lms_coefficients
from tests.support.analytic_denoiser import GaussianDenoiser, MixtureDenoiser, flow_sigmas, karras_sigmas

Z = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
MIXTURE_START = torch.linspace(-2.5, 2.5, 200, dtype=torch.float64)
QUIET = SamplerRun(seed=1, callback=lambda i, x, denoised: None)
NO_NOISE = {"eta": 0.0}

# name -> (options that make it an ODE solver, the order it must show at 32 -> 64 steps, at least)
ORDERS: dict[str, tuple[dict, float]] = {
    "euler": ({}, 0.9),
    "ddim": ({}, 0.9),
    "euler_ancestral": (NO_NOISE, 0.9),
    "heun": ({}, 1.9),
    # heunpp2's weights leave the second-order error term: a first-order method
    "heunpp2": ({}, 0.9),
    "dpm_2": ({}, 1.9),
    "dpm_2_ancestral": (NO_NOISE, 1.9),
    "lms": ({}, 3.3),
    "dpmpp_2s_ancestral": (NO_NOISE, 1.9),
    "dpmpp_sde": (NO_NOISE, 1.9),
    "dpmpp_2m": ({}, 1.9),
    "dpmpp_2m_sde": (NO_NOISE, 1.9),
    "dpmpp_2m_sde_heun": (NO_NOISE, 1.9),
    # DPM-Solver's published 3M weight on the second difference is half the Taylor one: order 2
    "dpmpp_3m_sde": (NO_NOISE, 1.6),
    "ipndm": ({}, 1.9),
    "deis": ({}, 2.6),
    "res_multistep": ({}, 1.9),
    "res_multistep_ancestral": (NO_NOISE, 1.9),
    "gradient_estimation": ({}, 0.75),
    "seeds_2": (NO_NOISE, 1.9),
    "seeds_3": (NO_NOISE, 2.6),
    "sa_solver": (NO_NOISE, 3.6),
    "sa_solver_pece": (NO_NOISE, 3.6),
    # one evaluation per step (corrector reused as the next predictor's history), lower order last
    "uni_pc": ({}, 2.2),
    "uni_pc_bh2": ({}, 1.7),
}


def _error(name: str, steps: int, *, flow: bool = False, **options: object) -> float:
    model = GaussianDenoiser(flow=flow)
    sigmas = flow_sigmas(steps + 1) if flow else karras_sigmas(steps + 1)
    x = model.marginal(Z, float(sigmas[0]))
    out = sampler_function(name)(model, x.clone(), sigmas, QUIET, **options)
    return float((out - model.ode_solution(x, float(sigmas[0]), float(sigmas[-1]))).abs().max())


def test_every_comfyui_sampler_has_a_function_and_is_listed() -> None:
    assert list(SAMPLER_FUNCTIONS) == list(COMFY_SAMPLERS)
    assert list(IMPLEMENTED_SAMPLERS) == list(SAMPLER_FUNCTIONS)
    with pytest.raises(ValueError, match="not implemented"):
        sampler_function("nope")


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_ode_samplers_converge_with_their_order(name: str) -> None:
    options, order = ORDERS[name]
    e16, e32, e64 = (_error(name, n, **options) for n in (16, 32, 64))
    assert e64 < e32 < e16
    assert math.log2(e32 / e64) >= order, (e16, e32, e64)
    assert e64 < 0.05


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_ode_samplers_converge_on_a_flow_model(name: str) -> None:
    options, order = ORDERS[name]
    e16, e64 = (_error(name, n, flow=True, **options) for n in (16, 64))
    # coarse flow steps are not yet asymptotic: ask for part of the 4^order gain, up to order 1.5
    assert e64 < e16 / (0.45 * 4 ** min(order, 1.5)) and e64 < 0.08, (e16, e64)


def test_ipndm_v_weights_are_variable_step_adams_bashforth() -> None:
    # uniform steps: iPNDM's fixed weights up to order 3; two steps: the exact variable-step AB2 weights
    for order in (1, 2, 3):
        assert _variable_ab([-0.3] * order) == pytest.approx(_AB[order])
    # the reference's fourth-order weights are not AB4's even on a uniform grid (oldest slope
    # -11/24, not -9/24); kept as ComfyUI runs them
    assert _variable_ab([-0.3] * 4)[3] == pytest.approx(-11 / 24)
    grid = [10.0, 7.0, 5.0, 3.6]
    exact = lms_coefficients(__import__("numpy").array(grid), 2, 2)
    h = grid[3] - grid[2]
    assert _variable_ab([grid[3] - grid[2], grid[2] - grid[1]]) == pytest.approx([c / h for c in exact])
    # convergent on the analytic model (its fourth-order weights sum to 1 only as the steps even out)
    assert _error("ipndm_v", 64) < 2e-3 and _error("ipndm_v", 64, flow=True) < 2e-3


def test_er_sde_in_its_ode_form_and_sa_solver_without_corrector_converge() -> None:
    # phi(l) = l turns ER-SDE's step into the probability-flow ODE's (SamplerER_SDE's "ODE")
    phi, s_noise = er_sde_noise_scaler("ODE")
    e32, e64 = (_error("er_sde", n, noise_scaler=phi, s_noise=s_noise) for n in (32, 64))
    assert math.log2(e32 / e64) >= 1.9 and e64 < 1e-3
    flow16, flow64 = (_error("er_sde", n, flow=True, noise_scaler=phi, s_noise=s_noise) for n in (16, 64))
    assert flow64 < flow16 / 3 and flow64 < 2e-3
    # SA-Solver's predictor alone (corrector_order 0) is third order
    e32, e64 = (_error("sa_solver", n, eta=0.0, corrector_order=0) for n in (32, 64))
    assert math.log2(e32 / e64) >= 2.8


def test_dpm_fast_converges_with_its_evaluation_budget() -> None:
    # budgets 3k + 2: third-order steps and a second-order last one; steps = budget // 3 + 1
    e14, e29, e59 = (_error("dpm_fast", n) for n in (14, 29, 59))
    assert e29 < e14 / 4 and e59 < e29 / 4, (e14, e29, e59)


def test_dpm_adaptive_meets_its_tolerance() -> None:
    loose = _error("dpm_adaptive", 10)
    tight = _error("dpm_adaptive", 10, rtol=1e-4, atol=1e-5)
    assert loose < 0.1 and tight < loose / 50
    # the schedule's length does not matter, only its ends
    assert _error("dpm_adaptive", 40) == pytest.approx(loose)


def test_a_sigma_zero_end_returns_the_models_x0_estimate() -> None:
    model = GaussianDenoiser()
    sigmas = torch.cat([karras_sigmas(40), torch.zeros(1, dtype=torch.float64)])
    x = model.marginal(Z, float(sigmas[0]))
    exact = model.ode_solution(x, float(sigmas[0]), 0.0)
    for name, (options, order) in ORDERS.items():
        out = sampler_function(name)(model, x.clone(), sigmas, QUIET, **options)
        assert float((out - exact).abs().max()) < (0.1 if order < 1 else 0.008), name


@pytest.mark.parametrize("name", list(COMFY_SAMPLERS))
def test_every_sampler_starts_from_pure_noise_on_a_flow_model(name: str) -> None:
    # flow sigma 1 has no signal (alpha 0, lambda -inf): no sampler may produce nan or inf there
    model = GaussianDenoiser(flow=True)
    sigmas = torch.cat([flow_sigmas(30, start=1.0, end=0.02), torch.zeros(1, dtype=torch.float64)])
    x = model.marginal(Z, 1.0)
    options = ORDERS.get(name, ({}, 0.0))[0]
    out = sampler_function(name)(model, x.clone(), sigmas, QUIET, **options)
    assert torch.isfinite(out).all()
    assert abs(float(out.mean()) - 0.5) < 0.06 and abs(float(out.std()) - 0.5) < 0.2
    if name in ORDERS and ORDERS[name][1] >= 1.9:
        assert float((out - model.ode_solution(x, 1.0, 0.0)).abs().max()) < 0.12


CFG_PP = {
    "euler_cfg_pp": "euler",
    "euler_ancestral_cfg_pp": "euler_ancestral",
    "dpmpp_2s_ancestral_cfg_pp": "dpmpp_2s_ancestral",
    "dpmpp_2m_cfg_pp": "dpmpp_2m",
    "res_multistep_cfg_pp": "res_multistep",
    "res_multistep_ancestral_cfg_pp": "res_multistep_ancestral",
    "gradient_estimation_cfg_pp": "gradient_estimation",
}


@pytest.mark.parametrize("name", sorted(CFG_PP))
@pytest.mark.parametrize("flow", [False, True])
def test_cfg_pp_equals_its_sampler_when_uncond_equals_cond(name: str, flow: bool) -> None:
    sigmas = flow_sigmas(13, start=1.0) if flow else karras_sigmas(12)
    sigmas = torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])
    outs = []
    for sampler in (name, CFG_PP[name]):
        model = GaussianDenoiser(flow=flow, uncond=(0.5, 0.25))
        x = model.marginal(Z, float(sigmas[0]))
        outs.append(sampler_function(sampler)(model, x, sigmas, SamplerRun(4, QUIET.callback)))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(CFG_PP))
def test_cfg_pp_renoises_along_the_unconditional_prediction(name: str) -> None:
    sigmas = torch.tensor([8.0, 2.0, 0.5], dtype=torch.float64)
    results = []
    for uncond in ((0.5, 0.25), (-1.0, 0.5)):
        model = GaussianDenoiser(uncond=uncond, cfg=1.0)
        x = model.marginal(Z, 8.0)
        results.append(sampler_function(name)(model, x, sigmas, SamplerRun(4, QUIET.callback)))
    # cfg 1: the guided x0 is the conditional one either way, so only the re-noising differs
    assert not torch.allclose(results[0], results[1])


def test_euler_cfg_pp_step_by_hand() -> None:
    model = GaussianDenoiser(uncond=(-1.0, 0.5), cfg=3.0)
    x = model.marginal(Z, 8.0)
    out = sampler_function("euler_cfg_pp")(
        model, x.clone(), torch.tensor([8.0, 2.0], dtype=torch.float64), QUIET
    )
    guided = model(x, torch.tensor(8.0, dtype=torch.float64))
    assert model.last_uncond is not None
    torch.testing.assert_close(out, guided + (x - model.last_uncond) / 8.0 * 2.0)


@pytest.mark.parametrize("name", list(COMFY_SAMPLERS))
def test_callback_once_per_step_and_a_raise_cancels(name: str) -> None:
    sigmas = torch.cat([karras_sigmas(6), torch.zeros(1, dtype=torch.float64)])
    seen: list[int] = []

    def record(i: int, x: torch.Tensor, denoised: torch.Tensor) -> None:
        assert x.shape == Z.shape and torch.isfinite(x).all() and torch.isfinite(denoised).all()
        seen.append(i)

    model = GaussianDenoiser()
    sampler_function(name)(model, model.marginal(Z, float(sigmas[0])), sigmas, SamplerRun(2, record))
    if name == "dpm_fast":
        assert seen == [0, 1, 2]  # its own steps: budget 6 // 3 + 1
    elif name == "dpm_adaptive":
        assert seen and seen == list(range(len(seen)))  # once per accepted step
    else:
        assert seen == list(range(6))
    calls = len(model.calls)

    class Cancelled(Exception):
        pass

    def cancel(i: int, x: torch.Tensor, denoised: torch.Tensor) -> None:
        raise Cancelled

    model = GaussianDenoiser()
    with pytest.raises(Cancelled):
        sampler_function(name)(model, model.marginal(Z, float(sigmas[0])), sigmas, SamplerRun(2, cancel))
    assert len(model.calls) < calls or calls <= 2


@pytest.mark.parametrize(
    ("name", "options", "field"),
    [
        ("lms", {"order": 0}, "order"),
        ("dpm_adaptive", {"order": 4}, "order"),
        ("ipndm", {"max_order": 5}, "max_order"),
        ("ipndm_v", {"max_order": 0}, "max_order"),
        ("deis", {"max_order": 5}, "max_order"),
        ("dpmpp_2m_sde", {"solver_type": "euler"}, "solver_type"),
        ("dpmpp_sde", {"noise_device": "tpu"}, "noise_device"),
        ("dpmpp_3m_sde", {"noise_device": "tpu"}, "noise_device"),
        ("seeds_2", {"solver_type": "phi_3"}, "solver_type"),
        ("er_sde", {"max_stage": 4}, "max_stage"),
        ("sa_solver", {"simple_order_2": True}, "simple_order_2"),
        ("sa_solver", {"predictor_order": 0}, "predictor_order"),
    ],
)
def test_bad_options_are_refused_naming_the_option(name: str, options: dict, field: str) -> None:
    model = GaussianDenoiser()
    sigmas = torch.cat([karras_sigmas(4), torch.zeros(1, dtype=torch.float64)])
    with pytest.raises(ValueError, match=field):
        sampler_function(name)(model, model.marginal(Z, float(sigmas[0])), sigmas, QUIET, **options)


@functools.cache
def _mixture_reference(flow: bool) -> tuple[torch.Tensor, torch.Tensor]:
    # every schedule here runs between the same two sigmas, so one reference serves all step counts
    model = MixtureDenoiser(flow=flow)
    sigmas = flow_sigmas(2) if flow else karras_sigmas(2)
    x = MIXTURE_START * model.std(float(sigmas[0]))
    return x, model.reference(x, float(sigmas[0]), float(sigmas[-1]))


@pytest.mark.parametrize("name", sorted(ORDERS))
@pytest.mark.parametrize("flow", [False, True], ids=["eps", "flow"])
def test_ode_samplers_converge_for_a_nonlinear_denoiser(name: str, flow: bool) -> None:
    # a two-component mixture: x0 | x is nonlinear; the reference is a 300-step RK4 of the same ODE
    options, order = ORDERS[name]
    x, exact = _mixture_reference(flow)
    errors = []
    for steps in (16, 64):
        sigmas = flow_sigmas(steps + 1) if flow else karras_sigmas(steps + 1)
        out = sampler_function(name)(MixtureDenoiser(flow=flow), x.clone(), sigmas, QUIET, **options)
        errors.append(float((out - exact).abs().max()))
    assert errors[1] < errors[0], errors
    if order >= 1.9:  # the first-order ones are still far from their limit at 64 steps
        assert errors[1] < errors[0] / 4 and errors[1] < 0.05, errors
