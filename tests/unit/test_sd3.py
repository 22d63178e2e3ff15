"""SD3 / SD3.5: Stability AI's MMDiT layout, config detection, the loaders, the text conditioning and the
sampling path, on tiny real models (tiny_models/sd3.py) and on meta-device models of the real sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.support.node_context import NodeTestContext

pytestmark = pytest.mark.usefixtures("one_thread")
PROMPT = "a photo of a cat"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.flux_models import write_flux_models
    from tests.support.sd3_models import write_sd3_models

    root = tmp_path_factory.mktemp("sd3-models")
    write_flux_models(root)  # clip_l and t5xxl_fp16, shared with SD3
    write_sd3_models(root)
    return root


@pytest.fixture(scope="module")
def ctx(store: Path) -> NodeTestContext:
    return NodeTestContext(store)


def _config(name: str) -> dict[str, Any]:
    import json

    from nodes.sd3.loading import CONFIG_DIR

    data = json.loads((CONFIG_DIR / name / "transformer" / "config.json").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _sai_header(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The safetensors header of a real-size MMDiT in SAI's layout, from a meta-device model (no memory)."""
    from diffusers import SD3Transformer2DModel

    from nodes.sd3.layout import diffusers_to_sai

    with torch.device("meta"):
        model = SD3Transformer2DModel(**config)
    state = diffusers_to_sai(model.state_dict())
    return {prefix + k: {"dtype": "BF16", "shape": list(v.shape)} for k, v in state.items()}


@pytest.mark.parametrize("variant", ["sd3_medium", "sd3.5_medium", "sd3.5_large"])
def test_sai_to_diffusers_is_diffusers_own_converter_and_round_trips(variant: str) -> None:
    """Every SAI tensor lands where diffusers' single-file converter puts it, q/k/v splits and the
    (shift, scale) swaps included, and back again, for each variant's block kinds."""
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    from nodes.sd3.layout import diffusers_to_sai, sai_to_diffusers
    from tiny_models.sd3 import tiny_transformer

    original = tiny_transformer(0, variant).state_dict()
    sai = diffusers_to_sai(original)
    assert not any(k.startswith(("transformer_blocks", "pos_embed.")) for k in sai)
    assert any(".x_block.attn2.qkv." in k for k in sai) == (variant == "sd3.5_medium")
    reference = convert_sd3_transformer_checkpoint_to_diffusers(
        {f"model.diffusion_model.{k}": v.clone() for k, v in sai.items()}
    )
    ours = sai_to_diffusers(dict(sai))
    assert set(ours) == set(reference) == set(original)
    for key, tensor in original.items():
        assert torch.equal(ours[key], reference[key]) and torch.equal(ours[key], tensor), key


@pytest.mark.parametrize(
    ("name", "prefix"), [("sd3_medium", ""), ("sd3.5_medium", ""), ("sd3.5_large", "model.diffusion_model.")]
)
def test_the_header_of_each_real_size_picks_its_shipped_config(
    name: str, prefix: str, tmp_path: Path
) -> None:
    from nodes.loaders.families import split_family
    from nodes.sd3.loading import transformer_config

    header = _sai_header(_config(name), prefix)
    assert split_family(header) == "sd3"
    found, config = transformer_config(tmp_path / "sd3.safetensors", header, prefix)
    assert (found, config) == (name, _config(name))


def test_a_file_of_no_shipped_size_fails_with_what_it_has(tmp_path: Path) -> None:
    from nodes.sd3.loading import load_sd3_diffusion_model
    from tiny_models.common import save_safetensors
    from tiny_models.sd3 import tiny_transformer, transformer_sai_state

    path = tmp_path / "sd3.5_odd.safetensors"
    save_safetensors(transformer_sai_state(tiny_transformer(0, "sd3.5_medium")), path)  # no sidecar
    with pytest.raises(
        ValueError, match=r"no shipped config .* describes .*num_layers 2.*transformer/config.json"
    ):
        load_sd3_diffusion_model(path, "cpu")


