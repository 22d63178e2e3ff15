"""ComfyUI's schedulers on the sampling core reproduce its recorded SD1.5 sigmas; flow models too;
every sampler name either runs or is refused with the list of those that do."""

from __future__ import annotations

import copy
from typing import Any

import diffusers
import numpy as np
import pytest
import torch

from nodes.catalog import default_registry
from nodes.diffusion.samplers import COMFY_SAMPLERS, COMFY_SCHEDULERS, sampler_problem
from nodes.graph import validate_graph
from nodes.sampling.model_sampling import ModelSampling
from nodes.sampling.names import IMPLEMENTED_SAMPLERS
from nodes.sampling.schedules import SCHEDULES, denoise_sigmas, schedule_sigmas
from tests.support.comfy_sigmas import SD15_NOISE_SCHEDULE, comfy_sigmas, recording, relative_difference
from tests.support.graphs import TEXT_TO_IMAGE, TINY_CHECKPOINT

REFERENCE_SCHEDULERS = ("normal", "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform")
# The recordings' columns: diffusers EulerDiscreteScheduler settings.
RECORDED_SPACINGS: dict[str, dict[str, Any]] = {
    "linspace": {"timestep_spacing": "linspace"},
    "leading+offset1": {"timestep_spacing": "leading", "steps_offset": 1},
    "trailing": {"timestep_spacing": "trailing"},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
}
SD15 = ModelSampling.discrete(SD15_NOISE_SCHEDULE)
UNIMPLEMENTED = [name for name in COMFY_SAMPLERS if name not in IMPLEMENTED_SAMPLERS]


def _euler_sigmas(config: dict, steps: int) -> np.ndarray:
    sched = diffusers.EulerDiscreteScheduler.from_config({**SD15_NOISE_SCHEDULE, **config})
    sched.set_timesteps(steps)
    return sched.sigmas.double().numpy()


def _ours(scheduler: str, steps: int) -> np.ndarray:
    return schedule_sigmas(SD15, scheduler, steps).double().numpy()


@pytest.mark.parametrize("scheduler", REFERENCE_SCHEDULERS)
def test_the_reference_schedules_reproduce_comfyuis_recording(scheduler) -> None:
    recorded = recording("comparison_sd15_20steps")[scheduler]
    reference = comfy_sigmas(scheduler, 20)
    assert len(reference) == recorded["comfy_len"]
    assert reference[0] == pytest.approx(recorded["comfy_first"], abs=1e-4)
    assert reference[-2] == pytest.approx(recorded["comfy_last_nonzero"], abs=1e-4)
    for column, config in RECORDED_SPACINGS.items():
        if column in recorded:
            measured = relative_difference(_euler_sigmas(config, 20), reference)
            assert measured == pytest.approx(recorded[column], abs=1e-4), column


@pytest.mark.parametrize("steps", [1, 4, 20, 33])
@pytest.mark.parametrize("scheduler", REFERENCE_SCHEDULERS)
def test_each_schedule_equals_the_reference_to_float_precision(scheduler, steps) -> None:
    ours = _ours(scheduler, steps)
    assert ours[-1] == 0.0 and np.all(np.diff(ours) < 0)
    assert relative_difference(ours, comfy_sigmas(scheduler, steps)) <= 2e-6


@pytest.mark.parametrize("scheduler", COMFY_SCHEDULERS)
def test_each_schedule_matches_the_recording_itself(scheduler) -> None:
    # Length, end points and the distance from every diffusers spacing ComfyUI was compared with.
    recorded = recording("comparison_sd15_20steps")[scheduler]
    ours = _ours(scheduler, 20)
    assert len(ours) == recorded["comfy_len"] and ours[-1] == 0.0
    assert ours[0] == pytest.approx(recorded["comfy_first"], abs=1e-4)
    assert ours[-2] == pytest.approx(recorded["comfy_last_nonzero"], abs=1e-4)
    for column, config in RECORDED_SPACINGS.items():
        if column in recorded:
            measured = relative_difference(_euler_sigmas(config, 20), ours)
            assert measured == pytest.approx(recorded[column], abs=1e-4), column


