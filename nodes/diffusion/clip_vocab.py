"""CLIP's tokenizer files (vocab.json, merges.txt), built offline from the BPE list open_clip_torch ships.

A single-file checkpoint carries no tokenizer, and CLIP's vocabulary is not in this repository. The
``open_clip_torch`` wheel (installed without its dependencies, never imported) holds OpenAI's BPE merge
list, ``bpe_simple_vocab_16e6.txt.gz``, from which CLIP's vocabulary follows: the 256 byte symbols, the
same with ``</w>``, one token per merge (the first 48,894 merges), then ``<|startoftext|>`` and
``<|endoftext|>``: 49,408 tokens, in the order of the ids SD's text encoders were trained with.
The folder is built once per user under ``$XDG_CACHE_HOME/crucible`` (``~/.cache/crucible``).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from functools import cache
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


TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def bundled_tokenizer_dir(configs: Path) -> Path | None:
    """A CLIPTokenizer folder: the vocabulary built from the bundled BPE list plus the tokenizer configs
    in `configs` (special tokens, 77 tokens). Built once per user into a private cache folder; None
    when open_clip_torch is not installed."""
    bpe = bundled_bpe_path()
    if bpe is None:
        return None
    # Keyed by everything that goes in, so a changed BPE list or config never serves a stale folder.
    digest = hashlib.sha256(bpe.read_bytes())
    for name in TOKENIZER_FILES[2:]:
        digest.update((configs / name).read_bytes() if (configs / name).is_file() else b"-")
    target = _cache_root() / f"clip-tokenizer-{digest.hexdigest()[:16]}"
    if _complete(target, configs):
        return target
    building = Path(tempfile.mkdtemp(prefix="clip-tokenizer-", dir=_cache_root()))
    try:
        vocab, merges = clip_vocabulary(bpe)
        (building / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        (building / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        for name in TOKENIZER_FILES[2:]:
            if (configs / name).is_file():
                shutil.copy(configs / name, building / name)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if target.exists() and not _complete(target, configs):
        shutil.rmtree(target, ignore_errors=True)  # a folder a cleaner emptied in part: rebuild it
    try:
        os.replace(building, target)  # atomic: concurrent workers never see half a folder
    except OSError:  # another process finished first, or the old folder could not be removed
        if _complete(target, configs):
            shutil.rmtree(building, ignore_errors=True)
        else:
            return building  # use our own complete copy
    return target


def _complete(folder: Path, configs: Path) -> bool:
    needed = [name for name in TOKENIZER_FILES if name in TOKENIZER_FILES[:2] or (configs / name).is_file()]
    return all((folder / name).is_file() for name in needed)


@cache
def _cache_root() -> Path:
    """This user's cache folder (never a shared, predictable path in a world-writable directory)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(base) / "crucible"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="crucible-cache-"))  # private (0700) when home is read-only
