"""LoRA key names: kohya (diffusers and ldm UNet names, text encoders) and PEFT keys onto our modules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from nodes.lora.keys import UnsupportedLoraKey, layer_aliases, parse_key
from tiny_models.ldm_layout import UNET_PREFIX, unet_to_ldm
from tiny_models.sd15 import UNET_CONFIG, tiny_sd15_modules

SD15_CONFIGS = Path(__file__).resolve().parents[2] / "nodes" / "diffusion" / "configs" / "sd15"


@pytest.fixture(scope="module")
def tiny() -> tuple[torch.nn.Module, torch.nn.Module]:
    unet, _, text_encoder = tiny_sd15_modules(0)
    return unet, text_encoder


@pytest.fixture(scope="module")
def sd15_unet() -> torch.nn.Module:
    """The full-size SD1.5 UNet's structure from the shipped config (meta tensors: no memory)."""
    with torch.device("meta"):
        return UNet2DConditionModel.from_config(
            json.loads((SD15_CONFIGS / "unet" / "config.json").read_text())
        )


def test_kohya_unet_names_in_diffusers_and_ldm_form_name_the_same_layer(sd15_unet) -> None:
    aliases = layer_aliases(sd15_unet, "unet")
    expected = [
        (
            "down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q",
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
        ),
        (
            "input_blocks_1_1_transformer_blocks_0_attn1_to_q",
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
        ),
        ("input_blocks_2_1_proj_in", "down_blocks.0.attentions.1.proj_in"),
        (
            "input_blocks_4_1_transformer_blocks_0_attn2_to_k",
            "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
        ),
        ("input_blocks_4_0_skip_connection", "down_blocks.1.resnets.0.conv_shortcut"),
        ("input_blocks_3_0_op", "down_blocks.0.downsamplers.0.conv"),
        ("input_blocks_11_0_out_layers_3", "down_blocks.3.resnets.1.conv2"),
        (
            "middle_block_1_transformer_blocks_0_ff_net_0_proj",
            "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj",
        ),
        ("middle_block_2_emb_layers_1", "mid_block.resnets.1.time_emb_proj"),
        ("output_blocks_2_1_conv", "up_blocks.0.upsamplers.0.conv"),  # the first level has no attention
        ("output_blocks_5_2_conv", "up_blocks.1.upsamplers.0.conv"),  # after the attention
        (
            "output_blocks_11_1_transformer_blocks_0_attn1_to_out_0",
            "up_blocks.3.attentions.2.transformer_blocks.0.attn1.to_out.0",
        ),
        ("output_blocks_0_0_in_layers_2", "up_blocks.0.resnets.0.conv1"),
        ("time_embed_2", "time_embedding.linear_2"),
        ("out_2", "conv_out"),
    ]
    assert [(name, aliases.get(name)) for name, _ in expected] == expected


def test_ldm_names_agree_with_the_single_file_writer_for_every_layer(tiny) -> None:
    """Our ldm names (reader) and tiny_models.ldm_layout (which writes single-file checkpoints that
    diffusers' own converter loads back) are separate code: they must name every layer alike."""
    unet, _ = tiny
    aliases = layer_aliases(unet, "unet")
    layers = [p for p, m in unet.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert len(layers) > 50
    for path in layers:
        ldm = next(iter(unet_to_ldm({f"{path}.weight": None}, UNET_CONFIG))).removeprefix(UNET_PREFIX)
        assert aliases[ldm.removesuffix(".weight").replace(".", "_")] == path
        assert aliases[path.replace(".", "_")] == path


def test_text_encoder_names_with_and_without_the_text_model_level(tiny) -> None:
    _, text_encoder = tiny
    aliases = layer_aliases(text_encoder, "text_encoder")
    assert aliases["text_model_encoder_layers_1_mlp_fc2"] == aliases["encoder_layers_1_mlp_fc2"]
    assert aliases["text_model_encoder_layers_0_self_attn_q_proj"].endswith(
        "encoder.layers.0.self_attn.q_proj"
    )
    # An older transformers kept the text_model level in the module path: kohya's names match it too.
    with torch.device("meta"):
        config = CLIPTextConfig(
            hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=2
        )
        model = CLIPTextModel(config)
    assert "text_model_encoder_layers_0_mlp_fc1" in layer_aliases(model, "text_encoder")
    assert all("embedding" not in name for name in aliases)  # only linear and conv layers are patched


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("lora_unet_input_blocks_1_1_proj_in.lora_down.weight", ("unet", "input_blocks_1_1_proj_in", "down")),
        (
            "lora_unet_mid_block_attentions_0_proj_out.alpha",
            ("unet", "mid_block_attentions_0_proj_out", "alpha"),
        ),
        (
            "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight",
            ("text_encoder", "text_model_encoder_layers_0_mlp_fc1", "up"),
        ),
        (
            "lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha",
            ("text_encoder", "text_model_encoder_layers_0_mlp_fc1", "alpha"),
        ),
        (
            "lora_te2_text_model_encoder_layers_3_self_attn_k_proj.lora_down.weight",
            ("text_encoder_2", "text_model_encoder_layers_3_self_attn_k_proj", "down"),
        ),
        (
            "unet.down_blocks.0.attentions.0.proj_in.lora_A.weight",
            ("unet", "down_blocks_0_attentions_0_proj_in", "down"),
        ),
        (
            "unet.up_blocks.1.resnets.0.conv1.lora_B.default_0.weight",
            ("unet", "up_blocks_1_resnets_0_conv1", "up"),
        ),
        (
            "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora.up.weight",
            ("text_encoder", "text_model_encoder_layers_0_self_attn_q_proj", "up"),
        ),
        (
            "text_encoder_2.text_model.encoder.layers.0.mlp.fc2.lora_A.weight",
            ("text_encoder_2", "text_model_encoder_layers_0_mlp_fc2", "down"),
        ),
        ("lora_unet_conv_in.lora_up.bias", None),
        ("emb_params", None),
        ("unet.down_blocks.0.attentions.0.processor.to_q_lora.down.weight", None),
    ],
)
def test_parse_key(key: str, parsed: tuple[str, str, str] | None) -> None:
    assert parse_key(key) == parsed


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("lora_unet_input_blocks_1_1_proj_in.hada_w1_a", "LoHa"),
        ("lora_unet_input_blocks_1_1_proj_in.lokr_w1", "LoKr"),
        ("lora_unet_input_blocks_1_0_in_layers_2.lora_mid.weight", "lora_mid"),
        ("lora_te_text_model_encoder_layers_0_mlp_fc1.dora_scale", "DoRA"),
        ("lora_unet_conv_in.diff", "full weight difference"),
    ],
)
def test_other_adapter_types_are_rejected_by_name(key: str, kind: str) -> None:
    with pytest.raises(UnsupportedLoraKey, match=kind) as caught:
        parse_key(key)
    assert key in str(caught.value) and "only plain LoRA" in str(caught.value)
