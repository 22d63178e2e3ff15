"""Text encoders from ComfyUI's single files in text_encoders/ (or clip/), offline.

- CLIP (``clip_l.safetensors``, ``clip_g.safetensors``): transformers' CLIPTextModel (with its
  projection for CLIP-G) under the ``text_model.*`` keys those files use; the architecture from a
  sidecar ``NAME.config/config.json`` or CLIP-L's shipped config; the vocabulary CLIP's (clip_vocab.py).
- T5 (``t5xxl_fp16.safetensors``, ``t5xxl_fp8_e4m3fn.safetensors``): transformers' T5EncoderModel under
  HF's names (``shared.weight``, ``encoder.block.N.layer.0.SelfAttention.q.weight`` ...); its size is
  read from the header. fp8 files are upcast to the compute dtype. T5's SentencePiece tokenizer ships
  in no package here (see docs/flux.md): it is read from a folder beside the file, t5_tokenizer_dir().
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.diffusion.clip_vocab import bundled_tokenizer_dir
from nodes.diffusion.handles import ClipHandle
from nodes.loaders.weights import dequantize_scaled_fp8, flow_dtype, module_from_state, read_prefixed

SD15_CONFIGS = Path(__file__).resolve().parents[1] / "diffusion" / "configs" / "sd15"
SDXL_CONFIGS = SD15_CONFIGS.parent / "sdxl"
T5_TOKENIZER_FILES = ("tokenizer.json", "spiece.model")
SHARED_T5_TOKENIZER = "t5_tokenizer"  # one folder for every T5 file in text_encoders/


def load_clip_text_model(path: Path, device: str) -> tuple[Any, Any]:
    """(CLIPTextModel or CLIPTextModelWithProjection, CLIPTokenizer) from a CLIP text encoder file."""
    return clip_from_state(path, read_prefixed(path, what="Text encoder"), device)


def clip_from_state(
    path: Path, state: dict[str, Any], device: str, *, sidecar_part: str = ""
) -> tuple[Any, Any]:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    sidecar = path.with_suffix(".config") / sidecar_part
    config_file = sidecar / "config.json"
    embedding = state.get("text_model.embeddings.token_embedding.weight")
    if not config_file.is_file():  # CLIP-L's, or bigG's for a 1280-wide file
        wide = embedding is not None and embedding.shape[1] == 1280
        config_file = (
            SDXL_CONFIGS / "text_encoder_2" / "config.json"
            if wide
            else SD15_CONFIGS / "text_encoder" / "config.json"
        )
    config = CLIPTextConfig.from_dict(json.loads(config_file.read_text(encoding="utf-8")))
    # Files keep transformers' older names: text_model.* (newer transformers drops that level).
    # position_ids and logit_scale are bookkeeping some exports carry, not weights the encoder uses.
    skip = ("position_ids", "logit_scale")
    state = dequantize_scaled_fp8(state, torch.float32)
    state = {k.removeprefix("text_model."): v for k, v in state.items() if not k.endswith(skip)}
    width = state.get("embeddings.token_embedding.weight")
    if width is None:
        raise ValueError(f"Text encoder {path.name!r} is not a CLIP text model (no text_model.embeddings.*).")
    if width.shape[1] != config.hidden_size:
        raise ValueError(
            f"Text encoder {path.name!r} is {width.shape[1]} wide, its config "
            f"({config_file.parent.name}/) says {config.hidden_size}: put its config.json in "
            f"{sidecar.name}/ next to it."
        )
    with_projection = "text_projection.weight" in state and config.hidden_size >= 1280  # CLIP-G (SDXL, SD3)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    if not with_projection:
        state.pop("text_projection.weight", None)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    model = cls(config)
    if any(key.startswith("text_model.") for key in model.state_dict()):  # the projection model keeps it
        state = {k if k == "text_projection.weight" else f"text_model.{k}": v for k, v in state.items()}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"Text encoder {path.name!r} does not match a CLIP text model: missing {missing[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}."
        )
    model.to(device, dtype).eval().requires_grad_(False)
    # CLIP-G pads with "!" (SDXL's and SD3's second tokenizer); CLIP-L with its end token.
    extra = {"pad_token": "!"} if with_projection else {}
    return model, CLIPTokenizer.from_pretrained(
        _clip_tokenizer_dir(path, sidecar), local_files_only=True, **extra
    )


def _clip_tokenizer_dir(path: Path, sidecar: Path) -> Path:
    own = sidecar / "tokenizer"
    if (own / "vocab.json").is_file():
        return own
    shipped = SD15_CONFIGS / "tokenizer"
    if (shipped / "vocab.json").is_file():
        return shipped
    bundled = bundled_tokenizer_dir(shipped)
    if bundled is None:
        raise ValueError(f"{path.name!r} needs CLIP's vocabulary: install open_clip_torch (make does).")
    return bundled


def load_t5_encoder(path: Path, device: str) -> tuple[Any, Any]:
    """(T5EncoderModel, T5 tokenizer) from a T5 encoder file."""
    return t5_from_state(path, read_prefixed(path, what="Text encoder"), device)


def t5_config(state: dict[str, Any]) -> dict[str, Any]:
    """T5Config arguments from the weights' shapes (T5 v1.1: gated GELU, 32 relative-position buckets)."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise ValueError(f"not a T5 encoder in HF's key layout: it has no {key}")
        return tuple(state[key].shape)

    vocab, d_model = shape("shared.weight")
    buckets, heads = shape("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
    inner = shape("encoder.block.0.layer.0.SelfAttention.q.weight")[0]
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in state
    d_ff = shape(f"encoder.block.0.layer.1.DenseReluDense.{'wi_0' if gated else 'wi'}.weight")[0]
    layers = len({k.split(".")[2] for k in state if k.startswith("encoder.block.")})
    return {
        "vocab_size": vocab,
        "d_model": d_model,
        "d_kv": inner // heads,
        "num_heads": heads,
        "d_ff": d_ff,
        "num_layers": layers,
        "relative_attention_num_buckets": buckets,
        "feed_forward_proj": "gated-gelu" if gated else "relu",
        "is_encoder_decoder": False,
        "use_cache": False,
    }


def t5_from_state(path: Path, state: dict[str, Any], device: str) -> tuple[Any, Any]:
    from transformers import T5Config, T5EncoderModel

    tokenizer = _t5_tokenizer(path)  # before the large part, so a missing tokenizer fails at once
    try:
        config = T5Config(**t5_config(state))
    except ValueError as exc:
        raise ValueError(f"Text encoder {path.name!r}: {exc}") from None
    state = dequantize_scaled_fp8(state, flow_dtype(device))  # t5xxl_fp8_e4m3fn_scaled, an SD3 checkpoint's
    state.pop("encoder.embed_tokens.weight", None)  # the same matrix as shared.weight: tied below
    model, missing = module_from_state(
        T5EncoderModel, config, state, flow_dtype(device), strict=False, device=device
    )
    model.encoder.embed_tokens.weight = model.shared.weight
    missing = [key for key in missing if key != "encoder.embed_tokens.weight"]
    if missing:
        raise ValueError(f"T5 encoder {path.name!r} lacks weights: {', '.join(missing[:5])}.")
    model.to(device).eval().requires_grad_(False)
    return model, tokenizer


def t5_tokenizer_dir(path: Path) -> Path | None:
    """Where T5's tokenizer (tokenizer.json or spiece.model) is found for the encoder file `path`:
    ``NAME.tokenizer/`` beside it, else ``t5_tokenizer/`` in the same folder."""
    for folder in (path.with_suffix(".tokenizer"), path.parent / SHARED_T5_TOKENIZER):
        if any((folder / name).is_file() for name in T5_TOKENIZER_FILES):
            return folder
    return None


def _t5_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    folder = t5_tokenizer_dir(path)
    if folder is None:
        raise ValueError(
            f"T5 encoder {path.name!r} needs T5's tokenizer, which no installed package ships: put the "
            "tokenizer files of google/t5-v1_1-xxl (tokenizer.json or spiece.model, with "
            "tokenizer_config.json) "
            f"in {path.with_suffix('.tokenizer').name}/ next to it, or in {SHARED_T5_TOKENIZER}/ in the same "
            "folder for every T5 file (docs/flux.md)."
        )
    return AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)


def flux_clip(tokenizer: Any, clip_l: Any, t5_tokenizer: Any, t5: Any) -> ClipHandle:
    """FLUX's CLIP: CLIP-L for the pooled text, T5-XXL for the context."""
    return ClipHandle(
        tokenizer=tokenizer, text_encoder=clip_l, kind="flux", t5_tokenizer=t5_tokenizer, t5_encoder=t5
    )
