"""FLUX.1: BFL's key layout, the loaders, the family call and the text encoding, on tiny real models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.support.node_context import NodeTestContext


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models.flux import write_tiny_flux_store

    root = tmp_path_factory.mktemp("flux-models")
    write_tiny_flux_store(root, seed=0)
    return root


@pytest.fixture(scope="module")
def ctx(store: Path) -> NodeTestContext:
    return NodeTestContext(store)


def _inputs(transformer: Any, batch: int = 2, h: int = 4, w: int = 6) -> dict[str, torch.Tensor]:
    """FluxPipeline's own packing and ids for a (batch, 16, h, w) latent, as its transformer gets them."""
    from diffusers import FluxPipeline

    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(batch, 16, h, w, generator=generator)
    return {
        "latent": latent,
        "hidden_states": FluxPipeline._pack_latents(latent, batch, 16, h, w),
        "img_ids": FluxPipeline._prepare_latent_image_ids(batch, h // 2, w // 2, "cpu", torch.float32),
        "context": torch.randn(batch, 7, transformer.config.joint_attention_dim, generator=generator),
        "pooled": torch.randn(batch, transformer.config.pooled_projection_dim, generator=generator),
    }


def test_bfl_to_diffusers_matches_diffusers_own_converter_at_flux_size() -> None:
    """At FLUX.1's real widths (3072 hidden, 12288 MLP; one column per tensor keeps it small), our mapping
    sends every BFL tensor where diffusers' single-file converter does, splits and swaps included."""
    from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers

    from nodes.flux.layout import bfl_to_diffusers

    rows = {"img_in": 3072, "txt_in": 3072, "final_layer.linear": 64, "final_layer.adaLN_modulation.1": 6144}
    for part in ("time_in", "vector_in", "guidance_in"):
        rows |= {f"{part}.in_layer": 3072, f"{part}.out_layer": 3072}
    block = {"img_mod.lin": 18432, "txt_mod.lin": 18432, "img_attn.qkv": 9216, "txt_attn.qkv": 9216}
    block |= {"img_attn.proj": 3072, "txt_attn.proj": 3072, "img_mlp.0": 12288, "img_mlp.2": 3072}
    block |= {"txt_mlp.0": 12288, "txt_mlp.2": 3072}
    single = {"linear1": 21504, "linear2": 3072, "modulation.lin": 9216}
    rows |= {f"double_blocks.{i}.{k}": n for i in range(2) for k, n in block.items()}
    rows |= {f"single_blocks.{i}.{k}": n for i in range(2) for k, n in single.items()}
    state: dict[str, torch.Tensor] = {}
    for name, n in rows.items():
        for param in ("weight", "bias"):
            state[f"{name}.{param}"] = torch.randn(n, 1) if param == "weight" else torch.randn(n)
    norms = ["img_attn.norm", "txt_attn.norm"]
    for i in range(2):
        for kind in ("query_norm", "key_norm"):
            state |= {f"double_blocks.{i}.{n}.{kind}.scale": torch.randn(128) for n in norms}
            state[f"single_blocks.{i}.norm.{kind}.scale"] = torch.randn(128)

    theirs = convert_flux_transformer_checkpoint_to_diffusers(dict(state))
    ours = bfl_to_diffusers(dict(state), hidden=3072)
    assert sorted(ours) == sorted(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_a_bfl_file_loads_to_the_same_network_as_its_diffusers_weights(ctx: NodeTestContext) -> None:
    """Key layout round trip: the tiny writer's diffusers model, written in BFL's layout and loaded by
    UNETLoader, computes the same outputs as the diffusers model it came from."""
    from nodes.loaders.ops import unet_loader
    from tiny_models.flux import tiny_transformer

    for name, dev in (("flux1-dev.safetensors", True), ("flux1-schnell.safetensors", False)):
        (model,) = unet_loader(ctx, name, "default")
        reference = tiny_transformer(0, dev=dev).eval()
        assert model.unet.config.guidance_embeds is dev and model.family == "flux"
        assert model.model_sampling.shift == (1.15 if dev else 1.0) and model.model_sampling.multiplier == 1.0
        inputs = _inputs(reference)
        call = {
            "hidden_states": inputs["hidden_states"],
            "encoder_hidden_states": inputs["context"],
            "pooled_projections": inputs["pooled"],
            "timestep": torch.tensor([0.7, 0.3]),
            "img_ids": inputs["img_ids"],
            "txt_ids": torch.zeros(7, 3),
            "guidance": torch.tensor([3.5, 2.0]) if dev else None,
            "return_dict": False,
        }
        with torch.inference_mode():
            assert torch.allclose(model.unet(**call)[0], reference(**call)[0], atol=1e-6)


def test_the_family_call_is_flux_pipeline_s_transformer_call(ctx: NodeTestContext) -> None:
    """flux_call(x, sigma) packs, positions and unpacks exactly as FluxPipeline does around its
    transformer call, which it gives timestep sigma (the network scales it by 1000 itself)."""
    from diffusers import FluxPipeline

    from nodes.diffusion.family_calls import family_call
    from nodes.diffusion.unet_inputs import unet_kwargs
    from nodes.loaders.ops import unet_loader

    (model,) = unet_loader(ctx, "flux1-dev.safetensors", "default")
    inputs = _inputs(model.unet, h=4, w=6)
    sigma = torch.tensor(0.6)
    extras = {"pooled_output": inputs["pooled"], "guidance": 4.0}
    kwargs = unet_kwargs(model, extras, batch=2, latent_hw=(4, 6))
    with torch.inference_mode():
        ours = family_call("flux")(model, inputs["latent"], sigma, inputs["context"], kwargs)
        # FluxPipeline: timesteps = sigmas * 1000, and the transformer is given timestep / 1000.
        theirs = model.unet(
            hidden_states=inputs["hidden_states"],
            timestep=(sigma * 1000).expand(2) / 1000,
            guidance=torch.full((2,), 4.0),
            pooled_projections=inputs["pooled"],
            encoder_hidden_states=inputs["context"],
            txt_ids=torch.zeros(7, 3),
            img_ids=inputs["img_ids"],
            return_dict=False,
        )[0]
    theirs = FluxPipeline._unpack_latents(theirs, height=4 * 8, width=6 * 8, vae_scale_factor=8)
    assert ours.shape == (2, 16, 4, 6) and ours.dtype == torch.float32
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_odd_latents_are_padded_to_the_patch_grid_and_cropped_back(ctx: NodeTestContext) -> None:
    from nodes.flux.call import flux_call, flux_kwargs
    from nodes.loaders.ops import unet_loader

    (model,) = unet_loader(ctx, "flux1-schnell.safetensors", "default")
    kwargs = flux_kwargs(model, {"pooled_output": torch.randn(1, 32)}, batch=1)
    assert "guidance" not in kwargs  # schnell embeds no guidance
    with torch.inference_mode():
        out = flux_call(model, torch.randn(1, 16, 5, 7), torch.tensor(1.0), torch.randn(1, 3, 32), kwargs)
    assert out.shape == (1, 16, 5, 7) and torch.isfinite(out).all()


def test_clip_text_encode_on_a_flux_clip_is_flux_pipeline_s_encode_prompt(ctx: NodeTestContext) -> None:
    """T5's states as the context (padded to 256 tokens), CLIP-L's pooled output in the extras."""
    from diffusers import FluxPipeline

    from nodes.diffusion.ops import clip_text_encode
    from nodes.flux.ops import clip_text_encode_flux, flux_guidance
    from nodes.loaders.ops import dual_clip_loader

    # Either order of the two files: the loader tells them apart by their keys.
    (clip,) = dual_clip_loader(ctx, "t5xxl_fp16.safetensors", "clip_l.safetensors", "flux")
    (cond,) = clip_text_encode(ctx, "a photo of a cat", clip)
    [[context, extras]] = cond
    pipe = FluxPipeline(
        scheduler=None, vae=None, transformer=None,
        text_encoder=clip.text_encoder, tokenizer=clip.tokenizer,
        text_encoder_2=clip.t5_encoder, tokenizer_2=clip.t5_tokenizer,
    )  # fmt: skip
    embeds, pooled, _ = pipe.encode_prompt("a photo of a cat", None, device="cpu", max_sequence_length=256)
    assert context.shape == (1, 256, 32) and torch.allclose(context, embeds, atol=1e-6)
    assert torch.allclose(extras["pooled_output"], pooled, atol=1e-6)

    (split,) = clip_text_encode_flux(ctx, clip, "a photo of a cat", "a dog", 2.5)
    assert split[0][1]["guidance"] == 2.5 and torch.equal(split[0][1]["pooled_output"], pooled)
    assert not torch.allclose(split[0][0], context)  # the T5 prompt differs
    (guided,) = flux_guidance(ctx, cond, 5.0)
    assert guided[0][1]["guidance"] == 5.0 and "guidance" not in cond[0][1]


def test_the_all_in_one_checkpoint_loads_every_part(ctx: NodeTestContext) -> None:
    from nodes.diffusion.ops import checkpoint_loader_simple
    from nodes.loaders.ops import unet_loader

    model, clip, vae = checkpoint_loader_simple(ctx, "flux1-dev-fp8.safetensors")
    (alone,) = unet_loader(ctx, "flux1-dev.safetensors", "default")  # same seed, same weights
    state, other = model.unet.state_dict(), alone.unet.state_dict()
    assert all(torch.equal(state[k], other[k]) for k in other)
    assert (clip.kind, vae.scaling_factor, vae.shift_factor) == ("flux", 0.3611, 0.1159)


def test_the_vae_applies_flux_s_scale_and_shift(ctx: NodeTestContext) -> None:
    from nodes.diffusion.ops import vae_loader
    from nodes.latent.ops import vae_decode, vae_encode

    (vae,) = vae_loader(ctx, "ae.safetensors")
    latent = torch.randn(1, 16, 4, 4)
    (image,) = vae_decode(ctx, {"samples": latent}, vae)
    with torch.inference_mode():
        raw = vae.vae.decode(latent / 0.3611 + 0.1159).sample
    assert image.shape == (1, 32, 32, 3)
    assert torch.allclose(image, ((raw + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1), atol=1e-6)
    (encoded,) = vae_encode(ctx, image, vae)
    with torch.inference_mode():
        mode = vae.vae.encode(image.permute(0, 3, 1, 2) * 2 - 1).latent_dist.mode()
    assert torch.allclose(encoded["samples"], (mode - 0.1159) * 0.3611, atol=1e-6)


def test_empty_sd3_latent_has_16_channels(ctx: NodeTestContext) -> None:
    from nodes.flux.ops import empty_sd3_latent_image

    (latent,) = empty_sd3_latent_image(ctx, 1024, 768, 2)
    assert latent["samples"].shape == (2, 16, 96, 128) and not latent["samples"].any()


def test_fp8_weights_are_upcast_on_the_cpu(store: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from nodes.flux.loading import load_flux_diffusion_model

    source = store / "diffusion_models" / "flux1-dev.safetensors"
    fp8 = tmp_path / "flux1-dev-fp8-e4m3fn.safetensors"
    save_file({k: v.to(torch.float8_e4m3fn) for k, v in load_file(str(source)).items()}, str(fp8))
    (tmp_path / "flux1-dev-fp8-e4m3fn.config").symlink_to(source.with_suffix(".config"))
    for weight_dtype in ("default", "fp8_e4m3fn"):
        model = load_flux_diffusion_model(fp8, "cpu", weight_dtype)
        assert {p.dtype for p in model.unet.parameters()} == {torch.float32}
        expected = load_file(str(fp8))["img_in.weight"].float()
        assert torch.equal(model.unet.x_embedder.weight, expected)


def test_a_file_that_fits_no_config_fails_before_building(store: Path, tmp_path: Path) -> None:
    import shutil

    from nodes.flux.loading import load_flux_diffusion_model

    source = store / "diffusion_models" / "flux1-dev.safetensors"
    copy = tmp_path / "flux1-dev.safetensors"
    shutil.copy(source, copy)  # no sidecar: the shipped FLUX.1 dev config (3072 wide, 19 + 38 blocks)
    with pytest.raises(
        ValueError, match=r"hidden: the file has 32, the config 3072.*num_layers: the file has 1"
    ):
        load_flux_diffusion_model(copy, "cpu")


def test_a_t5_without_its_tokenizer_says_where_to_put_it(store: Path, tmp_path: Path) -> None:
    import shutil

    from nodes.loaders.text_encoders import load_t5_encoder

    copy = tmp_path / "t5xxl_fp16.safetensors"
    shutil.copy(store / "text_encoders" / "t5xxl_fp16.safetensors", copy)
    with pytest.raises(ValueError, match=r"t5xxl_fp16\.tokenizer/ next to it, or in t5_tokenizer/"):
        load_t5_encoder(copy, "cpu")
    shutil.copytree(store / "text_encoders" / "t5xxl_fp16.tokenizer", tmp_path / "t5_tokenizer")
    encoder, tokenizer = load_t5_encoder(copy, "cpu")
    assert encoder.config.d_model == 32 and tokenizer.eos_token_id == 1


def test_a_dual_clip_of_the_wrong_pair_or_type_is_refused_clearly(ctx: NodeTestContext) -> None:
    from nodes.loaders.ops import clip_loader, dual_clip_loader

    with pytest.raises(
        ValueError, match=r"'flux' takes clip_l \+ t5xxl.*clip_name1: clip_l, clip_name2: clip_l"
    ):
        dual_clip_loader(ctx, "clip_l.safetensors", "clip_l.safetensors", "flux")
    with pytest.raises(ValueError, match=r"Type 'hidream' does not load here yet"):
        dual_clip_loader(ctx, "clip_l.safetensors", "t5xxl_fp16.safetensors", "hidream")
    (clip,) = clip_loader(ctx, "clip_l.safetensors", "stable_diffusion", "cpu")
    assert clip.kind == "sd" and clip.t5_encoder is None


def test_text_encoders_follow_the_worker_s_text_encoder_device(store: Path) -> None:
    from nodes.loaders.ops import text_encoder_device

    ctx = NodeTestContext(store)
    ctx.device = "cuda:0"  # only the choice is tested here: nothing is loaded
    assert text_encoder_device(ctx, "default") == "cuda:0"
    assert text_encoder_device(ctx, "cpu") == "cpu"
    ctx.text_encoder_device = "cpu"
    assert text_encoder_device(ctx, "default") == "cpu"
    with pytest.raises(ValueError, match="device must be 'default' or 'cpu'"):
        text_encoder_device(ctx, "gpu")


def test_an_fp8_t5_file_is_upcast_and_keeps_its_embedding_tied(store: Path, tmp_path: Path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    from nodes.loaders.text_encoders import load_t5_encoder

    source = store / "text_encoders" / "t5xxl_fp16.safetensors"
    fp8 = tmp_path / "t5xxl_fp8_e4m3fn.safetensors"
    save_file({k: v.to(torch.float8_e4m3fn) for k, v in load_file(str(source)).items()}, str(fp8))
    shutil.copytree(source.with_suffix(".tokenizer"), fp8.with_suffix(".tokenizer"))
    encoder, _ = load_t5_encoder(fp8, "cpu")
    assert {p.dtype for p in encoder.parameters()} == {torch.float32}
    assert encoder.encoder.embed_tokens.weight is encoder.shared.weight
    assert torch.equal(encoder.shared.weight, load_file(str(fp8))["shared.weight"].float())


def test_dual_clip_loader_sdxl_is_sdxl_pipeline_s_encode_prompt(store: Path, tmp_path: Path) -> None:
    """DualCLIPLoader type sdxl: clip_l + a bigG-wide clip_g file (1280, as the family table tells
    CLIP-G by), encoded as StableDiffusionXLPipeline.encode_prompt does."""
    import shutil

    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from nodes.diffusion.ops import clip_text_encode
    from nodes.loaders.ops import dual_clip_loader
    from tiny_models.common import save_safetensors, text_encoder_config, tiny_clip_vocab, write_tokenizer

    root = tmp_path / "models"
    shutil.copytree(store / "text_encoders", root / "text_encoders", symlinks=True)
    vocab, merges = tiny_clip_vocab()
    config = {**text_encoder_config(len(vocab)), "hidden_size": 1280, "num_attention_heads": 20}
    torch.manual_seed(5)
    config |= {"intermediate_size": 64, "projection_dim": 24, "hidden_act": "gelu"}
    big_g = CLIPTextModelWithProjection(CLIPTextConfig(**config))
    clip_g = root / "text_encoders" / "clip_g.safetensors"
    save_safetensors(big_g.state_dict(), clip_g)  # as clip_g.safetensors: text_model.*, text_projection
    big_g.config.save_pretrained(clip_g.with_suffix(".config"))
    write_tokenizer(clip_g.with_suffix(".config") / "tokenizer", vocab, merges)

    ctx = NodeTestContext(root)
    (clip,) = dual_clip_loader(ctx, "clip_l.safetensors", "clip_g.safetensors", "sdxl")
    assert clip.tokenizer_2.pad_token == "!"
    (cond,) = clip_text_encode(ctx, "a photo of a cat", clip)
    pipe = StableDiffusionXLPipeline(
        vae=None, unet=None, scheduler=None,
        text_encoder=clip.text_encoder, tokenizer=clip.tokenizer,
        text_encoder_2=clip.text_encoder_2, tokenizer_2=clip.tokenizer_2,
    )  # fmt: skip
    embeds, _, pooled, _ = pipe.encode_prompt(
        "a photo of a cat", device="cpu", do_classifier_free_guidance=False
    )
    assert cond[0][0].shape == (1, 77, 32 + 1280)
    assert torch.allclose(cond[0][0], embeds, atol=1e-5) and torch.allclose(
        cond[0][1]["pooled_output"], pooled, atol=1e-5
    )
