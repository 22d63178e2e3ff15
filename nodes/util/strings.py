"""The primitive and string nodes (ComfyUI's nodes_primitive and nodes_string). Torch-free.

Behaviour is ComfyUI's, with two differences on bad input, both loud: an invalid pattern is an
error naming `regex_pattern` (ComfyUI's RegexMatch answers False and RegexExtract "" instead), and
every text a node takes or makes is bounded (nodes/util/safe_regex.py), so chained
concatenations or a replacement at every position cannot fill a worker's memory.
"""

from __future__ import annotations

from typing import Any

from nodes.context import NodeContext
from nodes.util.safe_regex import (
    MAX_TEXT_CHARS,
    RegexRefused,
    check_text,
    compile_pattern,
    regex_flags,
    timed,
    timeout_refused,
)

JOIN = "\n"  # RegexExtract's "All ..." modes put one result per line


def primitive(ctx: NodeContext, value: Any) -> tuple[Any]:
    return (value,)


def _out(text: str) -> tuple[str]:
    if len(text) > MAX_TEXT_CHARS:
        raise RegexRefused(
            f"The result would be {len(text):,} characters long; at most {MAX_TEXT_CHARS:,} are allowed."
        )
    return (text,)


def string_concatenate(ctx: NodeContext, string_a: str, string_b: str, delimiter: str = "") -> tuple[str]:
    size = len(string_a) + len(delimiter) + len(string_b)
    if size > MAX_TEXT_CHARS:
        raise RegexRefused(
            f"The result would be {size:,} characters long; at most {MAX_TEXT_CHARS:,} are allowed."
        )
    return (string_a + delimiter + string_b,)


def string_substring(ctx: NodeContext, string: str, start: int, end: int) -> tuple[str]:
    return (string[start:end],)  # Python slicing, as ComfyUI: negative positions count from the end


def string_length(ctx: NodeContext, string: str) -> tuple[int]:
    return (len(string),)


def case_converter(ctx: NodeContext, string: str, mode: str) -> tuple[str]:
    convert = {"UPPERCASE": str.upper, "lowercase": str.lower, "Capitalize": str.capitalize}
    return _out(convert.get(mode, str.title)(string))  # upper() can lengthen text ("ß" -> "SS")


def string_trim(ctx: NodeContext, string: str, mode: str) -> tuple[str]:
    trim = {"Both": str.strip, "Left": str.lstrip, "Right": str.rstrip}
    return (trim[mode](string),)


def string_replace(ctx: NodeContext, string: str, find: str, replace: str) -> tuple[str]:
    # Sized before it is built: an empty `find` matches between every two characters.
    count = string.count(find)
    size = len(string) + count * (len(replace) - len(find))
    if size > MAX_TEXT_CHARS:
        raise RegexRefused(
            f"The result would be {size:,} characters long; at most {MAX_TEXT_CHARS:,} are allowed."
        )
    return (string.replace(find, replace),)


def string_contains(
    ctx: NodeContext, string: str, substring: str, case_sensitive: bool = True
) -> tuple[bool]:
    if not case_sensitive:
        string, substring = string.lower(), substring.lower()
    return (substring in string,)


def string_compare(
    ctx: NodeContext, string_a: str, string_b: str, mode: str, case_sensitive: bool = True
) -> tuple[bool]:
    if not case_sensitive:
        string_a, string_b = string_a.lower(), string_b.lower()
    if mode == "Starts With":
        return (string_a.startswith(string_b),)
    if mode == "Ends With":
        return (string_a.endswith(string_b),)
    return (string_a == string_b,)


def regex_match(
    ctx: NodeContext,
    string: str,
    regex_pattern: str,
    case_insensitive: bool = True,
    multiline: bool = False,
    dotall: bool = False,
) -> tuple[bool]:
    pattern = compile_pattern(regex_pattern, regex_flags(case_insensitive, multiline, dotall))
    return (timed(pattern.search, check_text(string, "string")) is not None,)


def regex_extract(
    ctx: NodeContext,
    string: str,
    regex_pattern: str,
    mode: str,
    case_insensitive: bool = True,
    multiline: bool = False,
    dotall: bool = False,
    group_index: int = 1,
) -> tuple[str]:
    pattern = compile_pattern(regex_pattern, regex_flags(case_insensitive, multiline, dotall))
    text = check_text(string, "string")
    if mode == "First Match":
        found = timed(pattern.search, text)
        return (found.group(0) if found else "",)
    if mode == "First Group":
        found = timed(pattern.search, text)
        return (_group(found, group_index) if found else "",)
    pieces = []
    # finditer is lazy: every step matches on, still under the timeout given when it was made.
    with timeout_refused():
        for found in timed(pattern.finditer, text):
            if mode == "All Matches":
                # As re.findall: the whole match, or the first group when the pattern has groups.
                pieces.append(found.group(1 if pattern.groups else 0) or "")
            elif pattern.groups and group_index <= pattern.groups and found.group(group_index) is not None:
                pieces.append(found.group(group_index))  # "All Groups"
    return _out(JOIN.join(pieces))


def regex_replace(
    ctx: NodeContext,
    string: str,
    regex_pattern: str,
    replace: str,
    case_insensitive: bool = True,
    multiline: bool = False,
    dotall: bool = False,
    count: int = 0,
) -> tuple[str]:
    pattern = compile_pattern(regex_pattern, regex_flags(case_insensitive, multiline, dotall))
    text = check_text(string, "string")
    check_text(replace, "replace")
    grown = 0

    def substitute(found: Any) -> str:
        nonlocal grown
        piece = found.expand(replace)
        grown += len(piece) - (found.end() - found.start())
        if len(text) + grown > MAX_TEXT_CHARS:
            raise RegexRefused(f"The result would be over {MAX_TEXT_CHARS:,} characters long; stopped.")
        return piece

    import regex

    try:
        return (timed(pattern.sub, substitute, text, count=count),)
    except (regex.error, IndexError) as exc:
        # A group reference in `replace` that the pattern lacks ("\\3" with two groups).
        raise RegexRefused(f"Input 'replace': {replace[:80]!r} cannot be expanded ({exc}).") from None


def _group(found: Any, index: int) -> str:
    """Group `index` of a match, "" when the pattern has fewer groups or that group took no part."""
    if index > len(found.groups()):
        return ""
    return found.group(index) or ""
