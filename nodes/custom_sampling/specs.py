"""Schemas of ComfyUI's custom-sampling nodes: samplers, schedulers, sigma edits, guiders, noise and the
two SamplerCustom nodes (ModelSampling* nodes: specs_model.py). Pure data, equal to ComfyUI's
recorded object_info."""

from __future__ import annotations

from nodes.custom_sampling.specs_model import MODEL_SAMPLING_SPECS
from nodes.custom_sampling.specs_samplers import (
    CATEGORY,
    DENOISE,
    OPS,
    SAMPLER_SPECS,
    CustomSamplingSpec,
    float_input,
    sigma_input,
    steps_input,
)
from nodes.diffusion.samplers import COMFY_SCHEDULERS
from nodes.schema import (
    BOOLEAN,
    COMBO,
    CONDITIONING,
    FLOAT,
    GUIDER,
    INT,
    LATENT,
    MODEL,
    NOISE,
    SAMPLER,
    SIGMAS,
    InputSpec,
    NodeSpec,
    OutputSpec,
)

SIGMA_OPS = "nodes.custom_sampling.ops_sigmas"


def seed_input(name: str) -> InputSpec:
    return InputSpec(
        name, INT, default=0, min=0, max=18446744073709551615, options={"control_after_generate": True}
    )


def cfg_input(name: str) -> InputSpec:
    return InputSpec(name, FLOAT, default=8.0, min=0.0, max=100.0, step=0.1, round=0.01)


def _scheduler(class_type: str, impl: str, *inputs: InputSpec) -> NodeSpec:
    return NodeSpec(
        class_type=class_type,
        category=f"{CATEGORY}/schedulers",
        impl=f"{SIGMA_OPS}:{impl}",
        inputs=inputs,
        outputs=(OutputSpec(SIGMAS),),
    )


def _sigmas_edit(class_type: str, impl: str, *inputs: InputSpec, outputs: int = 1) -> NodeSpec:
    names = ("high_sigmas", "low_sigmas") if outputs == 2 else (None,)
    return NodeSpec(
        class_type=class_type,
        category=f"{CATEGORY}/sigmas",
        impl=f"{SIGMA_OPS}:{impl}",
        inputs=(InputSpec("sigmas", SIGMAS), *inputs),
        outputs=tuple(OutputSpec(SIGMAS, name) for name in names),
    )


SCHEDULER_SPECS = (
    _scheduler(
        "BasicScheduler",
        "basic_scheduler",
        InputSpec("model", MODEL),
        InputSpec("scheduler", COMBO, choices=COMFY_SCHEDULERS),
        steps_input(),
        DENOISE,
    ),
    _scheduler(
        "KarrasScheduler",
        "karras_scheduler",
        steps_input(),
        sigma_input("sigma_max", 14.614642),
        sigma_input("sigma_min", 0.0291675),
        float_input("rho", 7.0, 0.0, 100.0, 0.01, round=False),
    ),
    _scheduler(
        "ExponentialScheduler",
        "exponential_scheduler",
        steps_input(),
        sigma_input("sigma_max", 14.614642),
        sigma_input("sigma_min", 0.0291675),
    ),
    _scheduler(
        "PolyexponentialScheduler",
        "polyexponential_scheduler",
        steps_input(),
        sigma_input("sigma_max", 14.614642),
        sigma_input("sigma_min", 0.0291675),
        float_input("rho", 1.0, 0.0, 100.0, 0.01, round=False),
    ),
    _scheduler(
        "LaplaceScheduler",
        "laplace_scheduler",
        steps_input(),
        sigma_input("sigma_max", 14.614642),
        sigma_input("sigma_min", 0.0291675),
        float_input("mu", 0.0, -10.0, 10.0, 0.1, round=False),
        float_input("beta", 0.5, 0.0, 10.0, 0.1, round=False),
    ),
    _scheduler(
        "VPScheduler",
        "vp_scheduler",
        steps_input(),
        sigma_input("beta_d", 19.9),
        sigma_input("beta_min", 0.1),
        float_input("eps_s", 0.001, 0.0, 1.0, 0.0001, round=False),
    ),
    _scheduler(
        "BetaSamplingScheduler",
        "beta_sampling_scheduler",
        InputSpec("model", MODEL),
        steps_input(),
        float_input("alpha", 0.6, 0.0, 50.0, 0.01, round=False),
        float_input("beta", 0.6, 0.0, 50.0, 0.01, round=False),
    ),
    _scheduler(
        "SDTurboScheduler",
        "sd_turbo_scheduler",
        InputSpec("model", MODEL),
        steps_input(default=1, hi=10),
        InputSpec("denoise", FLOAT, default=1.0, min=0, max=1.0, step=0.01),
    ),
    _sigmas_edit(
        "SplitSigmas", "split_sigmas", InputSpec("step", INT, default=0, min=0, max=10000), outputs=2
    ),
    _sigmas_edit("SplitSigmasDenoise", "split_sigmas_denoise", DENOISE, outputs=2),
    _sigmas_edit("FlipSigmas", "flip_sigmas"),
    _sigmas_edit(
        "SetFirstSigma", "set_first_sigma", float_input("sigma", 136.0, 0.0, 20000.0, 0.001, round=False)
    ),
    CustomSamplingSpec(
        class_type="SamplingPercentToSigma",
        category=f"{CATEGORY}/sigmas",
        impl=f"{SIGMA_OPS}:sampling_percent_to_sigma",
        inputs=(
            InputSpec("model", MODEL),
            float_input("sampling_percent", 0.0, 0.0, 1.0, 0.0001),
            InputSpec(
                "return_actual_sigma",
                BOOLEAN,
                default=False,
                tooltip="Return the actual sigma value instead of the value used for interval checks.\n"
                "This only affects results at 0.0 and 1.0.",
            ),
        ),
        outputs=(OutputSpec(FLOAT, "sigma_value"),),
        v3_inputs=("model",),
    ),
    _sigmas_edit(
        "ExtendIntermediateSigmas",
        "extend_intermediate_sigmas",
        InputSpec("steps", INT, default=2, min=1, max=100),
        float_input("start_at_sigma", -1.0, -1.0, 20000.0, 0.01, round=False),
        float_input("end_at_sigma", 12.0, 0.0, 20000.0, 0.01, round=False),
        InputSpec("spacing", COMBO, choices=("linear", "cosine", "sine")),
    ),
)


