"""Loads SD 2.x checkpoints offline (512 eps, 768 v-prediction, unCLIP): single files and diffusers folders.

A single ``.safetensors`` in the original layout holds ``model.diffusion_model.*`` (a UNet with
linear projections and a head count per level), ``first_stage_model.*`` (SD1's VAE) and
``cond_stage_model.model.*`` (OpenCLIP ViT-H's text tower, all 24 layers). SD 2.x reads the
penultimate text layer through the final layer norm, as ComfyUI does: the CLIP handle's default
layer is -2 for a single file; a diffusers folder's text encoder already stops one layer early
(stabilityai's has 23 layers), so its default is -1. The architecture comes from a sidecar
``NAME.config/`` when there is one, else from the shipped configs (configs/sd2_512, sd2_768).

Which prediction a file makes (``sd2_prediction``), first rule that answers:
1. a sidecar ``NAME.yaml`` (the LDM inference config users keep next to the file) with
   ``parameterization: "v"`` means v, one without it eps;
2. a sidecar ``NAME.config/scheduler/scheduler_config.json`` with ``prediction_type``;
3. ComfyUI's weight statistic: the first transformer's ``norm1.bias`` in the last output block
   that has one (``output_blocks.11.1`` in the real UNet) has a standard deviation above 0.09 in
   v models (trained eps models stay below it);
4. otherwise eps.
The ModelSamplingDiscrete node overrides the answer per graph.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nodes.diffusion.assembly import scheduler_config_from, vae_handle
from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle
from nodes.diffusion.model_files import check_unet_width, read_weights, weights_dtype
from nodes.diffusion.open_clip_keys import open_clip_text_to_transformers

CONFIGS = Path(__file__).resolve().parent / "configs"
SD2_512_DIR = CONFIGS / "sd2_512"
SD2_768_DIR = CONFIGS / "sd2_768"
TEXT_PREFIX = "cond_stage_model.model."
UNET_PREFIX = "model.diffusion_model."
#: ComfyUI's threshold on the weight statistic (rule 3 above).
V_STD_THRESHOLD = 0.09
_PARAMETERIZATION = re.compile(r"^\s*parameterization:\s*[\"']?(\w+)[\"']?", re.MULTILINE)


def sd2_prediction(path: Path, state: dict[str, Any]) -> str:
    """ "eps" or "v" for an SD 2.x single file (the rules in the module docstring)."""
    yaml = path.with_suffix(".yaml")
    if yaml.is_file():
        found = _PARAMETERIZATION.search(yaml.read_text(encoding="utf-8", errors="replace"))
        return "v" if found and found.group(1) == "v" else "eps"
    scheduler = path.with_suffix(".config") / "scheduler" / "scheduler_config.json"
    if scheduler.is_file():
        kind = json.loads(scheduler.read_text(encoding="utf-8")).get("prediction_type")
        if kind in ("epsilon", "v_prediction"):
            return "v" if kind == "v_prediction" else "eps"
    bias = _last_output_norm_bias(state)
    if bias is not None and float(bias.float().std(unbiased=False)) > V_STD_THRESHOLD:
        return "v"
    return "eps"


def _last_output_norm_bias(state: dict[str, Any]) -> Any:
    pattern = re.compile(
        re.escape(UNET_PREFIX) + r"output_blocks\.(\d+)\.1\.transformer_blocks\.0\.norm1\.bias$"
    )
    found = [(int(m.group(1)), key) for key in state if (m := pattern.match(key))]
    return state[max(found)[1]] if found else None


def config_dir_for(path: Path, prediction: str) -> Path:
    sidecar = path.with_suffix(".config")
    if sidecar.is_dir() and (sidecar / "unet" / "config.json").is_file():
        return sidecar
    return SD2_768_DIR if prediction == "v" else SD2_512_DIR


def discrete_sampling(schedule: dict[str, Any], prediction: str) -> tuple[dict[str, Any], Any]:
    """The handle's noise schedule (with diffusers' prediction_type, for schedulers that read it) and
    its ModelSampling."""
    from nodes.sampling.model_sampling import ModelSampling

    schedule = {**schedule, "prediction_type": "v_prediction" if prediction == "v" else "epsilon"}
    return schedule, ModelSampling.discrete(schedule, "v" if prediction == "v" else "eps")


def load_sd2_single_file(path: Path, device: str) -> Checkpoint:
    import torch
    from diffusers import AutoencoderKL

    state = read_weights(path, "Checkpoint")
    for prefix in (UNET_PREFIX, "first_stage_model.", TEXT_PREFIX):
        if not any(key.startswith(prefix) for key in state):
            raise ValueError(f"SD 2.x checkpoint {path.name!r} has no {prefix}* weights.")
    prediction = sd2_prediction(path, state)
    config_dir = config_dir_for(path, prediction)
    check_unet_width(path, state, config_dir)
    dtype = weights_dtype(device)
    unclip = any(key.startswith("embedder.model.visual.") for key in state)
    try:
        unet = build_unet(state, config_dir, dtype, unclip=unclip)
        vae = AutoencoderKL.from_single_file(
            state, config=str(config_dir), subfolder="vae", torch_dtype=torch.float32, local_files_only=True
        )
        text_encoder = sd2_text_encoder(state, config_dir, dtype)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise ValueError(
            f"SD 2.x checkpoint {path.name!r} does not match its configs in {config_dir.name}/: {exc}"
        ) from exc
    tokenizer = sd2_tokenizer(path, config_dir)
    scheduler_dir = config_dir if (config_dir / "scheduler").is_dir() else SD2_512_DIR
    checkpoint = assemble_sd2(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        schedule=scheduler_config_from(scheduler_dir),
        prediction=prediction,
        last_layer=-2,
        device=device,
    )
    if unclip:
        from nodes.clip_vision.unclip import attach_unclip

        checkpoint = attach_unclip(path, checkpoint, state, device)
    return checkpoint


def load_sd2_diffusers(path: Path, device: str) -> Checkpoint:
    """A diffusers SD 2.x folder; its scheduler config's prediction_type says eps or v."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    dtype = weights_dtype(device)
    common = {"local_files_only": True, "low_cpu_mem_usage": False}
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype, **common)
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=torch.float32, **common)
    text_encoder = CLIPTextModel.from_pretrained(
        path, subfolder="text_encoder", torch_dtype=dtype, local_files_only=True
    )
    tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer", local_files_only=True)
    schedule = scheduler_config_from(path)
    prediction = "v" if schedule.get("prediction_type") == "v_prediction" else "eps"
    return assemble_sd2(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        schedule=schedule,
        prediction=prediction,
        last_layer=-1,
        device=device,
    )


