"""Every tiny model the package writes, one entry per (family, format): the table the command reads.

A new family (FLUX, SD3, a video model, an ONNX background remover, an LLM) is one more entry here
and its writer module next to the others. Writers are imported when an entry is written, so listing
the table needs no torch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: (path, seed, base checkpoint or None) -> the path written.
Writer = Callable[[Path, int, "Path | None"], Path]


@dataclass(frozen=True)
class TinyModel:
    family: str  # the command's FAMILY: "sd15", "sdxl-lora" ...
    format: str  # the command's FORMAT: "diffusers", "single-file", "kohya-ldm" ...
    folder: str  # the model store folder it belongs in (nodes.model_store.FOLDERS)
    store_family: str  # what nodes.model_family reports for it, and GET /v1/models lists
    description: str
    write: Writer
    base: str | None = None  # the checkpoint family it is built for; None: it needs no base
    suffixes: tuple[str, ...] = ()  # a single file's allowed suffixes; () for a folder

    @property
    def single_file(self) -> bool:
        return bool(self.suffixes)


def _sd15_diffusers(path: Path, seed: int, base: Path | None) -> Path:
    from tiny_models.sd15 import write_tiny_sd15_diffusers

    return write_tiny_sd15_diffusers(path, seed=seed)


def _sd15_single(path: Path, seed: int, base: Path | None) -> Path:
    from tiny_models.sd15 import write_tiny_sd15_single_file

    return write_tiny_sd15_single_file(path, seed=seed)


def _sdxl_diffusers(path: Path, seed: int, base: Path | None) -> Path:
    from tiny_models.sdxl import write_tiny_sdxl_diffusers

    return write_tiny_sdxl_diffusers(path, seed=seed)


def _sdxl_single(path: Path, seed: int, base: Path | None) -> Path:
    from tiny_models.sdxl import write_tiny_sdxl_single_file

    return write_tiny_sdxl_single_file(path, seed=seed)


def _vae(single_file: bool) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.sd15 import write_tiny_vae

        return write_tiny_vae(path, seed=seed, single_file=single_file)

    return write


def _lora(base_family: str, layout: str) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.lora import write_tiny_lora

        with _base_checkpoint(base_family, base, seed) as checkpoint:
            return write_tiny_lora(path, checkpoint_dir=checkpoint, seed=seed, layout=layout)

    return write


def _controlnet(base_family: str, single_file: bool, layout: str = "original") -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.controlnet import write_tiny_controlnet

        with _base_checkpoint(base_family, base, seed) as checkpoint:
            return write_tiny_controlnet(
                path, checkpoint_dir=checkpoint, seed=seed, single_file=single_file, layout=layout
            )

    return write


def _esrgan(layout: str) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.upscaler import write_tiny_esrgan

        return write_tiny_esrgan(path, seed=seed, scale=4, layout=layout)

    return write


def _background(family: str) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.background import write_tiny_background_model

        return write_tiny_background_model(path, family=family, seed=seed)

    return write


def _sd2(prediction: str, single_file: bool) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.sd2 import write_tiny_sd2_diffusers, write_tiny_sd2_single_file

        writer = write_tiny_sd2_single_file if single_file else write_tiny_sd2_diffusers
        return writer(path, seed=seed, prediction=prediction)

    return write


def _sdxl_refiner(single_file: bool) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models import sdxl_refiner

        if single_file:
            return sdxl_refiner.write_tiny_sdxl_refiner_single_file(path, seed=seed)
        return sdxl_refiner.write_tiny_sdxl_refiner_diffusers(path, seed=seed)

    return write


def _sd21_unclip(path: Path, seed: int, base: Path | None) -> Path:
    from tiny_models.clip_vision import write_tiny_sd21_unclip

    return write_tiny_sd21_unclip(path, seed=seed)


def _clip_vision(layout: str) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.clip_vision import write_tiny_clip_vision

        return write_tiny_clip_vision(path, seed=seed, layout=layout)

    return write


def _flux(part: str, **options: bool) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models import flux

        return getattr(flux, f"write_tiny_{part}")(path, seed=seed, **options)

    return write


def _svd(variant: str) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.svd import write_tiny_svd

        return write_tiny_svd(path, seed=seed, variant=variant)

    return write


def _sd3(part: str, **options: Any) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models import sd3

        return getattr(sd3, f"write_tiny_{part}")(path, seed=seed, **options)

    return write


@contextmanager
def _base_checkpoint(family: str, given: Path | None, seed: int) -> Iterator[Path]:
    """The given base checkpoint, or a tiny one of `family` written for the occasion and removed after."""
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="tiny-base-") as folder:
        yield WRITERS[(family, "diffusers")].write(Path(folder) / "base", seed, None)


_SAFETENSORS = (".safetensors",)
_CHECKPOINT_FILES = (".safetensors", ".ckpt")  # a .ckpt: torch.save of {"state_dict": ...}
_LORA_FILES = (".safetensors", ".pt", ".pth")
_LABELS = {"sd15": "SD 1.5", "sdxl": "SDXL"}
_CKPT = "checkpoints"
_SD2_SINGLE = "single file, original ldm keys (OpenCLIP ViT-H text) + NAME.config/"

ENTRIES: tuple[TinyModel, ...] = (
    TinyModel(
        "sd15",
        "diffusers",
        _CKPT,
        "sd15",
        "SD 1.5 diffusers folder (model_index.json, unet/ ...)",
        _sd15_diffusers,
    ),
    TinyModel(
        "sd15",
        "single-file",
        _CKPT,
        "sd15",
        "SD 1.5 single file, original ldm keys + NAME.config/ sidecar",
        _sd15_single,
        suffixes=_CHECKPOINT_FILES,
    ),
    TinyModel(
        "sdxl", "diffusers", _CKPT, "sdxl", "SDXL diffusers folder (two text encoders)", _sdxl_diffusers
    ),
    TinyModel(
        "sdxl",
        "single-file",
        _CKPT,
        "sdxl",
        "SDXL single file, original SGM keys + NAME.config/ sidecar",
        _sdxl_single,
        suffixes=_CHECKPOINT_FILES,
    ),
    TinyModel(
        "vae",
        "diffusers",
        "vae",
        "sd_vae",
        "SD VAE diffusers folder (config.json + weights)",
        _vae(single_file=False),
    ),
    TinyModel(
        "vae",
        "single-file",
        "vae",
        "sd_vae",
        "SD VAE single file, original encoder.*/decoder.* keys + NAME.config/",
        _vae(single_file=True),
        suffixes=_SAFETENSORS,
    ),
    *(
        TinyModel(
            f"{family}-lora",
            layout.replace("_", "-"),
            "loras",
            family,
            f"{_LABELS[family]} LoRA, {label}",
            _lora(family, layout),
            base=family,
            suffixes=_LORA_FILES,
        )
        for family in ("sd15", "sdxl")
        for layout, label in (
            ("kohya_diffusers", "kohya keys in diffusers names (lora_unet_down_blocks_...)"),
            ("kohya_ldm", "kohya keys in original names (lora_unet_input_blocks_...)"),
            ("peft", "PEFT/diffusers keys (unet.*.lora_A.weight)"),
        )
    ),
    TinyModel(
        "sd15-controlnet",
        "diffusers",
        "controlnet",
        "sd15",
        "SD 1.5 ControlNet diffusers folder",
        _controlnet("sd15", single_file=False),
        base="sd15",
    ),
    TinyModel(
        "sd15-controlnet",
        "single-file",
        "controlnet",
        "sd15",
        "SD 1.5 ControlNet single file, original control_model.* keys + NAME.config/",
        _controlnet("sd15", single_file=True),
        base="sd15",
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "sdxl-controlnet",
        "diffusers",
        "controlnet",
        "sdxl",
        "SDXL ControlNet diffusers folder",
        _controlnet("sdxl", single_file=False),
        base="sdxl",
    ),
    TinyModel(
        "sdxl-controlnet",
        "single-file",
        "controlnet",
        "sdxl",
        "SDXL ControlNet single file, diffusers keys (as SDXL ControlNets ship) + NAME.config/",
        _controlnet("sdxl", single_file=True, layout="diffusers"),
        base="sdxl",
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "esrgan",
        "original",
        "upscale_models",
        "esrgan",
        "4x ESRGAN upscaler, original layout (model.0, model.1.sub.N.RDB1 ...)",
        _esrgan("old"),
        suffixes=(".safetensors", ".pth", ".pt"),
    ),
    TinyModel(
        "esrgan",
        "basicsr",
        "upscale_models",
        "esrgan",
        "4x Real-ESRGAN upscaler, BasicSR layout (conv_first, body.N.rdb1 ...)",
        _esrgan("new"),
        suffixes=(".safetensors", ".pth", ".pt"),
    ),
    *(
        TinyModel(
            family,
            "onnx",
            "background_removal",
            store_family,
            f"{label} background remover, ONNX graph with {signature}",
            _background(family),
            suffixes=(".onnx",),
        )
        for family, store_family, label, signature in (
            ("u2net", "u2net", "U²-Net (rembg u2net.onnx)", "input.1 [1,3,320,320], 7 sigmoid outputs"),
            ("u2netp", "u2net", "U²-Net small (rembg u2netp.onnx)", "input.1 [1,3,320,320], 7 outputs"),
            ("isnet", "isnet", "IS-Net (isnet-general-use.onnx)", "input_image [1,3,1024,1024], 6 outputs"),
            ("birefnet", "birefnet", "BiRefNet", "input_image [1,3,1024,1024], 1 logits output"),
            ("rmbg14", "rmbg14", "BRIA RMBG-1.4 (model.onnx)", "input [1,3,1024,1024], 1 output"),
            ("rmbg2", "rmbg2", "BRIA RMBG-2.0 (model.onnx)", "pixel_values [N,3,1024,1024], 1 output"),
        )
    ),
    *(
        TinyModel(
            family,
            layout,
            _CKPT,
            "sd2",
            f"SD 2.1 {label} {_SD2_SINGLE if one else 'diffusers folder'}",
            _sd2(prediction, one),
            suffixes=_SAFETENSORS if one else (),
        )
        for family, prediction, label in (("sd2", "eps", "512 (eps)"), ("sd2-v", "v", "768 (v-prediction)"))
        for layout, one in (("single-file", True), ("diffusers", False))
    ),
    TinyModel(
        "sdxl-refiner",
        "single-file",
        _CKPT,
        "sdxl_refiner",
        "SDXL refiner single file (sd_xl_refiner_1.0 layout: bigG only, 5 size/score ids) + NAME.config/",
        _sdxl_refiner(single_file=True),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "sdxl-refiner",
        "diffusers",
        _CKPT,
        "sdxl_refiner",
        "SDXL refiner diffusers folder (unet/, vae/, text_encoder_2/, tokenizer_2/; no text_encoder/)",
        _sdxl_refiner(single_file=False),
    ),
    TinyModel(
        "sd21-unclip",
        "single-file",
        _CKPT,
        "sd2",
        "SD 2.1 unCLIP single file (sd21-unclip-h layout: embedder.model.visual.*, noise_augmentor.*)",
        _sd21_unclip,
        suffixes=_SAFETENSORS,
    ),
    *(
        TinyModel(
            "clip-vision",
            layout.replace("_", "-"),
            "clip_vision",
            "clip_vision",
            f"CLIP vision tower for models/clip_vision/, {label} + NAME.config/config.json",
            _clip_vision(layout),
            suffixes=_SAFETENSORS,
        )
        for layout, label in (
            ("transformers", "transformers keys (vision_model.*, as clip_vision_g ships)"),
            ("open_clip", "OpenCLIP keys (visual.transformer.resblocks.N ...)"),
        )
    ),
)

ENTRIES += (
    TinyModel(
        "flux-dev",
        "bfl",
        "diffusion_models",
        "flux_dev",
        "FLUX.1 dev transformer, BFL's keys (double_blocks, guidance_in ...) + NAME.config/",
        _flux("flux_diffusion_model", dev=True),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "flux-schnell",
        "bfl",
        "diffusion_models",
        "flux_schnell",
        "FLUX.1 schnell transformer, BFL's keys (no guidance_in) + NAME.config/",
        _flux("flux_diffusion_model", dev=False),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "flux-dev",
        "checkpoint",
        _CKPT,
        "flux_dev",
        "FLUX.1 dev all-in-one (model.diffusion_model.*, text_encoders.*, first_stage_model.*)",
        _flux("flux_checkpoint", dev=True),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "clip-l",
        "single-file",
        "text_encoders",
        "clip_l",
        "CLIP-L text encoder, text_model.* keys (clip_l.safetensors) + NAME.config/",
        _flux("clip_l"),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "t5xxl",
        "single-file",
        "text_encoders",
        "t5xxl",
        "T5 encoder, HF keys (t5xxl_fp16.safetensors) + its tokenizer in NAME.tokenizer/",
        _flux("t5"),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "flux-vae",
        "single-file",
        "vae",
        "flux_vae",
        "FLUX.1 16-channel VAE (ae.safetensors), ldm keys without quant convs + NAME.config/",
        _flux("flux_vae"),
        suffixes=_SAFETENSORS,
    ),
    *(
        TinyModel(
            family,
            "sgm",
            _CKPT,
            "svd",
            f"Stable Video Diffusion ({frames} frames) single file, SGM keys (model.diffusion_model.*, "
            "first_stage_model.*, conditioner.embedders.0.open_clip.*) + NAME.config/",
            _svd(family.replace("-", "_")),
            suffixes=_SAFETENSORS,
        )
        for family, frames in (("svd", 14), ("svd-xt", 25))
    ),
)

ENTRIES += (
    TinyModel(
        "sd3.5-medium",
        "sai",
        "diffusion_models",
        "sd3",
        "SD3.5 medium-like MMDiT (qk-norm, dual attention), SAI's bare joint_blocks.* keys + NAME.config/",
        _sd3("sd3_diffusion_model", variant="sd3.5_medium"),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "sd3-medium",
        "sai",
        "diffusion_models",
        "sd3",
        "SD3 medium-like MMDiT (no qk-norm), model.diffusion_model.joint_blocks.* keys + NAME.config/",
        _sd3("sd3_diffusion_model", variant="sd3_medium", prefixed=True),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "sd3.5-large",
        "checkpoint",
        _CKPT,
        "sd3",
        "SD3.5 large-like MMDiT + VAE (model.diffusion_model.*, first_stage_model.*), no text encoders",
        _sd3("sd3_checkpoint", variant="sd3.5_large"),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "sd3.5-medium",
        "checkpoint",
        _CKPT,
        "sd3",
        "SD3.5 medium all-in-one (+ text_encoders.clip_l/clip_g/t5xxl.transformer.*)",
        _sd3("sd3_checkpoint", variant="sd3.5_medium", text_encoders=True),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "clip-g",
        "single-file",
        "text_encoders",
        "clip_g",
        "CLIP-G text encoder with projection, 1280 wide, one layer (clip_g.safetensors) + NAME.config/",
        _sd3("clip_g"),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "sd3-vae",
        "single-file",
        "vae",
        "flux_vae",
        "SD3's 16-channel VAE (sd3_vae.safetensors: scale 1.5305, shift 0.0609) + NAME.config/",
        _sd3("sd3_vae"),
        suffixes=_SAFETENSORS,
    ),
)


def _causal_lm(family: str) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models.llm import write_tiny_causal_lm

        return write_tiny_causal_lm(path, family=family, seed=seed)

    return write


def _blip(path: Path, seed: int, base: Path | None) -> Path:
    from tiny_models.llm import write_tiny_blip

    return write_tiny_blip(path, seed=seed)


ENTRIES += (
    *(
        TinyModel(
            family,
            "transformers",
            "llm",
            family,
            f"{label} causal LM, Hugging Face folder (config.json, model.safetensors, a trained byte-level "
            "BPE tokenizer.json, tokenizer_config.json with the family's chat_template)",
            _causal_lm(family),
        )
        for family, label in (
            ("llama", "Llama 3"),
            ("qwen2", "Qwen2"),
            ("mistral", "Mistral"),
            ("gemma", "Gemma"),
        )
    ),
    TinyModel(
        "blip",
        "transformers",
        "vlm",
        "blip",
        "BLIP captioner (BlipForConditionalGeneration), Hugging Face folder with preprocessor_config.json "
        "and a BERT WordPiece vocab.txt",
        _blip,
    ),
)


def _qwen2_vl(path: Path, seed: int, base: Path | None) -> Path:
    from tiny_models.qwen2_vl import write_tiny_qwen2_vl

    return write_tiny_qwen2_vl(path, seed=seed)


ENTRIES += (
    TinyModel(
        "qwen2-vl",
        "transformers",
        "vlm",
        "qwen2_vl",
        "Qwen2-VL vision-language model, Hugging Face folder (preprocessor_config.json, a BPE tokenizer "
        "with the vision tokens and a chat template that places images)",
        _qwen2_vl,
    ),
)


def _wan(part: str, **options: bool) -> Writer:
    def write(path: Path, seed: int, base: Path | None) -> Path:
        from tiny_models import wan

        return getattr(wan, f"write_tiny_{part}")(path, seed=seed, **options)

    return write


ENTRIES += (
    TinyModel(
        "wan21-t2v",
        "original",
        "diffusion_models",
        "wan21_t2v",
        "Wan 2.1 text-to-video transformer, original keys (blocks.N.self_attn.q ...) + NAME.config/",
        _wan("wan_diffusion_model", i2v=False),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "wan21-i2v",
        "original",
        "diffusion_models",
        "wan21_i2v",
        "Wan 2.1 image-to-video transformer (36 input channels), original keys + NAME.config/",
        _wan("wan_diffusion_model", i2v=True),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "umt5xxl",
        "single-file",
        "text_encoders",
        "umt5xxl",
        "UMT5 encoder, HF keys (umt5_xxl_fp16.safetensors) + its tokenizer in NAME.tokenizer/",
        _wan("umt5"),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "umt5xxl",
        "fp8-scaled",
        "text_encoders",
        "umt5xxl",
        "UMT5 encoder, ComfyUI's scaled fp8 (umt5_xxl_fp8_e4m3fn_scaled.safetensors) + NAME.tokenizer/",
        _wan("umt5_fp8_scaled"),
        suffixes=_SAFETENSORS,
    ),
    TinyModel(
        "wan-vae",
        "original",
        "vae",
        "wan_vae",
        "Wan 2.1 causal video VAE (wan_2.1_vae.safetensors), original keys + NAME.config/",
        _wan("wan_vae"),
        suffixes=_SAFETENSORS,
    ),
)


def _ltxv_checkpoint(path: Path, seed: int, base: Path | None) -> Path:
    from tiny_models.ltxv import write_tiny_ltxv_checkpoint

    return write_tiny_ltxv_checkpoint(path, seed=seed)


ENTRIES += (
    TinyModel(
        "ltxv",
        "single-file",
        "checkpoints",
        "ltxv",
        "LTX-Video 0.9.5 all-in-one checkpoint (model.diffusion_model.* in Lightricks' layout, vae.*) "
        "+ NAME.config/",
        _ltxv_checkpoint,
        suffixes=_SAFETENSORS,
    ),
)

WRITERS: dict[tuple[str, str], TinyModel] = {(entry.family, entry.format): entry for entry in ENTRIES}
assert len(WRITERS) == len(ENTRIES), "two tiny models with one (family, format)"


def families() -> list[str]:
    return list(dict.fromkeys(entry.family for entry in ENTRIES))


def formats(family: str) -> list[str]:
    return [entry.format for entry in ENTRIES if entry.family == family]