def test_both_layouts_load_as_the_same_network_as_their_diffusers_weights(ctx: NodeTestContext) -> None:
    from nodes.loaders.ops import unet_loader
    from tiny_models.sd3 import tiny_transformer

    for name, variant in (
        ("sd3.5_medium.safetensors", "sd3.5_medium"),
        ("sd3_medium.safetensors", "sd3_medium"),
    ):
        (model,) = unet_loader(ctx, name, "default")
        assert model.family == "sd3"
        assert (model.model_sampling.shift, model.model_sampling.multiplier) == (3.0, 1000.0)
        expected = tiny_transformer(0, variant).state_dict()
        got = model.unet.state_dict()
        assert set(got) == set(expected) and all(torch.equal(got[k], expected[k]) for k in expected)
    assert model.unet.config.qk_norm is None
    (medium,) = unet_loader(ctx, "sd3.5_medium.safetensors", "default")
    assert (list(medium.unet.config.dual_attention_layers), medium.unet.config.qk_norm) == ([0], "rms_norm")
    from nodes.custom_sampling.ops_model import model_sampling_sd3

    (shifted,) = model_sampling_sd3(ctx, medium, 5.0)  # ModelSamplingSD3: SD3's shift, same timestep scale
    assert (shifted.model_sampling.shift, shifted.model_sampling.multiplier) == (5.0, 1000.0)
    assert shifted.unet is medium.unet and medium.model_sampling.shift == 3.0


