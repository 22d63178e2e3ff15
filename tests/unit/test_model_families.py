"""Model-family detection for every format in the store, without torch; the shipped SDXL configs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Tensor name -> shape of headers that real files of each kind carry (a few keys each suffice).
FAKE_FILES: dict[str, tuple[str, dict[str, list[int]]]] = {
    "sd15-lora.safetensors": (
        "sd15",
        {
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": [4, 768],
            "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": [4, 768],
        },
    ),
    "sdxl-lora-kohya.safetensors": (
        "sdxl",
        {"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": [4, 1280]},
    ),
    "sdxl-lora-unet-only.safetensors": (
        "sdxl",
        {
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_up.weight": [640, 4],
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": [4, 2048],
        },
    ),
    "sdxl-lora-peft.safetensors": (
        "sdxl",
        {"unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": [4, 2048]},
    ),
    "control_sd15.safetensors": (
        "sd15",
        {"control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768]},
    ),
    "control_sdxl.safetensors": (
        "sdxl",
        {
            "control_model.label_emb.0.0.weight": [1280, 2816],
            "control_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
        },
    ),
    "controlnet-diffusers-sdxl.safetensors": (
        "sdxl",
        {
            "controlnet_cond_embedding.conv_in.weight": [16, 3, 3, 3],
            "add_embedding.linear_1.weight": [4, 2816],
        },
    ),
    "RealESRGAN_x4plus.safetensors": (
        "esrgan",
        {"conv_first.weight": [64, 3, 3, 3], "body.0.rdb1.conv1.weight": [32, 64, 3, 3]},
    ),
    "4x-UltraSharp.safetensors": ("esrgan", {"model.0.weight": [64, 3, 3, 3]}),
    "sdxl_vae.safetensors": (
        "sd_vae",
        {"encoder.conv_in.weight": [8, 3, 3, 3], "decoder.conv_in.weight": [8, 4]},
    ),
    "sd2.safetensors": ("sd2", {"cond_stage_model.model.token_embedding.weight": [8, 1024]}),
    "sdxl-refiner.safetensors": ("sdxl_refiner", {"conditioner.embedders.0.model.text_projection": [4, 4]}),
    "something-else.safetensors": ("unknown", {"weight": [2, 2]}),
}


def write_fake_safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    """A valid .safetensors of zeros with these tensor shapes (F16), written without torch."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 2 * math.prod(shape)
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    path.write_bytes(len(blob).to_bytes(8, "little") + blob + bytes(offset))


