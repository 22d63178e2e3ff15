"""CLIP's tokenizer built offline from the BPE list open_clip_torch ships: the ids SD was trained with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from transformers import CLIPTokenizer

from nodes.diffusion.clip_vocab import VOCAB_SIZE, bundled_bpe_path, bundled_tokenizer_dir
from nodes.diffusion.single_file import DEFAULT_CONFIG_DIR, _tokenizer_dir


def test_the_bundled_vocabulary_gives_clips_ids() -> None:
    folder = bundled_tokenizer_dir(DEFAULT_CONFIG_DIR / "tokenizer")
    assert folder is not None
    tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
    assert len(tokenizer) == VOCAB_SIZE == 49408
    assert tokenizer.model_max_length == 77
    # Published ids of openai/clip-vit-large-patch14 (SD 1.x and SDXL's first encoder).
    assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407


def test_the_bpe_list_is_found_without_importing_open_clip() -> None:
    assert bundled_bpe_path() is not None
    assert "open_clip" not in sys.modules  # importing it would import torchvision


def test_a_sidecar_tokenizer_wins_over_the_bundled_one(tmp_path: Path) -> None:
    from tiny_models.sd15 import write_tiny_sd15_single_file

    path = write_tiny_sd15_single_file(tmp_path / "model.safetensors")
    assert _tokenizer_dir(path, path.with_suffix(".config")) == path.with_suffix(".config") / "tokenizer"
    bare = tmp_path / "bare.safetensors"
    bare.write_bytes(path.read_bytes())
    assert _tokenizer_dir(bare, DEFAULT_CONFIG_DIR) == bundled_tokenizer_dir(DEFAULT_CONFIG_DIR / "tokenizer")


def test_a_folder_a_cleaner_emptied_in_part_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    from nodes.diffusion import clip_vocab

    clip_vocab._cache_root.cache_clear()
    try:
        folder = bundled_tokenizer_dir(DEFAULT_CONFIG_DIR / "tokenizer")
        assert folder is not None and folder.is_relative_to(tmp_path)
        (folder / "merges.txt").unlink()
        again = bundled_tokenizer_dir(DEFAULT_CONFIG_DIR / "tokenizer")
        assert again is not None and (again / "merges.txt").is_file()
        assert CLIPTokenizer.from_pretrained(again, local_files_only=True)("a cat")["input_ids"] == [
            49406, 320, 2368, 49407,
        ]  # fmt: skip
    finally:
        clip_vocab._cache_root.cache_clear()
