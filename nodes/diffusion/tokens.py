"""Tokenizing a long prompt in pieces, with a cancel check between them.

CLIP's tokenizers split text into words at whitespace before BPE, so no token
spans a whitespace boundary: tokenizing whitespace-separated pieces one after
the other gives the very same ids as the whole text at once. Pieces keep a
megabyte prompt's seconds of tokenizing interruptible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PIECE_CHARS = 16_384


def token_ids(tokenizer: Any, text: str, check: Callable[[], None] | None = None) -> list[int]:
    """The prompt's token ids without special tokens or truncation; `check` runs between pieces."""
    if len(text) <= PIECE_CHARS:
        return list(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])
    ids: list[int] = []
    start = 0
    while start < len(text):
        end = min(start + PIECE_CHARS, len(text))
        if end < len(text):
            cut = _last_space(text, start, end)
            end = cut if cut > start else _next_space(text, end)
        if check is not None:
            check()
        ids += tokenizer(text[start:end], add_special_tokens=False, truncation=False)["input_ids"]
        start = end
    return ids


def _last_space(text: str, start: int, end: int) -> int:
    for index in range(end, start, -1):
        if text[index - 1].isspace():
            return index
    return start


def _next_space(text: str, end: int) -> int:
    # One "word" longer than a piece: cut at the next whitespace (or the end), never inside it.
    for index in range(end, len(text)):
        if text[index].isspace():
            return index
    return len(text)