def _clip_parts(clip: Any, text: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each CLIP's penultimate hidden states (no final norm) and pooled outputs, computed directly."""
    from nodes.diffusion.sdxl_text import _row

    out_l = clip.text_encoder(
        _row(clip.tokenizer, clip.tokenizer(text)["input_ids"][1:-1], "cpu"), output_hidden_states=True
    )
    out_g = clip.text_encoder_2(
        _row(clip.tokenizer_2, clip.tokenizer_2(text)["input_ids"][1:-1], "cpu"), output_hidden_states=True
    )
    return out_l.hidden_states[-2], out_g.hidden_states[-2], out_l.pooler_output, out_g.text_embeds


def test_triple_clip_conditioning_is_clip_l_and_g_padded_then_t5_along_the_sequence(
    ctx: NodeTestContext,
) -> None:
    from nodes.diffusion.ops import clip_text_encode
    from nodes.flux.text import encode_t5
    from nodes.loaders.ops import triple_clip_loader

    (clip,) = triple_clip_loader(ctx, "clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors")
    assert clip.kind == "sd3" and clip.tokenizer_2.pad_token == "!"
    [[context, extras]] = clip_text_encode(ctx, PROMPT, clip)[0]
    with torch.inference_mode():
        hidden_l, hidden_g, pooled_l, pooled_g = _clip_parts(clip, PROMPT)
        t5 = encode_t5(clip, PROMPT, min_tokens=77)
    assert t5.shape == (1, 77, 32)  # the tiny T5's width, narrower than CLIP-L + CLIP-G's 32 + 1280
    assert context.shape == (1, 77 + 77, 32 + 1280)
    assert torch.allclose(context[:, :77], torch.cat([hidden_l, hidden_g], dim=-1), atol=1e-5)
    assert torch.allclose(context[:, 77:, :32], t5, atol=1e-5) and not context[:, 77:, 32:].any()
    # Pooled: CLIP-L's own pooled output (not projected) beside CLIP-G's projected one.
    assert torch.allclose(extras["pooled_output"], torch.cat([pooled_l, pooled_g], dim=-1), atol=1e-5)


def test_sd3_without_some_encoders_pads_with_zeros_as_comfyui(ctx: NodeTestContext) -> None:
    from nodes.diffusion.ops import clip_text_encode
    from nodes.loaders.ops import clip_loader, dual_clip_loader

    (no_t5,) = dual_clip_loader(ctx, "clip_l.safetensors", "clip_g.safetensors", "sd3")
    [[context, extras]] = clip_text_encode(ctx, PROMPT, no_t5)[0]
    assert (
        context.shape == (1, 77, 4096) and not context[..., 32 + 1280 :].any()
    )  # CLIP-L + G, to T5-XXL's width
    assert extras["pooled_output"].shape == (1, 64)
    (g_and_t5,) = dual_clip_loader(ctx, "clip_g.safetensors", "t5xxl_fp16.safetensors", "sd3")
    [[context, extras]] = clip_text_encode(ctx, PROMPT, g_and_t5)[0]
    assert (
        context.shape == (1, 154, 768 + 1280)
        and not context[:, :77, :768].any()
        and context[:, :77, 768:].any()
    )
    assert not extras["pooled_output"][:, :768].any()  # a missing CLIP-L's pooled part is 768 zeros
    (t5_only,) = clip_loader(ctx, "t5xxl_fp16.safetensors", "sd3")
    [[context, extras]] = clip_text_encode(ctx, PROMPT, t5_only)[0]
    assert context.shape == (1, 77, 32) and extras["pooled_output"].shape == (1, 2048)
    assert not extras["pooled_output"].any()


def test_a_clip_recipe_with_a_repeated_or_foreign_encoder_is_refused(ctx: NodeTestContext) -> None:
    from nodes.loaders.ops import dual_clip_loader, triple_clip_loader

    with pytest.raises(ValueError, match=r"Type 'sd3' takes some of clip_l, clip_g, t5xxl \(each once\)"):
        triple_clip_loader(ctx, "clip_l.safetensors", "clip_l.safetensors", "t5xxl_fp16.safetensors")
    with pytest.raises(ValueError, match="Type 'sdxl' takes clip_l \\+ clip_g"):
        dual_clip_loader(ctx, "clip_l.safetensors", "t5xxl_fp16.safetensors", "sdxl")


def test_checkpoints_load_with_and_without_text_encoders(ctx: NodeTestContext) -> None:
    from nodes.diffusion.ops import checkpoint_loader_simple, clip_text_encode

    model, clip, vae = checkpoint_loader_simple(ctx, "sd3.5_large.safetensors")
    assert model.family == "sd3" and (vae.scaling_factor, vae.shift_factor) == (1.5305, 0.0609)
    assert clip.kind == "none"
    with pytest.raises(ValueError, match=r"holds no text encoder.*TripleCLIPLoader"):
        clip_text_encode(ctx, PROMPT, clip)
    model, clip, vae = checkpoint_loader_simple(ctx, "sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors")
    assert list(model.unet.config.dual_attention_layers) == [0]
    assert clip.kind == "sd3" and None not in (clip.text_encoder, clip.text_encoder_2, clip.t5_encoder)
    [[context, extras]] = clip_text_encode(ctx, PROMPT, clip)[0]
    assert context.shape == (1, 154, 1312) and extras["pooled_output"].shape == (1, 64)


def test_a_standalone_16_channel_vae_is_sd3_s_by_its_name(tmp_path: Path) -> None:
    from nodes.flux.vae import CONFIG_DIR as FLUX
    from nodes.sd3.vae import CONFIG_DIR as SD3
    from nodes.sd3.vae import sd3_vae_config_dir

    for name in ("sd3_vae.safetensors", "SD3.5_vae.safetensors", "sd35-vae.safetensors"):
        assert sd3_vae_config_dir(tmp_path / name) == SD3
    assert sd3_vae_config_dir(tmp_path / "ae.safetensors") == FLUX


def test_euler_on_our_sd3_path_lands_where_sd3_pipeline_does(ctx: NodeTestContext) -> None:
    """The whole loop: the family call, ModelSampling (SD3's shift 3.0, timestep = 1000 sigma) and euler
    with CFG against StableDiffusion3Pipeline with FlowMatchEulerDiscreteScheduler on the same sigmas."""
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline

    from nodes.loaders.ops import unet_loader
    from nodes.sampling.samplers import SamplerRun, euler
    from tests.unit.test_flux_graph import FlowDenoiser

    (model,) = unet_loader(ctx, "sd3.5_medium.safetensors", "default")
    sampling, steps, side, cfg = model.model_sampling, 4, 8, 4.0
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(1, 16, side, side, generator=generator)
    context, negative = (torch.randn(1, 9, 1312, generator=generator) for _ in range(2))
    pooled, pooled_negative = (torch.randn(1, 64, generator=generator) for _ in range(2))
    denoiser = FlowDenoiser(
        model, [[context, {"pooled_output": pooled}]], [[negative, {"pooled_output": pooled_negative}]], cfg
    )
    plain = torch.linspace(1.0, 1.0 / steps, steps, dtype=torch.float64)
    sigmas = torch.cat([sampling.sigma(plain * sampling.multiplier).float(), torch.zeros(1)])
    with torch.inference_mode():
        ours = euler(denoiser, noise.clone(), sigmas, SamplerRun(seed=0, callback=lambda *_: None))
        pipe = StableDiffusion3Pipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=None, transformer=model.unet,
            text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None,
            text_encoder_3=None, tokenizer_3=None,
        )  # fmt: skip
        pipe.set_progress_bar_config(disable=True)
        theirs = pipe(
            prompt_embeds=context, pooled_prompt_embeds=pooled, negative_prompt_embeds=negative,
            negative_pooled_prompt_embeds=pooled_negative, height=side * 8, width=side * 8,
            num_inference_steps=steps, guidance_scale=cfg, sigmas=plain.tolist(), output_type="latent",
            latents=noise.clone(),
        ).images  # fmt: skip
    assert torch.allclose(ours, theirs, atol=1e-5), float((ours - theirs).abs().max())