def _config_folder(path: Path, config: dict, weights: str = "diffusion_pytorch_model.safetensors") -> None:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config))
    write_fake_safetensors(path / weights, {"x": [1]})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A model store with one of everything, and the family each entry should report."""
    from tiny_models.sd15 import (
        write_tiny_sd15_diffusers,
        write_tiny_sd15_single_file,
        write_tiny_vae,
    )
    from tiny_models.sdxl import write_tiny_sdxl_diffusers, write_tiny_sdxl_single_file

    root = tmp_path_factory.mktemp("family-store")
    ckpts, other = root / "checkpoints", root / "loras"
    write_tiny_sd15_diffusers(ckpts / "sd15", seed=0)
    write_tiny_sd15_single_file(ckpts / "sd15.safetensors", seed=0)
    write_tiny_sdxl_diffusers(ckpts / "sdxl", seed=0)
    write_tiny_sdxl_single_file(ckpts / "sdxl.safetensors", seed=0)
    write_tiny_vae(root / "vae" / "vae.safetensors", seed=0, single_file=True)
    write_tiny_vae(root / "vae" / "vae-folder", seed=0, single_file=False)
    (ckpts / "old.ckpt").write_bytes(b"\x80\x02pickle")
    other.mkdir()
    for name, (_, shapes) in FAKE_FILES.items():
        write_fake_safetensors(other / name, shapes)
    base = {"_class_name": "ControlNetModel", "cross_attention_dim": 2048, "addition_embed_type": "text_time"}
    _config_folder(root / "controlnet" / "cn-sdxl", base)
    _config_folder(
        root / "controlnet" / "cn-sd15", {"_class_name": "ControlNetModel", "cross_attention_dim": 768}
    )
    expected = {
        "checkpoints/sd15": "sd15",
        "checkpoints/sd15.safetensors": "sd15",
        "checkpoints/sdxl": "sdxl",
        "checkpoints/sdxl.safetensors": "sdxl",
        "checkpoints/old.ckpt": "unknown",
        "vae/vae.safetensors": "sd_vae",
        "vae/vae-folder": "sd_vae",
        "controlnet/cn-sdxl": "sdxl",
        "controlnet/cn-sd15": "sd15",
        **{f"loras/{name}": family for name, (family, _) in FAKE_FILES.items()},
    }
    return root, expected


def test_every_format_gets_its_family_without_importing_torch(store: tuple[Path, dict[str, str]]) -> None:
    root, expected = store
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from nodes.model_store import FOLDERS, ModelStore\n"
        f"store = ModelStore(Path({str(root)!r}))\n"
        "entries = [e for folder in FOLDERS for e in store.entries(folder)]\n"
        "found = {f'{e.folder}/{e.name}': e.to_public()['family'] for e in entries}\n"
        "assert 'torch' not in sys.modules and 'safetensors' not in sys.modules, 'heavy import'\n"
        "print(json.dumps(found))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == expected


def test_family_is_memoised_per_path_mtime_and_size(tmp_path: Path) -> None:
    from nodes.model_family import model_family

    path = tmp_path / "model.safetensors"
    write_fake_safetensors(path, {"cond_stage_model.transformer.text_model.x": [2]})
    assert model_family(path) == "sd15"
    write_fake_safetensors(path, {"conditioner.embedders.1.model.positional_embedding": [77, 4]})
    os.utime(path, ns=(1, 10**18))  # a new mtime, as a replaced file has
    assert model_family(path) == "sdxl"
    path.write_bytes(b"\xff" * 16)  # a corrupt header is "unknown", never an exception
    assert model_family(path) == "unknown"


def test_shipped_sdxl_configs_build_the_sdxl_base_architecture() -> None:
    """The hand-written configs give exactly the published SDXL base 1.0 parameter counts."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from nodes.diffusion.sdxl_loading import SDXL_CONFIG_DIR as config_dir

    def load(part: str) -> dict:
        return json.loads((config_dir / part / "config.json").read_text())

    with torch.device("meta"):
        modules = {
            "unet": UNet2DConditionModel.from_config(load("unet")),
            "vae": AutoencoderKL.from_config(load("vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(config_dir / "text_encoder")),
            "text_encoder_2": CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(config_dir / "text_encoder_2")
            ),
        }
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in modules.items()}
    assert counts == {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
    }
    unet = load("unet")
    assert unet["projection_class_embeddings_input_dim"] == 1280 + 6 * unet["addition_time_embed_dim"]
    scheduler = json.loads((config_dir / "scheduler" / "scheduler_config.json").read_text())
    assert (scheduler["beta_schedule"], scheduler["beta_start"], scheduler["beta_end"]) == (
        "scaled_linear",
        0.00085,
        0.012,
    )


def test_a_malformed_header_is_unknown_whatever_it_breaks(tmp_path: Path) -> None:
    from nodes.model_family import model_family

    odd = tmp_path / "odd-lora.safetensors"  # a null in a shape once raised TypeError out of the scan
    blob = json.dumps(
        {
            "lora_unet_x_attn2_to_k.lora_down.weight": {
                "dtype": "F16",
                "shape": [4, None],
                "data_offsets": [0, 0],
            }
        }
    ).encode()
    odd.write_bytes(len(blob).to_bytes(8, "little") + blob)
    assert model_family(odd) == "unknown"
    deep = tmp_path / "deep.safetensors"
    header = ("[" * 100_000 + "]" * 100_000).encode()  # nesting past the JSON parser's recursion limit
    deep.write_bytes(len(header).to_bytes(8, "little") + header)
    assert model_family(deep) == "unknown"


def test_sd2_and_refiner_files_without_a_unet_fail_clearly_before_anything_loads(tmp_path: Path) -> None:
    from nodes.diffusion.loading import load_checkpoint

    for name, key, what in (
        ("sd2.safetensors", "cond_stage_model.model.token_embedding.weight", "SD 2.x"),
        ("refiner.safetensors", "conditioner.embedders.0.model.text_projection", "SDXL refiner"),
    ):
        write_fake_safetensors(tmp_path / name, {key: [4, 4]})
        with pytest.raises(ValueError, match=f"{what} checkpoint {name!r} has no model.diffusion_model"):
            load_checkpoint(tmp_path / name, "cpu")