def _guider(class_type: str, impl: str, *inputs: InputSpec) -> NodeSpec:
    return NodeSpec(
        class_type=class_type,
        category=f"{CATEGORY}/guiders",
        impl=f"{OPS}:{impl}",
        inputs=(InputSpec("model", MODEL), *inputs),
        outputs=(OutputSpec(GUIDER),),
    )


SAMPLING_SPECS = (
    NodeSpec(
        class_type="SamplerCustom",
        category=CATEGORY,
        impl=f"{OPS}:sampler_custom",
        inputs=(
            InputSpec("model", MODEL),
            InputSpec("add_noise", BOOLEAN, default=True),
            seed_input("noise_seed"),
            cfg_input("cfg"),
            InputSpec("positive", CONDITIONING),
            InputSpec("negative", CONDITIONING),
            InputSpec("sampler", SAMPLER),
            InputSpec("sigmas", SIGMAS),
            InputSpec("latent_image", LATENT),
        ),
        outputs=(OutputSpec(LATENT, "output"), OutputSpec(LATENT, "denoised_output")),
    ),
    NodeSpec(
        class_type="SamplerCustomAdvanced",
        category=CATEGORY,
        impl=f"{OPS}:sampler_custom_advanced",
        inputs=(
            InputSpec("noise", NOISE),
            InputSpec("guider", GUIDER),
            InputSpec("sampler", SAMPLER),
            InputSpec("sigmas", SIGMAS),
            InputSpec("latent_image", LATENT),
        ),
        outputs=(OutputSpec(LATENT, "output"), OutputSpec(LATENT, "denoised_output")),
    ),
    _guider("BasicGuider", "basic_guider", InputSpec("conditioning", CONDITIONING)),
    _guider(
        "CFGGuider",
        "cfg_guider",
        InputSpec("positive", CONDITIONING),
        InputSpec("negative", CONDITIONING),
        cfg_input("cfg"),
    ),
    _guider(
        "DualCFGGuider",
        "dual_cfg_guider",
        InputSpec("cond1", CONDITIONING),
        InputSpec("cond2", CONDITIONING),
        InputSpec("negative", CONDITIONING),
        cfg_input("cfg_conds"),
        cfg_input("cfg_cond2_negative"),
        InputSpec("style", COMBO, choices=("regular", "nested")),
    ),
    NodeSpec(
        class_type="RandomNoise",
        category=f"{CATEGORY}/noise",
        impl=f"{OPS}:random_noise",
        inputs=(seed_input("noise_seed"),),
        outputs=(OutputSpec(NOISE),),
    ),
    NodeSpec(
        class_type="AddNoise",
        category="_for_testing/custom_sampling/noise",
        impl=f"{OPS}:add_noise",
        inputs=(
            InputSpec("model", MODEL),
            InputSpec("noise", NOISE),
            InputSpec("sigmas", SIGMAS),
            InputSpec("latent_image", LATENT),
        ),
        outputs=(OutputSpec(LATENT),),
    ),
    CustomSamplingSpec(
        class_type="DisableNoise",
        category=f"{CATEGORY}/noise",
        impl=f"{OPS}:disable_noise",
        outputs=(OutputSpec(NOISE),),
    ),
)

SPECS = (*SAMPLER_SPECS, *SCHEDULER_SPECS, *SAMPLING_SPECS, *MODEL_SAMPLING_SPECS)
