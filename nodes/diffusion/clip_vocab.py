"""CLIP's tokenizer files (vocab.json, merges.txt), built offline from the BPE list open_clip_torch ships.

A single-file checkpoint carries no tokenizer, and CLIP's vocabulary is not in this repository. The
``open_clip_torch`` wheel (installed without its dependencies, never imported) holds OpenAI's BPE merge
list, ``bpe_simple_vocab_16e6.txt.gz``, from which CLIP's vocabulary follows: the 256 byte symbols, the
same with ``</w>``, one token per merge (the first 48,894 merges), then ``<|startoftext|>`` and
``<|endoftext|>``: 49,408 tokens, in the order of the ids SD's text encoders were trained with.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 49152 - 256 - 2  # CLIP uses this many merges of the list
VOCAB_SIZE = 2 * 256 + MERGE_COUNT + 2
SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")


def bytes_to_unicode() -> list[str]:
    """The GPT-2/CLIP table from each byte (in CLIP's order) to a printable character."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def bundled_bpe_path() -> Path | None:
    """open_clip_torch's BPE list, located without importing the package (it imports torchvision)."""
    spec = importlib.util.find_spec("open_clip")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / BPE_FILE
        if candidate.is_file():
            return candidate
    return None


def clip_vocabulary(bpe_path: Path) -> tuple[dict[str, int], list[str]]:
    """CLIP's token -> id table and its merges ("a b" lines), from the gzipped BPE list."""
    lines = gzip.decompress(bpe_path.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : MERGE_COUNT + 1]  # the first line is a version header
    alphabet = bytes_to_unicode()
    tokens = [*alphabet, *(symbol + "</w>" for symbol in alphabet)]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += list(SPECIAL_TOKENS)
    return {token: index for index, token in enumerate(tokens)}, merges


def bundled_tokenizer_dir(configs: Path) -> Path | None:
    """A CLIPTokenizer folder: the vocabulary built from the bundled BPE list plus the tokenizer configs
    in `configs` (special tokens, 77 tokens). Built once per machine into the temp folder; None when
    open_clip_torch is not installed."""
    bpe = bundled_bpe_path()
    if bpe is None:
        return None
    stamp = f"{bpe.stat().st_size}-{configs.resolve().as_posix().replace('/', '_')[-80:]}"
    target = Path(tempfile.gettempdir()) / f"crucible-clip-tokenizer-{stamp}"
    if (target / "vocab.json").is_file() and (target / "merges.txt").is_file():
        return target
    building = Path(tempfile.mkdtemp(prefix="crucible-clip-tokenizer-"))
    vocab, merges = clip_vocabulary(bpe)
    (building / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (building / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (configs / name).is_file():
            shutil.copy(configs / name, building / name)
    building.chmod(0o755)
    try:
        os.replace(building, target)  # atomic: concurrent workers never see half a folder
    except OSError:  # another process won the race
        shutil.rmtree(building, ignore_errors=True)
    return target
