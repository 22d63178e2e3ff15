"""Cost rules of the string nodes: how long a text can be when it reaches a prompt.

A STRING output linked into CLIPTextEncode is a prompt too, and the prompt-token limit must hold
for it as for a typed one. Each rule gives a `Text`: an upper bound on its characters and on its
estimated tokens (nodes.cost.estimate_tokens), exact for literals and concatenations, a safe bound
after replacements, case changes and extraction (which the api does not run). Bounds are capped at
what the nodes themselves refuse to exceed (nodes/util/safe_regex.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodes.cost import NodeCost, Rule, estimate_tokens
from nodes.llm.specs import MAX_CHARS_PER_TOKEN, PROMPT_TOKENS_PER_TOKEN
from nodes.util.safe_regex import MAX_TEXT_CHARS

# estimate_tokens counts a character as at most 4 tokens (a 4-byte UTF-8 character).
TOKENS_PER_CHAR = 4


@dataclass(frozen=True)
class Text:
    chars: int
    tokens: int

    @classmethod
    def bounded(cls, chars: int) -> Text:
        chars = min(chars, MAX_TEXT_CHARS)
        return cls(chars, chars * TOKENS_PER_CHAR)


UNKNOWN = Text.bounded(MAX_TEXT_CHARS)


def text_of(n: NodeCost, name: str) -> Text:
    """The text on an input: measured when typed, the upstream bound when linked, else the largest."""
    linked = n.linked(name)
    if isinstance(linked, Text):
        return linked
    value = n.value(name)
    if isinstance(value, str) and not _is_linked(n, name):
        return Text(len(value), estimate_tokens(value))
    return UNKNOWN


def _is_linked(n: NodeCost, name: str) -> bool:
    return n.is_linked(name)


def primitive_string(n: NodeCost) -> tuple[Any, ...]:
    return (text_of(n, "value"),)


def concatenate(n: NodeCost) -> tuple[Any, ...]:
    # Token estimates add up or overcount (two letter runs may merge into one): a sum is a bound.
    parts = [text_of(n, name) for name in ("string_a", "delimiter", "string_b")]
    return (Text(min(MAX_TEXT_CHARS, sum(p.chars for p in parts)), sum(p.tokens for p in parts)),)


def shortening(name: str) -> Rule:
    """Substring, trim: a part of the text, never more characters or tokens than the whole."""
    return lambda n: (text_of(n, name),)


def case_converter(n: NodeCost) -> tuple[Any, ...]:
    # Unicode case mapping turns one character into at most three ("ß" -> "SS", "ﬃ" -> "FFI").
    return (Text.bounded(text_of(n, "string").chars * 3),)


def string_replace(n: NodeCost) -> tuple[Any, ...]:
    src, find, replace = text_of(n, "string"), n.value("find"), n.value("replace")
    if not isinstance(find, str) or not isinstance(replace, str) or _is_linked(n, "find"):
        return (UNKNOWN,)
    if _is_linked(n, "replace"):
        return (UNKNOWN,)
    grow = max(0, len(replace) - len(find))
    # An empty `find` matches between every two characters; a non-empty one at most chars/len times.
    count = src.chars + 1 if not find else src.chars // len(find)
    return (Text.bounded(src.chars + count * grow),)


def regex_replace(n: NodeCost) -> tuple[Any, ...]:
    src, replace = text_of(n, "string"), n.value("replace")
    if not isinstance(replace, str) or _is_linked(n, "replace") or "\\" in replace:
        return (UNKNOWN,)  # a group reference copies matched text: only the node's own cap bounds it
    count = n.number("count")
    matches = src.chars + 1 if not count else min(src.chars + 1, int(count))
    return (Text.bounded(src.chars + matches * len(replace)),)


def regex_extract(n: NodeCost) -> tuple[Any, ...]:
    # Matches do not overlap: their characters are the input's at most, plus one newline between each.
    return (Text.bounded(2 * text_of(n, "string").chars + 1),)


def generated(per_image: bool) -> Rule:
    """LLMGenerate, ImageCaption: at most max_new_tokens tokens (per image for a caption), each cut
    by the node to MAX_CHARS_PER_TOKEN characters and PROMPT_TOKENS_PER_TOKEN prompt tokens."""

    def rule(n: NodeCost) -> tuple[Any, ...]:
        tokens = int(n.number("max_new_tokens"))
        if per_image:
            tokens *= n.pixels("image").batch
        chars = min(MAX_TEXT_CHARS, tokens * MAX_CHARS_PER_TOKEN)
        return (Text(chars, tokens * PROMPT_TOKENS_PER_TOKEN),)

    return rule


RULES: dict[str, Rule] = {
    "LLMGenerate": generated(per_image=False),
    "ImageCaption": generated(per_image=True),
    "PrimitiveString": primitive_string,
    "PrimitiveStringMultiline": primitive_string,
    "StringConcatenate": concatenate,
    "StringSubstring": shortening("string"),
    "StringTrim": shortening("string"),
    "CaseConverter": case_converter,
    "StringReplace": string_replace,
    "RegexReplace": regex_replace,
    "RegexExtract": regex_extract,
}