def assemble_sd2(
    *,
    unet: Any,
    vae: Any,
    text_encoder: Any,
    tokenizer: Any,
    schedule: dict[str, Any],
    prediction: str,
    last_layer: int,
    device: str,
) -> Checkpoint:
    for module in (unet, vae, text_encoder):
        module.to(device).eval().requires_grad_(False)
    schedule, sampling = discrete_sampling(schedule, prediction)
    return Checkpoint(
        model=ModelHandle(unet=unet, scheduler_config=schedule, family="sd2", model_sampling=sampling),
        clip=ClipHandle(tokenizer=tokenizer, text_encoder=text_encoder, last_layer=last_layer),
        vae=vae_handle(vae),
    )


def build_unet(state: dict[str, Any], config_dir: Path, dtype: Any, *, unclip: bool = False) -> Any:
    """The UNet from the file's ``model.diffusion_model.*`` keys, every weight required. An unCLIP
    UNet takes the image embedding (with its noise level) as class labels: ``label_emb``."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    config = dict(UNet2DConditionModel.load_config(str(config_dir), subfolder="unet", local_files_only=True))
    label = state.get(UNET_PREFIX + "label_emb.0.0.weight")
    if unclip and label is not None:
        config.update(
            class_embed_type="projection", projection_class_embeddings_input_dim=int(label.shape[1])
        )
    unet = UNet2DConditionModel.from_config(config)
    converted = convert_ldm_unet_checkpoint(state, config)
    missing, unexpected = unet.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise ValueError(f"UNet weights missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
    return unet if unet.dtype == dtype else unet.to(dtype)


def sd2_text_encoder(state: dict[str, Any], config_dir: Path, dtype: Any) -> Any:
    """OpenCLIP ViT-H's text tower as a transformers CLIPTextModel, every layer of the file."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig.from_pretrained(str(config_dir / "text_encoder"), local_files_only=True)
    model = CLIPTextModel(config)
    converted = open_clip_text_to_transformers(state, TEXT_PREFIX)
    layers = {key.split(".")[2] for key in converted if key.startswith("encoder.layers.")}
    if len(layers) != config.num_hidden_layers:
        raise ValueError(f"the text encoder has {len(layers)} layers, the config {config.num_hidden_layers}")
    missing, unexpected = model.load_state_dict(converted, strict=False)
    missing = [key for key in missing if "position_ids" not in key]
    if missing or unexpected:
        raise ValueError(f"text encoder weights missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.to(dtype)


def sd2_tokenizer(path: Path, config_dir: Path) -> Any:
    """CLIP's BPE tokenizer padding with "!" (id 0), as SD 2.x's OpenCLIP tokenizer does."""
    from transformers import CLIPTokenizer

    from nodes.diffusion.clip_vocab import bundled_tokenizer_dir
    from nodes.diffusion.single_file import DEFAULT_CONFIG_DIR as SD15_DIR

    for folder in (config_dir / "tokenizer", SD2_512_DIR / "tokenizer", SD15_DIR / "tokenizer"):
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            return CLIPTokenizer.from_pretrained(folder, local_files_only=True, pad_token="!")
    bundled = bundled_tokenizer_dir(SD2_512_DIR / "tokenizer")
    if bundled is not None:
        return CLIPTokenizer.from_pretrained(bundled, local_files_only=True, pad_token="!")
    raise ValueError(
        f"Checkpoint {path.name!r} needs CLIP's tokenizer files: install open_clip_torch (make does) or put "
        f"vocab.json and merges.txt in {path.with_suffix('.config').name}/tokenizer/ next to it."
    )
