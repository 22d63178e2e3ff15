"""Opens Hugging Face model folders with transformers: local files only, never the model's own code.

`trust_remote_code` is passed as False explicitly and `local_files_only` as True, so a folder can
neither run Python it brought nor make the worker reach the Hub. The folder is checked before
transformers sees it (nodes.llm.families.refusal), so the refusal names the reason in our words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.llm.families import LLM_FOLDER, VLM_FOLDER, check_loadable, read_model_type


@dataclass(frozen=True)
class LanguageModel:
    """An LLM value: a causal LM, its tokenizer, and the ids that end a reply."""

    model: Any  # transformers PreTrainedModel (AutoModelForCausalLM)
    tokenizer: Any
    name: str
    family: str
    device: str
    stop_ids: frozenset[int]


@dataclass(frozen=True)
class VisionLanguageModel:
    """A VLM value: an image-to-text model, its processor (BLIP's, or Qwen2-VL's image processor)
    and its tokenizer."""

    model: Any
    processor: Any
    tokenizer: Any
    name: str
    family: str
    device: str


def load_language_model(path: Path, name: str, device: str) -> LanguageModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_loadable(path, name, LLM_FOLDER)
    _quiet()
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        path,
        trust_remote_code=False,
        local_files_only=True,
        use_safetensors=True,
        dtype=_dtype(device),
    )
    model = model.to(device).eval()
    return LanguageModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        family=read_model_type(path) or "unknown",
        device=device,
        stop_ids=frozenset(_stop_ids(model, tokenizer)),
    )


def load_vision_language_model(path: Path, name: str, device: str) -> VisionLanguageModel:
    from transformers import (
        AutoImageProcessor,
        AutoProcessor,
        AutoTokenizer,
        BlipForConditionalGeneration,
        Qwen2VLForConditionalGeneration,
    )

    check_loadable(path, name, VLM_FOLDER)
    _quiet()
    family = read_model_type(path) or "unknown"
    options: dict[str, Any] = {"trust_remote_code": False, "local_files_only": True}
    # Each listed family's class is named, never picked from the folder's own config (families.py).
    if family == "qwen2_vl":
        processor = AutoImageProcessor.from_pretrained(path, **options)
        tokenizer = AutoTokenizer.from_pretrained(path, **options)
        model_class: Any = Qwen2VLForConditionalGeneration
    else:
        processor = AutoProcessor.from_pretrained(path, **options)
        tokenizer = processor.tokenizer
        model_class = BlipForConditionalGeneration
    model = model_class.from_pretrained(
        path, local_files_only=True, use_safetensors=True, dtype=_dtype(device)
    )
    return VisionLanguageModel(
        model=model.to(device).eval(),
        processor=processor,
        tokenizer=tokenizer,
        name=name,
        family=family,
        device=device,
    )


def _quiet() -> None:
    """No per-shard progress bars in a worker's log (transformers draws one for every load)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _dtype(device: str) -> Any:
    """float32 on the CPU (half precision is slow there and some ops lack it); bfloat16 on a GPU that
    has it (the precision these models are published in), else float16."""
    import torch

    if not device.startswith("cuda"):
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """The end-of-turn ids: the tokenizer's EOS and every id the generation config ends on (Llama 3
    ends a chat turn on <|eot_id|>, which is not its tokenizer's EOS)."""
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(v for v in value if isinstance(v, int))
    return ids
