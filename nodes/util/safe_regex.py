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

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

MAX_PATTERN_CHARS = 2_000
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
    try:
        return regex.compile(pattern, flags)
    except regex.error as exc:
        raise RegexRefused(
            f"Input {field!r}: {pattern[:80]!r} is not a valid regular expression ({exc})."
        ) from None


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