def test_the_scheduler_names_are_comfyuis() -> None:
    assert tuple(SCHEDULES) == COMFY_SCHEDULERS
    with pytest.raises(ValueError, match="scheduler 'cosine'"):
        schedule_sigmas(SD15, "cosine", 4)


def test_denoise_takes_the_tail_of_a_longer_schedule() -> None:
    full = schedule_sigmas(SD15, "karras", 10)
    assert torch.equal(denoise_sigmas(SD15, "karras", 5, 0.5), full[-6:])
    assert torch.equal(denoise_sigmas(SD15, "karras", 5, 1.0), schedule_sigmas(SD15, "karras", 5))
    assert len(denoise_sigmas(SD15, "karras", 5, 0.0)) == 0


@pytest.mark.parametrize("flux", [False, True])
@pytest.mark.parametrize("scheduler", COMFY_SCHEDULERS)
def test_flow_models_schedule_from_one_to_zero(scheduler, flux) -> None:
    ms = ModelSampling.flow(shift=1.15 if flux else 3.0, flux=flux)
    assert ms.sigma_max == pytest.approx(1.0)
    sigmas = schedule_sigmas(ms, scheduler, 8)
    assert sigmas[-1] == 0.0 and (sigmas[:-1] > 0).all()  # one zero, at the end
    assert bool((sigmas[1:] < sigmas[:-1]).all())
    assert float(sigmas[0]) <= 1.0 + 1e-6
    if scheduler != "ddim_uniform":  # its definition starts one stride below the top
        assert float(sigmas[0]) == pytest.approx(1.0, abs=1e-6)


def test_normal_on_a_flow_model_follows_the_shifted_timesteps() -> None:
    ms = ModelSampling.flow(shift=3.0)
    sigmas = schedule_sigmas(ms, "normal", 4)
    # Timesteps evenly from sigma_max * 1000 to sigma_min * 1000, each through SD3's shift.
    t = np.linspace(1000.0, ms.sigma_min * 1000.0, 4) / 1000.0
    expected = [*(3.0 * t / (1.0 + 2.0 * t)), 0.0]
    assert np.allclose(sigmas.double().numpy(), expected, rtol=1e-6)


def test_normal_ends_on_a_zero_sigma_without_a_second_zero() -> None:
    # A model whose smallest sigma is (about) 0 gets steps + 1 timesteps and no zero appended.
    ms = ModelSampling.flow(shift=1.0)
    fine = ModelSampling(prediction="flow", flow_points=1_000_000)
    assert len(schedule_sigmas(ms, "normal", 4)) == 5 and float(schedule_sigmas(ms, "normal", 4)[-2]) > 0
    sigmas = schedule_sigmas(fine, "normal", 4)
    assert len(sigmas) == 5 and float(sigmas[-1]) == pytest.approx(1e-6, abs=1e-7)
    assert int((sigmas == 0).sum()) == 0


def test_implemented_samplers_run_and_the_others_say_which_do() -> None:
    for name in IMPLEMENTED_SAMPLERS:
        assert sampler_problem(name) is None
    for name in UNIMPLEMENTED:
        problem = sampler_problem(name)
        assert problem is not None and name in problem and "implemented samplers: euler" in problem


def _issues(sampler: str, scheduler: str) -> list:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    graph["3"]["inputs"].update(sampler_name=sampler, scheduler=scheduler)
    choices = {"checkpoints": [TINY_CHECKPOINT], "files": []}
    return validate_graph(graph, default_registry(), dynamic_choices=choices)


@pytest.mark.parametrize("sampler", IMPLEMENTED_SAMPLERS)
def test_graph_validation_accepts_an_implemented_sampler_with_every_scheduler(sampler) -> None:
    for scheduler in COMFY_SCHEDULERS:
        assert _issues(sampler, scheduler) == []


@pytest.mark.parametrize("sampler", UNIMPLEMENTED[:3] or [pytest.param("-", marks=pytest.mark.skip)])
def test_graph_validation_rejects_an_unimplemented_sampler_with_the_list(sampler) -> None:
    (issue,) = _issues(sampler, "karras")
    assert (issue.node_id, issue.type, issue.input) == ("3", "unsupported_sampler", "sampler_name")
    assert sampler in issue.message and "implemented samplers: euler" in issue.message
