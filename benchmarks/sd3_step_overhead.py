"""SD3 per-step overhead: our node path beside diffusers' StableDiffusion3Pipeline driving the same MMDiT.

One SD3Transformer2DModel (written in Stability AI's layout and loaded by UNETLoader's loader,
nodes/sd3/loading.py, so the module is the one a graph runs) denoises the same latent twice per round:
through our guidance (positive and negative at cfg 4.5, so the cond/uncond batching is exercised), the
family call and the euler sampler function on SD3's shifted flow sigmas, and through
StableDiffusion3Pipeline(...)(prompt_embeds=..., negative_prompt_embeds=..., output_type="latent") with
FlowMatchEulerDiscreteScheduler(shift=3.0) on the same sigmas. The text context is random (CLIP-L + G's
77 tokens and T5's 256, at T5's width), so only the denoising loop is timed. Rounds alternate the two,
after a warm-up of each; the figures are medians per step.

    .venv/bin/python -m benchmarks.sd3_step_overhead [--size tiny|small] [--steps 8] [--rounds 5]
        [--pixels 512] [--cfg 4.5] [--device auto]

"small" is SD3's real widths per head and text (64-wide heads, T5's 4096, pooled CLIP-L + G's 2048),
patch 2, with 4 heads and 4 blocks (SD3.5 medium's qk-norm and dual attention in the first), so
attention and patching cost what they do in the real model relative to each other; "tiny" is the test
suite's SD3.5-medium-like model.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.step_timing import ms_per_step, pick_device, report

VARIANT = "sd3.5_medium"
TEXT_TOKENS = 77 + 256  # CLIP-L + G's tokens, then T5's at StableDiffusion3Pipeline's max length
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {},
    "small": {
        "sample_size": 128,
        "patch_size": 2,
        "num_layers": 4,
        "attention_head_dim": 64,
        "num_attention_heads": 4,
        "joint_attention_dim": 4096,
        "caption_projection_dim": 256,  # = heads x head width, as in every SD3
        "pooled_projection_dim": 2048,
        "pos_embed_max_size": 128,  # up to 2048 px at patch 2
    },
}


def _write_model(folder: Path, size: str) -> Path:
    import torch
    from diffusers import SD3Transformer2DModel

    from tiny_models.common import save_safetensors, sidecar_config_dir
    from tiny_models.sd3 import transformer_config, transformer_sai_state

    config = {**transformer_config(VARIANT), **SIZES[size]}
    torch.manual_seed(0)
    model = SD3Transformer2DModel(**config)
    path = folder / "diffusion_models" / f"sd3.5-medium-{size}.safetensors"
    save_safetensors(transformer_sai_state(model), path)
    model.save_config(sidecar_config_dir(path) / "transformer")  # no shipped config has this size
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pixels", type=int, default=512)
    parser.add_argument("--cfg", type=float, default=4.5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline

    from nodes.diffusion import guidance
    from nodes.sampling.samplers import SamplerRun, euler
    from nodes.sd3.loading import load_sd3_diffusion_model

    device = pick_device(args.device)
    model = load_sd3_diffusion_model(
        _write_model(Path(tempfile.mkdtemp(prefix="sd3-bench-")), args.size), device
    )
    transformer, sampling = model.unet, model.model_sampling
    widths = transformer.config
    generator = torch.Generator().manual_seed(0)
    latent_side = args.pixels // 8
    noise = torch.randn(1, 16, latent_side, latent_side, generator=generator)
    text_shape = (1, TEXT_TOKENS, widths.joint_attention_dim)
    context, negative = (torch.randn(text_shape, generator=generator) for _ in "pn")
    pooled_shape = (1, widths.pooled_projection_dim)
    pooled, pooled_negative = (torch.randn(pooled_shape, generator=generator) for _ in "pn")
    positive_cond = [[context, {"pooled_output": pooled}]]
    negative_cond = [[negative, {"pooled_output": pooled_negative}]]
    # The pipeline's sigmas (linear 1 -> 1/steps), which its scheduler shifts by 3.0, shifted here as
    # ModelSampling shifts them (the same shift): one schedule for both.
    plain = torch.linspace(1.0, 1.0 / args.steps, args.steps, dtype=torch.float64)
    shifted = torch.cat([sampling.sigma(plain * sampling.multiplier).float(), torch.zeros(1)])

    @torch.inference_mode()
    def ours() -> torch.Tensor:
        pos = guidance.prepare(positive_cond, noise.shape, device, "positive")
        neg = guidance.prepare(negative_cond, noise.shape, device, "negative")

        class Denoiser:  # what the sampling core's denoiser does for one flow model with CFG
            model_sampling = sampling
            last_uncond: torch.Tensor | None = None

            def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
                t = sampling.timestep(sigma)
                out = guidance.predict_noise(model, sampling.model_input(sigma, x), t, pos, neg, args.cfg)
                return sampling.denoised(sigma, out, x)

        x = sampling.noise_scaling(shifted[0], noise.to(device), torch.zeros_like(noise, device=device))
        return euler(Denoiser(), x, shifted.to(device), SamplerRun(seed=0, callback=lambda *_: None))

    pipe = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=sampling.shift), vae=None, transformer=transformer,
        text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None,
        text_encoder_3=None, tokenizer_3=None,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    dtype = transformer.dtype

    @torch.inference_mode()
    def theirs() -> torch.Tensor:
        return pipe(
            prompt_embeds=context.to(device, dtype), pooled_prompt_embeds=pooled.to(device, dtype),
            negative_prompt_embeds=negative.to(device, dtype),
            negative_pooled_prompt_embeds=pooled_negative.to(device, dtype),
            height=args.pixels, width=args.pixels, num_inference_steps=args.steps,
            guidance_scale=args.cfg, sigmas=plain.tolist(), latents=noise.to(device, dtype),
            output_type="latent",
        ).images  # fmt: skip

    difference = float((ours().float().cpu() - theirs().float().cpu()).abs().max())
    ms = ms_per_step({"ours": ours, "diffusers": theirs}, rounds=args.rounds, steps=args.steps, device=device)
    report(
        f"SD3 {args.size} on {device} ({dtype}), {args.pixels}px, cfg {args.cfg}, "
        f"{args.steps} steps x {args.rounds} rounds:",
        ms,
        difference,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