def test_clip_text_encode_sd3_takes_a_prompt_per_encoder_and_drops_empty_ones(ctx: NodeTestContext) -> None:
    from nodes.diffusion.ops import clip_text_encode
    from nodes.loaders.ops import triple_clip_loader
    from nodes.sd3.ops import clip_text_encode_sd3

    (clip,) = triple_clip_loader(ctx, "clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors")
    [[same, _]] = clip_text_encode_sd3(ctx, clip, PROMPT, PROMPT, PROMPT, "none")[0]
    [[plain, _]] = clip_text_encode(ctx, PROMPT, clip)[0]
    assert torch.equal(same, plain)
    # "none": the empty T5 prompt adds no tokens, the empty CLIP-L prompt leaves zeros (pooled too).
    [[context, extras]] = clip_text_encode_sd3(ctx, clip, "", PROMPT, "", "none")[0]
    assert context.shape == (1, 77, 4096) and not context[..., :32].any() and context[..., 32:1312].any()
    assert not extras["pooled_output"][:, :32].any()
    # "empty_prompt": the empty prompts are encoded as prompts.
    [[context, _]] = clip_text_encode_sd3(ctx, clip, "", PROMPT, "", "empty_prompt")[0]
    assert context.shape == (1, 154, 1312) and context[..., :32].any()


def test_the_sd35_example_validates_against_the_store_and_runs_node_by_node(ctx: NodeTestContext) -> None:
    from nodes.catalog import default_registry
    from nodes.graph import validate_graph
    from nodes.model_check import unloadable_model_issues
    from nodes.model_store import FOLDERS
    from tests.support.sd3_models import sd3_workflow

    graph, registry = sd3_workflow("sd3.5_large"), default_registry()
    assert ctx.store is not None
    choices = {folder: ctx.store.names(folder) for folder in FOLDERS}
    assert validate_graph(graph, registry, dynamic_choices=choices) == []
    assert unloadable_model_issues(graph, registry, ctx.store) == []
    # Every node's real function in the graph's order, at 64 px and 2 steps (the live-stack run at the
    # example's 1024 px and 20 steps: tests/e2e/test_sd3_e2e.py).
    graph["53"]["inputs"] |= {"width": 64, "height": 64}
    graph["3"]["inputs"]["steps"] = 2
    outputs: dict[str, tuple] = {}
    for node_id in ("4", "41", "16", "40", "53", "3", "8"):
        node = graph[node_id]
        inputs = {k: outputs[v[0]][v[1]] if isinstance(v, list) else v for k, v in node["inputs"].items()}
        outputs[node_id] = registry.implementation(node["class_type"])(ctx, **inputs)
    (images,) = outputs["8"]
    assert images.shape == (1, 64, 64, 3) and torch.isfinite(images).all() and images.std() > 0


def test_comfyui_s_fp8_scaled_files_load_as_weight_times_scale(store: Path, tmp_path: Path) -> None:
    """``sd3.5_large_fp8_scaled``-style: float8 weights, a ``scale_weight`` beside each, a ``scaled_fp8``
    marker; the model gets fp8 * scale (exactly) and loads at the config its shapes name."""
    import shutil

    from nodes.sd3.loading import load_sd3_diffusion_model
    from tiny_models.common import save_safetensors
    from tiny_models.sd3 import tiny_transformer, transformer_sai_state

    source = store / "diffusion_models" / "sd3.5_medium.safetensors"
    sai = transformer_sai_state(tiny_transformer(0, "sd3.5_medium"))
    scaled: dict[str, torch.Tensor] = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    expected: dict[str, torch.Tensor] = {}
    for key, tensor in sai.items():
        if key.endswith(".weight") and tensor.dim() == 2:
            scale = tensor.abs().max() / 448.0
            quantized = (tensor / scale).to(torch.float8_e4m3fn)
            scaled |= {key: quantized, key.removesuffix("weight") + "scale_weight": scale.reshape(())}
            scaled[key.removesuffix("weight") + "scale_input"] = torch.ones(())
            expected[key] = quantized.float() * scale
        else:
            scaled[key] = tensor
    path = tmp_path / "diffusion_models" / "sd3.5_medium_fp8_scaled.safetensors"
    save_safetensors({f"model.diffusion_model.{k}": v for k, v in scaled.items()}, path)
    shutil.copytree(source.with_suffix(".config"), path.with_suffix(".config"))
    model = load_sd3_diffusion_model(path, "cpu")
    got = model.unet.state_dict()
    assert torch.equal(
        got["transformer_blocks.0.attn.to_out.0.weight"], expected["joint_blocks.0.x_block.attn.proj.weight"]
    )
    assert torch.equal(got["context_embedder.weight"], expected["context_embedder.weight"])
    assert {p.dtype for p in model.unet.parameters()} == {torch.float32}
