"""ComfyUI's FLUX.1 examples run in-process node by node, with everything but KSampler being the real
node functions; the sampling step uses the sampler contract on main (nodes/sampling: ModelSampling,
euler, a Denoiser) the way KSampler will once the sampling core is merged (tests/e2e/test_flux_e2e.py)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nodes.catalog import default_registry
from nodes.graph import validate_graph
from nodes.model_check import unloadable_model_issues
from nodes.model_store import FOLDERS
from tests.support.flux_models import flux_workflow
from tests.support.node_context import NodeTestContext


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> NodeTestContext:
    from tests.support.flux_models import write_flux_models

    root = tmp_path_factory.mktemp("flux-graph")
    write_flux_models(root)
    return NodeTestContext(root)


class FlowDenoiser:
    """x0 from the guided network output: what the sampling core's denoiser does for a flow model."""

    def __init__(self, model: Any, positive: list, negative: list, cfg: float) -> None:
        from nodes.diffusion import guidance

        self.model, self.model_sampling = model, model.model_sampling
        self.last_uncond: torch.Tensor | None = None
        shape = (1, 16, 1, 1)
        self.pos = guidance.prepare(positive, torch.Size(shape), "cpu", "positive")
        self.neg = guidance.prepare(negative, torch.Size(shape), "cpu", "negative")
        self.cfg = cfg
        self.timesteps: list[float] = []

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        from nodes.diffusion import guidance

        t = self.model_sampling.timestep(sigma)
        self.timesteps.append(float(t))
        out = guidance.predict_noise(
            self.model, self.model_sampling.model_input(sigma, x), t, self.pos, self.neg, self.cfg
        )
        return self.model_sampling.denoised(sigma, out, x)


def _simple_sigmas(model_sampling: Any, steps: int) -> torch.Tensor:
    """ComfyUI's "simple" schedule: every len/steps-th of the model's sigmas from the top, then 0."""
    table = model_sampling.sigmas
    stride = len(table) / steps
    picked = [float(table[-(1 + int(i * stride))]) for i in range(steps)]
    return torch.tensor([*picked, 0.0])


def _run(
    ctx: NodeTestContext, graph: dict[str, Any], steps_override: int = 3, size: int = 64
) -> torch.Tensor:
    registry = default_registry()
    assert ctx.store is not None
    choices = {folder: ctx.store.names(folder) for folder in FOLDERS}
    assert validate_graph(graph, registry, dynamic_choices=choices) == []
    assert unloadable_model_issues(graph, registry, ctx.store) == []
    outputs: dict[str, tuple] = {}

    def value(v: Any) -> Any:
        return outputs[v[0]][v[1]] if isinstance(v, list) else v

    order = ["10", "11", "12", "30", "6", "33", "35", "27"]
    for node_id in [n for n in order if n in graph]:
        node = graph[node_id]
        inputs = {k: value(v) for k, v in node["inputs"].items()}
        if node["class_type"] == "EmptySD3LatentImage":
            inputs |= {"width": size, "height": size}  # the example's 1024 px, smaller for a unit test
        outputs[node_id] = registry.implementation(node["class_type"])(ctx, **inputs)
    sampler = graph["31"]["inputs"]
    model, latent = value(sampler["model"]), value(sampler["latent_image"])["samples"]
    denoiser = FlowDenoiser(model, value(sampler["positive"]), value(sampler["negative"]), sampler["cfg"])
    from nodes.sampling.samplers import SamplerRun, euler

    sigmas = _simple_sigmas(model.model_sampling, steps_override)
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(sampler["seed"]))
    x = model.model_sampling.noise_scaling(sigmas[0], noise, latent, max_denoise=True)
    x = euler(denoiser, x, sigmas, SamplerRun(seed=sampler["seed"], callback=lambda *_: None))
    samples = model.model_sampling.inverse_noise_scaling(sigmas[-1], x)
    vae = value(graph["8"]["inputs"]["vae"])
    (images,) = registry.implementation("VAEDecode")(ctx, samples={"samples": samples}, vae=vae)
    assert denoiser.timesteps[0] == pytest.approx(1.0) and all(0 < t <= 1 for t in denoiser.timesteps)
    return images


@pytest.mark.parametrize("name", ["flux_dev", "flux_schnell", "flux_dev_checkpoint"])
def test_the_flux_examples_run_below_the_sampler(ctx: NodeTestContext, name: str) -> None:
    images = _run(ctx, flux_workflow(name))
    assert images.shape == (1, 64, 64, 3) and torch.isfinite(images).all()
    assert images.std() > 0


def test_flux_guidance_changes_the_dev_image_and_not_schnell_s(ctx: NodeTestContext) -> None:
    dev = flux_workflow("flux_dev")
    other = flux_workflow("flux_dev")
    other["35"]["inputs"]["guidance"] = 10.0
    assert not torch.allclose(_run(ctx, dev), _run(ctx, other))


def test_euler_on_our_flux_path_lands_where_flux_pipeline_does(ctx: NodeTestContext) -> None:
    """The whole denoising loop: our conditioning, family call, ModelSampling (FLUX's exponential shift)
    and euler against FluxPipeline with FlowMatchEulerDiscreteScheduler on the same sigmas."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    from nodes.loaders.ops import unet_loader
    from nodes.sampling.samplers import SamplerRun, euler

    (model,) = unet_loader(ctx, "flux1-dev.safetensors", "default")
    sampling, steps, side = model.model_sampling, 4, 8
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(1, 16, side, side, generator=generator)
    context, pooled = torch.randn(1, 9, 32, generator=generator), torch.randn(1, 32, generator=generator)
    positive = [[context, {"pooled_output": pooled, "guidance": 3.5}]]
    denoiser = FlowDenoiser(model, positive, positive, 1.0)
    plain = torch.linspace(1.0, 1.0 / steps, steps, dtype=torch.float64)
    sigmas = torch.cat([sampling.sigma(plain * sampling.multiplier).float(), torch.zeros(1)])
    with torch.inference_mode():
        ours = euler(denoiser, noise.clone(), sigmas, SamplerRun(seed=0, callback=lambda *_: None))
        scheduler = FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True, base_shift=1.15, max_shift=1.15, time_shift_type="exponential"
        )
        pipe = FluxPipeline(
            scheduler=scheduler, vae=None, text_encoder=None, tokenizer=None,
            text_encoder_2=None, tokenizer_2=None, transformer=model.unet,
        )  # fmt: skip
        pipe.set_progress_bar_config(disable=True)
        theirs = pipe(
            prompt_embeds=context, pooled_prompt_embeds=pooled, height=side * 8, width=side * 8,
            num_inference_steps=steps, guidance_scale=3.5, sigmas=plain.tolist(), output_type="latent",
            latents=FluxPipeline._pack_latents(noise, 1, 16, side, side),
        ).images  # fmt: skip
    theirs = FluxPipeline._unpack_latents(theirs, side * 8, side * 8, 8)
    assert torch.allclose(ours, theirs, atol=1e-5), float((ours - theirs).abs().max())
