"""FLUX per-step overhead: our node path beside diffusers' FluxPipeline driving the same transformer.

One FLUX transformer (written in BFL's layout and loaded by UNETLoader's loader, so the module is the
one a graph runs) denoises the same latent twice per round: through our conditioning, family call
(nodes/flux/call.py) and the euler sampler function on FLUX's flow sigmas, and through
FluxPipeline(...)(prompt_embeds=..., output_type="latent") with FlowMatchEulerDiscreteScheduler. The
text context is random (T5's width, 256 tokens), so only the denoising loop is timed. Rounds alternate
the two, after a warm-up of each; the figures are medians per step.

    .venv/bin/python -m benchmarks.flux_step_overhead [--size tiny|small] [--steps 8] [--rounds 5]
        [--pixels 512] [--device auto]

"small" is FLUX's real widths per head and text (128-wide heads, T5's 4096, CLIP's 768) with 3 heads
and 2 + 4 blocks, so attention and packing cost what they do in the real model relative to each other;
"tiny" is the test suite's model.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.step_timing import ms_per_step, pick_device, report

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {},
    "small": {
        "num_layers": 2,
        "num_single_layers": 4,
        "attention_head_dim": 128,
        "num_attention_heads": 3,
        "joint_attention_dim": 4096,
        "pooled_projection_dim": 768,
        "axes_dims_rope": (16, 56, 56),
    },
}


def _write_model(folder: Path, size: str) -> Path:
    import torch
    from diffusers import FluxTransformer2DModel

    from tiny_models.common import save_safetensors
    from tiny_models.flux import transformer_bfl_state, transformer_config

    config = {**transformer_config(dev=True), **SIZES[size]}
    torch.manual_seed(0)
    model = FluxTransformer2DModel(**config)
    path = folder / "diffusion_models" / f"flux1-dev-{size}.safetensors"
    save_safetensors(transformer_bfl_state(model), path)
    model.save_config(path.with_suffix(".config") / "transformer")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pixels", type=int, default=512)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    from nodes.diffusion import guidance
    from nodes.flux.loading import load_flux_diffusion_model
    from nodes.sampling.samplers import SamplerRun, euler

    device = pick_device(args.device)
    model = load_flux_diffusion_model(
        _write_model(Path(tempfile.mkdtemp(prefix="flux-bench-")), args.size), device
    )
    transformer, sampling = model.unet, model.model_sampling
    cfg = transformer.config
    generator = torch.Generator().manual_seed(0)
    latent_side = args.pixels // 8
    noise = torch.randn(1, 16, latent_side, latent_side, generator=generator)
    context = torch.randn(1, 256, cfg.joint_attention_dim, generator=generator)
    pooled = torch.randn(1, cfg.pooled_projection_dim, generator=generator)
    conditioning = [[context, {"pooled_output": pooled, "guidance": 3.5}]]
    # FluxPipeline's sigmas (linear 1 -> 1/steps), shifted as ModelSampling shifts them: one schedule.
    sigmas = torch.linspace(1.0, 1.0 / args.steps, args.steps, dtype=torch.float64)
    shifted = torch.cat([sampling.sigma(sigmas * sampling.multiplier).float(), torch.zeros(1)])

    @torch.inference_mode()
    def ours() -> torch.Tensor:
        positive = guidance.prepare(conditioning, noise.shape, device, "positive")

        class Denoiser:  # what the sampling core's denoiser does for one flow model at cfg 1
            model_sampling = sampling
            last_uncond: torch.Tensor | None = None

            def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
                t = sampling.timestep(sigma)
                out = guidance.predict_noise(
                    model, sampling.model_input(sigma, x), t, positive, positive, 1.0
                )
                return sampling.denoised(sigma, out, x)

        denoiser = Denoiser()

        x = sampling.noise_scaling(shifted[0], noise.to(device), torch.zeros_like(noise, device=device))
        return euler(denoiser, x, shifted.to(device), SamplerRun(seed=0, callback=lambda *_: None))

    # FLUX's exponential shift by mu = the model's shift, whatever the image size (base = max shift).
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=sampling.shift,
        max_shift=sampling.shift,
        time_shift_type="exponential",
    )
    pipe = FluxPipeline(
        scheduler=scheduler, vae=None, text_encoder=None, tokenizer=None,
        text_encoder_2=None, tokenizer_2=None, transformer=transformer,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    packed = FluxPipeline._pack_latents(noise, 1, 16, latent_side, latent_side)

    @torch.inference_mode()
    def theirs() -> torch.Tensor:
        return pipe(
            prompt_embeds=context.to(device, transformer.dtype),
            pooled_prompt_embeds=pooled.to(device, transformer.dtype),
            height=args.pixels, width=args.pixels, num_inference_steps=args.steps, guidance_scale=3.5,
            latents=packed.to(device, transformer.dtype), output_type="latent", sigmas=sigmas.tolist(),
        ).images  # fmt: skip

    same = FluxPipeline._unpack_latents(theirs(), args.pixels, args.pixels, 8).float().cpu()
    difference = float((ours().float().cpu() - same).abs().max())
    ms = ms_per_step({"ours": ours, "diffusers": theirs}, rounds=args.rounds, steps=args.steps, device=device)
    report(
        f"FLUX {args.size} on {device} ({transformer.dtype}), {args.pixels}px, "
        f"{args.steps} steps x {args.rounds} rounds:",
        ms,
        difference,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
