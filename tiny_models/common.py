"""What every tiny model writer shares: CLIP's tiny tokenizer, JSON and safetensors output, file modes.

Django-free; torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nodes.diffusion.clip_vocab import bytes_to_unicode

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MAX_LENGTH = 77

#: A handful of merges on top of the byte-level alphabet (enough to exercise BPE).
_MERGES: tuple[tuple[str, str], ...] = (
    ("t", "h"),
    ("th", "e</w>"),
    ("a", "n"),
    ("an", "d</w>"),
    ("i", "n"),
    ("in", "g</w>"),
    ("o", "f</w>"),
    ("c", "a"),
    ("ca", "t</w>"),
    ("p", "h"),
    ("ph", "o"),
    ("pho", "t"),
    ("phot", "o</w>"),
)


def tiny_clip_vocab() -> tuple[dict[str, int], list[str]]:
    """Vocab and merges laid out like CLIP's: bytes, bytes + ``</w>``, merges, specials."""
    alphabet = bytes_to_unicode()
    tokens = [*alphabet, *(ch + "</w>" for ch in alphabet)]
    tokens += ["".join(pair) for pair in _MERGES]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    assert len(vocab) == len(tokens), "duplicate token in tiny vocab"
    merges = [f"{a} {b}" for a, b in _MERGES]
    return vocab, merges


def text_encoder_config(vocab_size: int) -> dict[str, Any]:
    """Keyword arguments for the tiny ``CLIPTextConfig`` (SD1's CLIP-L stand-in)."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": MAX_LENGTH,
        "projection_dim": 32,
        "hidden_act": "quick_gelu",
        "bos_token_id": vocab_size - 2,
        "eos_token_id": vocab_size - 1,
        "pad_token_id": vocab_size - 1,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )


def write_tokenizer(folder: Path, vocab: dict[str, int], merges: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "vocab.json", vocab)
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    specials = {
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "pad_token": EOS_TOKEN,
        "unk_token": EOS_TOKEN,
    }
    write_json(folder / "special_tokens_map.json", specials)
    config = {
        **specials,
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_LENGTH,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
    }
    write_json(folder / "tokenizer_config.json", config)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers shows a "Writing model shards" progress bar on save_pretrained; hide it."""
    from transformers.utils import logging as hf_logging

    bars_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars_on:
            hf_logging.enable_progress_bar()


def save_safetensors(state: dict[str, Any], path: Path) -> None:
    """One flat ``.safetensors`` file, its folder created."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def save_weights(state: dict[str, Any], path: Path) -> None:
    """One weights file in the format its suffix names, as users have them: ``.safetensors``; ``.ckpt``
    as a training checkpoint writes it (``torch.save`` of ``{"state_dict": ...}``); ``.pt``/``.pth``/
    ``.bin`` as a plain ``torch.save`` of the state dict."""
    if path.suffix == ".safetensors":
        save_safetensors(state, path)
        return
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in state.items()}
    torch.save({"state_dict": tensors} if path.suffix == ".ckpt" else tensors, path)


def make_readable(path: Path) -> None:
    for file in [path, *path.rglob("*")]:
        if file.is_file():
            file.chmod(0o644)  # safetensors writes 0600; keep it readable by others


def sidecar_config_dir(path: Path) -> Path:
    """Where a single file's own configs live: ``name.safetensors`` -> ``name.config/``."""
    return path.with_suffix(".config")
