"""Regular expressions a tenant writes, run so that none can hold a worker: bounded and timed.

Python's `re` cannot be interrupted: a pattern such as ``(a|aa)+$`` against a few dozen characters
backtracks for longer than the universe has existed. The `regex` package runs the same syntax
with a `timeout`, checked inside its matching loop, so a hostile pattern costs at most
REGEX_TIMEOUT_SECONDS of CPU time (the package measures CPU time, not the wall clock: on a busy
machine the wall time is longer, the work done the same). Patterns and texts are bounded too, and
outputs (a replacement can grow a text by its length at every position) are capped while they are
built. Torch-free: the api compiles literal patterns at validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

MAX_PATTERN_CHARS = 2_000
# Compiling unrolls a counted repeat's required part: (?:a{1000}){1000} is a million steps before any
# text is seen (and the timeout covers matching only), so the unrolled size is bounded first.
MAX_PATTERN_EXPANSION = 100_000
# The longest text a string node takes or makes (an LLM's answer, a long prompt, with room to spare).
MAX_TEXT_CHARS = 1_000_000
REGEX_TIMEOUT_SECONDS = 1.0


class RegexRefused(ValueError):
    """A pattern or text over its bound, a pattern that does not compile, or a match that ran too long."""


def regex_flags(case_insensitive: bool, multiline: bool, dotall: bool) -> int:
    import regex

    flags = regex.VERSION0  # Python re's semantics (VERSION1 changes set operations and case folding)
    if case_insensitive:
        flags |= regex.IGNORECASE
    if multiline:
        flags |= regex.MULTILINE
    if dotall:
        flags |= regex.DOTALL
    return flags


def compile_pattern(pattern: str, flags: int, field: str = "regex_pattern") -> Any:
    """The compiled pattern; RegexRefused (naming the field) if it is too long or invalid."""
    import regex

    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexRefused(
            f"Input {field!r}: the pattern is {len(pattern):,} characters; at most {MAX_PATTERN_CHARS:,} "
            "are allowed."
        )
    expansion = unrolled_size(pattern)
    if expansion > MAX_PATTERN_EXPANSION:
        raise RegexRefused(
            f"Input {field!r}: its counted repeats unroll to {expansion:,} steps (nested {{n}} repeats "
            f"multiply); at most {MAX_PATTERN_EXPANSION:,} are allowed."
        )
    try:
        return regex.compile(pattern, flags)
    except regex.error as exc:
        raise RegexRefused(
            f"Input {field!r}: {pattern[:80]!r} is not a valid regular expression ({exc})."
        ) from None


_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def unrolled_size(pattern: str) -> int:
    """An upper bound of the pattern's size with every counted repeat's minimum written out.

    A scan, not a parse: escapes and character classes are one atom each, a group is the longest of
    its alternatives, `{m}` / `{m,}` / `{m,n}` multiply the atom before them by m. Anything it does
    not understand counts as one atom, which only ever overestimates.
    """
    frames = [[0, 0, 0]]  # per open group: [this alternative's size, the longest alternative, last atom]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        atom = 1
        if char == "\\":
            i += 2
            if i < len(pattern) and pattern[i - 1] in "pPNx" and pattern[i] == "{":
                i = pattern.find("}", i) + 1 or len(pattern)
        elif char == "[":
            i = _class_end(pattern, i)
        elif char == "(":
            frames.append([0, 0, 0])
            i += 1
            continue
        elif char == ")" and len(frames) > 1:
            size, longest, _ = frames.pop()
            atom = max(size, longest, 1)
            i += 1
        elif char == "|":
            frame = frames[-1]
            frame[1], frame[0], frame[2] = max(frame[1], frame[0]), 0, 0
            i += 1
            continue
        elif char == "{" and (count := _COUNT.match(pattern, i)) and count.group(1):
            frame = frames[-1]
            times = int(count.group(1))
            frame[0] += frame[2] * (times - 1)
            frame[2] *= times
            i = count.end()
            continue
        else:
            i += 1
        frames[-1][0] += atom
        frames[-1][2] = atom
    while len(frames) > 1:  # unclosed groups: the compile error will say so
        size, longest, _ = frames.pop()
        frames[-1][0] += max(size, longest)
    return max(frames[0][0], frames[0][1])


def _class_end(pattern: str, start: int) -> int:
    """The index after the character class opening at `start` ("[]a]" and "[^]a]" hold a literal ])."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def check_text(text: str, field: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise RegexRefused(
            f"Input {field!r} is {len(text):,} characters long; string nodes take at most {MAX_TEXT_CHARS:,}."
        )
    return text


def timed(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a `regex` call with the timeout; RegexRefused if it runs out."""
    with timeout_refused():
        return call(*args, timeout=REGEX_TIMEOUT_SECONDS, **kwargs)


@contextmanager
def timeout_refused() -> Iterator[None]:
    """Inside, a regex TimeoutError (from a call, or a lazy finditer's next step) is a RegexRefused."""
    try:
        yield
    except TimeoutError:
        raise RegexRefused(
            f"Input 'regex_pattern': matching took more than {REGEX_TIMEOUT_SECONDS:g} s of CPU time and "
            "was stopped; the pattern backtracks too much on this text (nested repetition such as (a+)+)."
        ) from None


def validate_pattern(values: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
    """A node check: a literal `regex_pattern` must be short enough and compile (with the node's flags)."""
    pattern = values.get("regex_pattern")
    if not isinstance(pattern, str):
        return []  # linked (known only when it runs) or already reported as the wrong type
    flags = [values.get(name, default) for name, default in _FLAG_DEFAULTS]
    if not all(isinstance(flag, bool) for flag in flags):
        return []
    try:
        compile_pattern(pattern, regex_flags(*flags))
    except RegexRefused as exc:
        return [("regex_pattern", "value_not_valid", str(exc))]
    return []


_FLAG_DEFAULTS = (("case_insensitive", True), ("multiline", False), ("dotall", False))
