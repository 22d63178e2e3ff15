"""LoRA on the tiny SDXL model: UNet keys in both kohya layouts, kohya's lora_te1_ and lora_te2_ encoders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nodes.diffusion import ops as diffusion
from nodes.lora import ops as lora_ops
from tests.unit.test_lora_patching import Context, snapshot
from tiny_models.lora import write_tiny_lora
from tiny_models.sdxl import write_tiny_sdxl_diffusers


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    checkpoint = write_tiny_sdxl_diffusers(root / "checkpoints" / "tiny-sdxl", seed=0)
    for layout in ("kohya_diffusers", "kohya_ldm"):
        write_tiny_lora(
            root / "loras" / f"{layout}.safetensors", checkpoint_dir=checkpoint, seed=1, layout=layout
        )
    return root


def test_sdxl_lora_keys_name_both_text_encoders(root: Path) -> None:
    prefixes = {
        key.split("_text_model")[0] for key in load_file(str(root / "loras" / "kohya_ldm.safetensors"))
    }
    assert {"lora_te1", "lora_te2"} <= prefixes
    assert any(
        key.startswith("lora_unet_input_blocks_")
        for key in load_file(str(root / "loras" / "kohya_ldm.safetensors"))
    )


def test_sdxl_lora_patches_unet_and_both_encoders_and_restores_them(root: Path) -> None:
    ctx = Context(root)
    model, clip, _ = diffusion.checkpoint_loader_simple(ctx, "tiny-sdxl")
    before = {
        name: snapshot(m)
        for name, m in (("unet", model.unet), ("te1", clip.text_encoder), ("te2", clip.text_encoder_2))
    }
    latent = {"samples": torch.zeros(1, 4, 8, 8)}

    def run(m, c) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        (pos,) = diffusion.clip_text_encode(ctx, "a lighthouse at dusk", c)
        (neg,) = diffusion.clip_text_encode(ctx, "", c)
        (out,) = diffusion.ksampler(ctx, m, 3, 3, 6.0, "euler", "normal", pos, neg, latent)
        return pos[0][0], pos[0][1]["pooled_output"], out["samples"]

    base = run(model, clip)
    by_layout = {}
    for layout in ("kohya_diffusers", "kohya_ldm"):
        patched_model, patched_clip = lora_ops.lora_loader(
            ctx, model, clip, f"{layout}.safetensors", 1.0, 1.0
        )
        by_layout[layout] = run(patched_model, patched_clip)
    embeddings, pooled, samples = by_layout["kohya_ldm"]
    width_1 = clip.text_encoder.config.hidden_size
    # Both halves of the SDXL embedding change: lora_te1_ patched CLIP-L, lora_te2_ patched bigG (and pooled).
    assert not torch.allclose(embeddings[..., :width_1], base[0][..., :width_1])
    assert not torch.allclose(embeddings[..., width_1:], base[0][..., width_1:])
    assert not torch.allclose(pooled, base[1])
    assert not torch.allclose(samples, base[2])
    # The same numbers under diffusers-style and original (ldm) UNet names make the same change.
    assert all(
        torch.allclose(a, b, atol=1e-5)
        for a, b in zip(by_layout["kohya_diffusers"], by_layout["kohya_ldm"], strict=True)
    )
    # The cached base weights are as loaded after every use.
    for name, m in (("unet", model.unet), ("te1", clip.text_encoder), ("te2", clip.text_encoder_2)):
        assert all(torch.equal(v, before[name][k]) for k, v in m.state_dict().items())
    assert torch.equal(run(model, clip)[2], base[2])
