"""Every supported sampler/scheduler pair steps along ComfyUI's sigmas; every other name says why not."""

from __future__ import annotations

import copy
from typing import Any

import diffusers
import numpy as np
import pytest
import torch

from nodes.catalog import default_registry
from nodes.diffusion.custom_schedules import CUSTOM_SCHEDULES
from nodes.diffusion.samplers import (
    COMFY_SAMPLERS,
    COMFY_SCHEDULERS,
    CUSTOM_SIGMA_SCHEDULERS,
    SAMPLERS,
    SCHEDULERS,
    UNSUPPORTED_PAIRS,
    UNSUPPORTED_SAMPLERS,
    UNSUPPORTED_SCHEDULERS,
    sampler_problem,
)
from nodes.diffusion.scheduling import build_scheduler
from nodes.graph import validate_graph
from tests.support.comfy_sigmas import (
    SD15_NOISE_SCHEDULE,
    comfy_sigmas,
    model_sigmas,
    recording,
    relative_difference,
)
from tests.support.graphs import TEXT_TO_IMAGE, TINY_CHECKPOINT

REFERENCE_SCHEDULERS = ("normal", "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform")
# The recordings' columns: diffusers EulerDiscreteScheduler settings.
RECORDED_SPACINGS: dict[str, dict[str, Any]] = {
    "linspace": {"timestep_spacing": "linspace"},
    "leading+offset1": {"timestep_spacing": "leading", "steps_offset": 1},
    "trailing": {"timestep_spacing": "trailing"},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
}
# sgm_uniform's end point falls between ComfyUI's and diffusers' trailing grid; the rest match.
TOLERANCE = {"sgm_uniform": 0.011}
NEW_SAMPLERS = ("ddim", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun")
SUPPORTED_PAIRS = [
    (sampler, scheduler)
    for sampler in SAMPLERS
    for scheduler in SCHEDULERS
    if (sampler, scheduler) not in UNSUPPORTED_PAIRS
]


def _euler_sigmas(config: dict, steps: int) -> np.ndarray:
    sched = diffusers.EulerDiscreteScheduler.from_config({**SD15_NOISE_SCHEDULE, **config})
    sched.set_timesteps(steps)
    return sched.sigmas.double().numpy()


@pytest.mark.parametrize("scheduler", REFERENCE_SCHEDULERS)
def test_the_reference_schedules_reproduce_comfyuis_recording(scheduler) -> None:
    recorded = recording("comparison_sd15_20steps")[scheduler]
    reference = comfy_sigmas(scheduler, 20)
    assert len(reference) == recorded["comfy_len"]
    assert reference[0] == pytest.approx(recorded["comfy_first"], abs=1e-4)
    assert reference[-2] == pytest.approx(recorded["comfy_last_nonzero"], abs=1e-4)
    for column, config in RECORDED_SPACINGS.items():
        measured = relative_difference(_euler_sigmas(config, 20), reference)
        assert measured == pytest.approx(recorded[column], abs=1e-4), column


@pytest.mark.parametrize("steps", [4, 20])
@pytest.mark.parametrize(("sampler", "scheduler"), SUPPORTED_PAIRS)
def test_a_supported_pair_steps_along_comfyuis_sigmas(sampler, scheduler, steps) -> None:
    sched = build_scheduler(SD15_NOISE_SCHEDULE, sampler, scheduler, steps, "cpu")
    # Second-order classes list each sigma twice (their midpoints are kept apart).
    sigmas = torch.unique_consecutive(sched.sigmas).double().numpy()
    assert relative_difference(sigmas, comfy_sigmas(scheduler, steps)) <= TOLERANCE.get(scheduler, 1e-4)
    if sched.order == 1:  # the UNet sees the same (fractional) timesteps as with euler
        euler = build_scheduler(SD15_NOISE_SCHEDULE, "euler", scheduler, steps, "cpu")
        assert np.allclose(sched.timesteps.double().numpy(), euler.timesteps.double().numpy(), atol=1e-3)


def test_dpmpp_2m_with_karras_matches_the_recording_by_class() -> None:
    # The recording measured DPMSolverMultistepScheduler's own karras sigmas: 1e-5 from ComfyUI's.
    assert recording("comparison_by_diffusers_class")["DPMSolverMultistepScheduler"]["karras"] <= 1e-4
    sched = build_scheduler(SD15_NOISE_SCHEDULE, "dpmpp_2m", "karras", 20, "cpu")
    assert relative_difference(sched.sigmas.double().numpy(), comfy_sigmas("karras", 20)) <= 1e-4
    assert sched.config.algorithm_type == "dpmsolver++" and sched.config.solver_order == 2
    assert sched.config.final_sigmas_type == "zero"


def test_every_comfyui_name_is_supported_or_has_a_reason() -> None:
    assert set(SAMPLERS) | set(UNSUPPORTED_SAMPLERS) == set(COMFY_SAMPLERS)
    assert not set(SAMPLERS) & set(UNSUPPORTED_SAMPLERS)
    assert set(SCHEDULERS) | set(UNSUPPORTED_SCHEDULERS) == set(COMFY_SCHEDULERS)
    assert not set(SCHEDULERS) & set(UNSUPPORTED_SCHEDULERS)


@pytest.mark.parametrize("scheduler", CUSTOM_SIGMA_SCHEDULERS)
def test_the_explicit_schedules_reproduce_comfyuis_recording(scheduler) -> None:
    recorded = recording("comparison_sd15_20steps")[scheduler]
    sigmas = CUSTOM_SCHEDULES[scheduler](model_sigmas(), 20)
    assert len(sigmas) == recorded["comfy_len"] and sigmas[-1] == 0.0
    assert sigmas[0] == pytest.approx(recorded["comfy_first"], abs=1e-4)
    assert sigmas[-2] == pytest.approx(recorded["comfy_last_nonzero"], abs=1e-4)
    for column, config in {**RECORDED_SPACINGS, "beta": {"use_beta_sigmas": True}}.items():
        measured = relative_difference(_euler_sigmas(config, 20), sigmas)
        assert measured == pytest.approx(recorded[column], abs=1e-4), column


def test_only_classes_with_their_own_sigma_grid_refuse_the_explicit_schedules() -> None:
    # euler_ancestral takes karras/exponential through Euler's sigmas; dpm_2_ancestral has exponential.
    for sampler, scheduler in (("euler_ancestral", "karras"), ("dpm_2_ancestral", "exponential")):
        assert sampler_problem(sampler, scheduler) is None
    refused = {(s, c) for s in ("heun", "dpm_2", "dpm_2_ancestral", "lms") for c in CUSTOM_SIGMA_SCHEDULERS}
    assert set(UNSUPPORTED_PAIRS) == refused


def _issues(sampler: str, scheduler: str) -> list:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    graph["3"]["inputs"].update(sampler_name=sampler, scheduler=scheduler)
    choices = {"checkpoints": [TINY_CHECKPOINT], "files": []}
    return validate_graph(graph, default_registry(), dynamic_choices=choices)


@pytest.mark.parametrize("sampler", NEW_SAMPLERS)
def test_graph_validation_accepts_the_new_samplers(sampler) -> None:
    for scheduler in SCHEDULERS:
        assert _issues(sampler, scheduler) == []


@pytest.mark.parametrize("sampler", ["dpmpp_sde", "dpmpp_3m_sde", "uni_pc", "deis", "lcm", "ddpm", "heunpp2"])
def test_graph_validation_rejects_an_unsupported_sampler_with_the_list(sampler) -> None:
    (issue,) = _issues(sampler, "karras")
    assert (issue.node_id, issue.type, issue.input) == ("3", "unsupported_sampler", "sampler_name")
    assert UNSUPPORTED_SAMPLERS[sampler] in issue.message
    assert "supported samplers: euler," in issue.message and "dpmpp_2m" in issue.message


def test_graph_validation_refuses_a_pair_the_class_cannot_build_and_says_why() -> None:
    assert _issues("dpmpp_2m", "beta") == []
    (issue,) = _issues("heun", "beta")
    assert (issue.type, issue.input) == ("unsupported_sampler", "scheduler")
    assert "HeunDiscreteScheduler" in issue.message and "explicit sigma list" in issue.message
