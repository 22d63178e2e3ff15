"""ComfyUI's custom-sampling nodes on a tiny random SD1.5: schedulers against the recorded sigmas and
published formulas, sigma edits, guiders, noise, SamplerCustom(Advanced) against KSampler."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch

from nodes.catalog import default_registry
from nodes.custom_sampling import ops, ops_sigmas
from nodes.custom_sampling.choices import SAMPLER_NODES
from nodes.graph import validate_graph
from nodes.sampling.denoiser import Denoiser
from nodes.sampling.model_sampling import model_sampling_of
from nodes.sampling.names import IMPLEMENTED_SAMPLERS
from nodes.sampling.schedules import schedule_sigmas
from tests.support import sampling
from tests.support.comfy_sigmas import comfy_sigmas, recording, relative_difference
from tests.support.graphs import TEXT_TO_IMAGE, TINY_CHECKPOINT
from tests.unit.test_latent_ops import CTX

pytestmark = pytest.mark.usefixtures("one_thread")

SEED = 8080
SHAPE = (2, 4, 6, 8)
RECORDED = recording("comparison_sd15_20steps")


def empty() -> dict[str, Any]:
    return {"samples": torch.zeros(SHAPE)}


def image() -> dict[str, Any]:
    return {"samples": torch.randn(SHAPE, generator=torch.Generator().manual_seed(6))}


(EULER,) = ops.ksampler_select(CTX, "euler")


def custom(checkpoint, prompts, sigmas, latent, *, cfg: float = 7.5, add_noise: bool = True, sampler=EULER):
    return ops.sampler_custom(
        CTX, checkpoint.model, add_noise, SEED, cfg, prompts[0], prompts[1], sampler, sigmas, latent
    )


# --- schedulers -----------------------------------------------------------------------------------


def test_karras_and_exponential_with_their_defaults_are_comfyuis_sd15_schedules() -> None:
    for node, name in (
        (ops_sigmas.karras_scheduler, "karras"),
        (ops_sigmas.exponential_scheduler, "exponential"),
    ):
        extra = {"rho": 7.0} if name == "karras" else {}
        (sigmas,) = node(CTX, steps=20, sigma_max=14.614642, sigma_min=0.0291675, **extra)
        assert len(sigmas) == RECORDED[name]["comfy_len"] and float(sigmas[-1]) == 0.0
        assert float(sigmas[0]) == pytest.approx(RECORDED[name]["comfy_first"], abs=1e-4)
        assert float(sigmas[-2]) == pytest.approx(RECORDED[name]["comfy_last_nonzero"], abs=1e-4)
        # The defaults are SD1.5's sigma range to 6 significant digits (0.0291675 for 0.02916716).
        assert relative_difference(sigmas.double().numpy(), comfy_sigmas(name, 20)) < 2e-5


def test_polyexponential_vp_and_laplace_follow_their_formulas() -> None:
    (poly,) = ops_sigmas.polyexponential_scheduler(CTX, steps=5, sigma_max=10.0, sigma_min=0.1, rho=1.0)
    (expo,) = ops_sigmas.exponential_scheduler(CTX, steps=5, sigma_max=10.0, sigma_min=0.1)
    torch.testing.assert_close(poly, expo)
    (poly2,) = ops_sigmas.polyexponential_scheduler(CTX, steps=3, sigma_max=10.0, sigma_min=0.1, rho=2.0)
    # log sigma = ramp^2 * (log 10 - log 0.1) + log 0.1 with ramp 1, 0.5, 0
    assert float(poly2[1]) == pytest.approx(math.exp(0.25 * math.log(100.0) + math.log(0.1)), rel=1e-6)
    (vp,) = ops_sigmas.vp_scheduler(CTX, steps=4, beta_d=19.9, beta_min=0.1, eps_s=0.001)
    assert float(vp[0]) == pytest.approx(math.sqrt(math.exp(19.9 / 2 + 0.1) - 1), rel=1e-6)
    assert float(vp[-2]) == pytest.approx(math.sqrt(math.exp(19.9 * 1e-6 / 2 + 1e-4) - 1), rel=1e-4)
    assert float(vp[-1]) == 0.0 and len(vp) == 5
    (lap,) = ops_sigmas.laplace_scheduler(CTX, steps=5, sigma_max=14.6, sigma_min=0.03, mu=0.0, beta=0.5)
    assert len(lap) == 5 and float(lap[0]) == pytest.approx(14.6) and float(lap[-1]) == pytest.approx(0.03)
    assert float(lap[2]) == pytest.approx(math.exp(-0.5 * 0.0 * math.log(1 + 1e-5)), rel=1e-6)  # x = 0.5
    with pytest.raises(ValueError, match="sigma_min"):
        ops_sigmas.exponential_scheduler(CTX, steps=5, sigma_max=10.0, sigma_min=0.0)


def test_basic_and_beta_schedulers_use_the_models_sigmas(checkpoint) -> None:
    ms = model_sampling_of(checkpoint.model)
    for scheduler in ("normal", "karras", "beta", "ddim_uniform"):
        (sigmas,) = ops_sigmas.basic_scheduler(CTX, checkpoint.model, scheduler, 20, 1.0)
        assert torch.equal(sigmas, schedule_sigmas(ms, scheduler, 20))
        assert float(sigmas[0]) == pytest.approx(RECORDED[scheduler]["comfy_first"], abs=1e-4)
    (half,) = ops_sigmas.basic_scheduler(CTX, checkpoint.model, "karras", 5, 0.5)
    assert torch.equal(half, schedule_sigmas(ms, "karras", 10)[-6:])
    (beta,) = ops_sigmas.beta_sampling_scheduler(CTX, checkpoint.model, 20, 0.6, 0.6)
    assert torch.equal(beta, schedule_sigmas(ms, "beta", 20))
    (other,) = ops_sigmas.beta_sampling_scheduler(CTX, checkpoint.model, 20, 0.3, 0.9)
    assert not torch.equal(other, beta) and len(other) <= 21


def test_sd_turbo_takes_every_100th_timestep_from_999(checkpoint) -> None:
    table = model_sampling_of(checkpoint.model).sigmas
    (one,) = ops_sigmas.sd_turbo_scheduler(CTX, checkpoint.model, 1, 1.0)
    assert one.tolist() == pytest.approx([float(table[999]), 0.0])
    (four,) = ops_sigmas.sd_turbo_scheduler(CTX, checkpoint.model, 4, 1.0)
    assert four.tolist() == pytest.approx([float(table[t]) for t in (999, 899, 799, 699)] + [0.0])
    (half,) = ops_sigmas.sd_turbo_scheduler(CTX, checkpoint.model, 2, 0.5)
    assert half.tolist() == pytest.approx([float(table[499]), float(table[399]), 0.0])


# --- sigma edits ----------------------------------------------------------------------------------


def test_split_flip_set_and_extend_sigmas() -> None:
    sigmas = torch.tensor([10.0, 5.0, 2.0, 1.0, 0.0])
    high, low = ops_sigmas.split_sigmas(CTX, sigmas, 2)
    assert high.tolist() == [10.0, 5.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    high, low = ops_sigmas.split_sigmas_denoise(CTX, sigmas, 0.25)
    assert high.tolist() == [10.0, 5.0, 2.0, 1.0] and low.tolist() == [1.0, 0.0]
    high, low = ops_sigmas.split_sigmas_denoise(CTX, sigmas, 0.0)  # ComfyUI slices high_sigmas empty here
    assert high.tolist() == [] and low.tolist() == [0.0]
    (flipped,) = ops_sigmas.flip_sigmas(CTX, sigmas)
    assert flipped.tolist() == pytest.approx([0.0001, 1.0, 2.0, 5.0, 10.0])
    (first,) = ops_sigmas.set_first_sigma(CTX, sigmas, 136.0)
    assert first.tolist() == [136.0, 5.0, 2.0, 1.0, 0.0] and sigmas[0] == 10.0
    (extended,) = ops_sigmas.extend_intermediate_sigmas(CTX, sigmas, 2, -1.0, 4.0, "linear")
    assert extended.tolist() == [10.0, 7.5, 5.0, 3.5, 2.0, 1.0, 0.0]
    # Steps from sigmas up to 9: 10 is above it; the others get one sigma sin(pi/4) of the way on.
    (cosine,) = ops_sigmas.extend_intermediate_sigmas(CTX, sigmas, 2, 9.0, 0.0, "cosine")
    HALF = math.sin(math.pi / 4)
    assert cosine.tolist() == pytest.approx(
        [10.0, 5.0, 5.0 - 3.0 * HALF, 2.0, 2.0 - HALF, 1.0, 1.0 - HALF, 0.0]
    )


# --- SamplerCustom against KSampler ------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["normal", "karras"])
def test_sampler_custom_is_ksampler_for_the_same_settings(checkpoint, prompts, scheduler) -> None:
    (sigmas,) = ops_sigmas.basic_scheduler(CTX, checkpoint.model, scheduler, 4, 1.0)
    out, denoised = custom(checkpoint, prompts, sigmas, empty())
    expected = sampling.ksampler(
        checkpoint, prompts, empty(), seed=SEED, steps=4, cfg=7.5, sampler_name="euler", scheduler=scheduler
    )
    assert torch.equal(out["samples"], expected)
    # Euler's last step to sigma 0 lands on the prediction: the two outputs agree.
    torch.testing.assert_close(denoised["samples"], out["samples"], rtol=1e-5, atol=1e-5)
    # denoise 0.5 on an image: the tail of a longer schedule, as KSampler's denoise.
    (tail,) = ops_sigmas.basic_scheduler(CTX, checkpoint.model, scheduler, 3, 0.5)
    img2img = sampling.ksampler(
        checkpoint, prompts, image(), seed=SEED, steps=3, cfg=7.5, sampler_name="euler", scheduler=scheduler,
        denoise=0.5,
    )  # fmt: skip
    assert torch.equal(custom(checkpoint, prompts, tail, image())[0]["samples"], img2img)


def test_sampler_custom_advanced_with_random_noise_and_cfg_guider_is_sampler_custom(checkpoint, prompts):
    (sigmas,) = ops_sigmas.basic_scheduler(CTX, checkpoint.model, "simple", 3, 1.0)
    (noise,) = ops.random_noise(CTX, SEED)
    (guider,) = ops.cfg_guider(CTX, checkpoint.model, prompts[0], prompts[1], 7.5)
    out, denoised = ops.sampler_custom_advanced(CTX, noise, guider, EULER, sigmas, empty())
    ref_out, ref_denoised = custom(checkpoint, prompts, sigmas, empty())
    assert torch.equal(out["samples"], ref_out["samples"])
    assert torch.equal(denoised["samples"], ref_denoised["samples"])


def test_leftover_noise_and_the_denoised_output(checkpoint, prompts) -> None:
    (sigmas,) = ops_sigmas.basic_scheduler(CTX, checkpoint.model, "normal", 4, 1.0)
    high, low = ops_sigmas.split_sigmas(CTX, sigmas, 2)
    first, first_x0 = custom(checkpoint, prompts, high, empty())
    # Stopped at sigma_2 with leftover noise; the denoised output is that step's prediction.
    assert not torch.allclose(first["samples"], first_x0["samples"], atol=1e-2)
    # Euler's last step ends on the line from x_1 through the prediction, at sigma_2 / sigma_1 of it.
    # The second half without new noise finishes the same run (ComfyUI's split pattern).
    (rest, _) = custom(checkpoint, prompts, low, first, add_noise=False)
    whole, _ = custom(checkpoint, prompts, sigmas, empty())
    torch.testing.assert_close(rest["samples"], whole["samples"], rtol=1e-4, atol=1e-4)
    # One sigma runs no step: the latent comes back noised to it, and the denoised output is the same.
    (single,) = ops_sigmas.split_sigmas(CTX, sigmas, 0)[:1]
    noised, same = custom(checkpoint, prompts, single, image())
    assert same is noised
    expected = image()["samples"] + ops.Noise(SEED).generate(image()) * math.sqrt(1 + float(sigmas[0]) ** 2)
    torch.testing.assert_close(noised["samples"], expected)


def test_disable_noise_starts_from_the_latent_itself(checkpoint, prompts) -> None:
    (sigmas,) = ops_sigmas.basic_scheduler(CTX, checkpoint.model, "normal", 4, 1.0)
    _, low = ops_sigmas.split_sigmas(CTX, sigmas, 2)
    (off,) = ops.disable_noise(CTX)
    (guider,) = ops.cfg_guider(CTX, checkpoint.model, prompts[0], prompts[1], 7.5)
    latent = image()
    out, _ = ops.sampler_custom_advanced(CTX, off, guider, EULER, low, latent)
    ref, _ = custom(checkpoint, prompts, low, latent, add_noise=False)
    assert torch.equal(out["samples"], ref["samples"])
    assert torch.equal(off.generate(latent), torch.zeros(SHAPE))


# --- guiders -----------------------------------------------------------------------------------------


def test_cfg_guider_at_cfg_1_is_the_basic_guider(checkpoint, prompts) -> None:
    (sigmas,) = ops_sigmas.basic_scheduler(CTX, checkpoint.model, "karras", 3, 1.0)
    (noise,) = ops.random_noise(CTX, SEED)
    (basic,) = ops.basic_guider(CTX, checkpoint.model, prompts[0])
    (cfg1,) = ops.cfg_guider(CTX, checkpoint.model, prompts[0], prompts[1], 1.0)
    a, _ = ops.sampler_custom_advanced(CTX, noise, basic, EULER, sigmas, empty())
    b, _ = ops.sampler_custom_advanced(CTX, noise, cfg1, EULER, sigmas, empty())
    assert torch.equal(a["samples"], b["samples"])
    (cfg3,) = ops.cfg_guider(CTX, checkpoint.model, prompts[0], prompts[1], 3.0)
    guided, _ = ops.sampler_custom_advanced(CTX, noise, cfg3, EULER, sigmas, empty())
    assert not torch.allclose(guided["samples"], a["samples"])


@pytest.mark.parametrize("style", ["regular", "nested"])
@torch.inference_mode()
def test_dual_cfg_guider_combines_three_predictions(checkpoint, prompts, style) -> None:
    from nodes.diffusion import ops as diffusion

    (middle,) = diffusion.clip_text_encode(CTX, "a drawing of a dog", checkpoint.clip)
    positive, negative = prompts
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(9)) * 3.0
    sigma = torch.tensor(3.0)

    def x0(cond) -> torch.Tensor:
        (guider,) = ops.basic_guider(CTX, checkpoint.model, cond)
        return Denoiser(guider, torch.zeros(SHAPE), "cpu")(x, sigma)

    p, m, n = x0(positive), x0(middle), x0(negative)
    (dual,) = ops.dual_cfg_guider(CTX, checkpoint.model, positive, middle, negative, 4.0, 2.0, style)
    got = Denoiser(dual, torch.zeros(SHAPE), "cpu")(x, sigma)
    if style == "regular":
        expected = n + 2.0 * (m - n) + 4.0 * (p - m)
    else:
        expected = n + 2.0 * (m + 4.0 * (p - m) - n)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    # Both scales 1: the positive prediction alone (one network pass).
    (plain,) = ops.dual_cfg_guider(CTX, checkpoint.model, positive, middle, negative, 1.0, 1.0, "regular")
    assert plain.needed() == ("positive",)
    torch.testing.assert_close(Denoiser(plain, torch.zeros(SHAPE), "cpu")(x, sigma), p)


# --- samplers that are not implemented yet ---------------------------------------------------------


def _sampler_inputs(class_type: str) -> dict[str, Any]:
    spec = default_registry().get(class_type)
    assert spec is not None
    return {i.name: (i.choices[0] if i.choices else i.default) for i in spec.inputs if i.type != "MODEL"}


@pytest.mark.parametrize("class_type", sorted(SAMPLER_NODES))
def test_a_sampler_node_configures_its_sampler_or_says_it_is_not_implemented(checkpoint, class_type) -> None:
    from nodes.custom_sampling.choices import configured_sampler

    inputs = _sampler_inputs(class_type)
    inputs = {k: (False if v is None else v) for k, v in inputs.items()}
    spec = default_registry().get(class_type)
    assert spec is not None
    fn = getattr(ops, spec.impl.split(":")[1])
    kwargs = {"model": checkpoint.model} if class_type == "SamplerSASolver" else {}
    name = configured_sampler(class_type, inputs)
    if name in IMPLEMENTED_SAMPLERS:
        (choice,) = fn(CTX, **kwargs, **inputs)
        assert choice.name == name
    else:
        with pytest.raises(ValueError, match=f"{name}.*not implemented"):
            fn(CTX, **kwargs, **inputs)
    # The graph validator says the same before anything runs.
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    graph["20"] = {"class_type": class_type, "inputs": {**inputs, **({"model": ["4", 0]} if kwargs else {})}}
    schedule = {"model": ["4", 0], "scheduler": "normal", "steps": 4, "denoise": 1.0}
    graph["21"] = {"class_type": "BasicScheduler", "inputs": schedule}
    links = {"sampler": ["20", 0], "sigmas": ["21", 0], "latent_image": ["5", 0], "model": ["4", 0]}
    conds = {"positive": ["6", 0], "negative": ["7", 0], "add_noise": True, "noise_seed": 1, "cfg": 7.0}
    graph["3"] = {"class_type": "SamplerCustom", "inputs": {**links, **conds}}
    issues = validate_graph(graph, default_registry(), dynamic_choices={"checkpoints": [TINY_CHECKPOINT]})
    if name in IMPLEMENTED_SAMPLERS:
        assert issues == []
    else:
        (issue,) = issues
        assert (issue.node_id, issue.type) == ("20", "unsupported_sampler") and name in issue.message


def test_ksampler_select_refuses_an_unimplemented_name() -> None:
    missing = [name for name in ("uni_pc", "lcm", "heun") if name not in IMPLEMENTED_SAMPLERS]
    if not missing:
        pytest.skip("all implemented")
    with pytest.raises(ValueError, match="implemented samplers: euler"):
        ops.ksampler_select(CTX, missing[0])


def test_sampling_percent_to_sigma(checkpoint) -> None:
    from nodes.custom_sampling import ops_model

    ms = model_sampling_of(checkpoint.model)
    (half,) = ops_sigmas.sampling_percent_to_sigma(CTX, checkpoint.model, 0.5, False)
    assert half == pytest.approx(float(ms.sigma(torch.tensor(499.5))))
    assert ops_sigmas.sampling_percent_to_sigma(CTX, checkpoint.model, 0.0, False) == (999999999.9,)
    assert ops_sigmas.sampling_percent_to_sigma(CTX, checkpoint.model, 0.0, True) == (ms.sigma_max,)
    assert ops_sigmas.sampling_percent_to_sigma(CTX, checkpoint.model, 1.0, False) == (0.0,)
    assert ops_sigmas.sampling_percent_to_sigma(CTX, checkpoint.model, 1.0, True) == (ms.sigma_min,)
    (flow,) = ops_model.model_sampling_sd3(CTX, checkpoint.model, 3.0)
    assert ops_sigmas.sampling_percent_to_sigma(CTX, flow, 0.0, False) == (1.0,)
    (quarter,) = ops_sigmas.sampling_percent_to_sigma(CTX, flow, 0.25, False)
    assert quarter == pytest.approx(3.0 * 0.75 / (1 + 2.0 * 0.75))


def test_add_noise_noises_by_the_span_of_the_sigmas(checkpoint) -> None:
    latent = image()
    (noise,) = ops.random_noise(CTX, SEED)
    sigmas = torch.tensor([5.0, 2.0, 0.5])
    (out,) = ops.add_noise(CTX, checkpoint.model, noise, sigmas, latent)
    torch.testing.assert_close(out["samples"], latent["samples"] + noise.generate(latent) * 4.5)
    (single,) = ops.add_noise(CTX, checkpoint.model, noise, torch.tensor([3.0]), latent)
    torch.testing.assert_close(single["samples"], latent["samples"] + noise.generate(latent) * 3.0)
    assert ops.add_noise(CTX, checkpoint.model, noise, torch.zeros(0), latent) == (latent,)
