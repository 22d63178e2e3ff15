"""How one input or output reads in a catalogue cell of docs/nodes.md (nodes/docs.py writes the tables)."""

from __future__ import annotations

from typing import Any

from nodes.diffusion.samplers import COMFY_SAMPLERS, COMFY_SCHEDULERS
from nodes.schema import ANY, BOOLEAN, COMBO, FLOAT, INT, STRING, InputSpec, OutputSpec

# Lists long enough to name by what they are; each links to where it is documented.
_NAMED_LISTS = {
    COMFY_SAMPLERS: f"ComfyUI's {len(COMFY_SAMPLERS)} sampler names ([samplers.md](samplers.md#samplers))",
    COMFY_SCHEDULERS: f"ComfyUI's {len(COMFY_SCHEDULERS)} schedulers ([samplers.md](samplers.md#schedulers))",
}
_MAX_CHOICES = 8  # longer static lists show their first few and their length
_MAX_TEXT = 32
_PIPE = "\\|"


def input_cell(spec: InputSpec) -> str:
    parts = [f"`{spec.name}` {_type(spec.type)}"]
    detail = _detail(spec)
    if detail:
        parts.append(detail)
    cell = " ".join(parts)
    if not spec.required:
        cell += " *optional*"
    return cell


def output_cell(spec: OutputSpec) -> str:
    label = _type(spec.type)
    cell = f"`{spec.display_name}` {label}" if spec.name and spec.name != spec.type else label
    return cell + (" (a list: what it feeds runs once per item)" if spec.is_list else "")


def _type(name: str) -> str:
    return "any type (`*`)" if name == ANY else name


def _detail(spec: InputSpec) -> str:
    if spec.type == COMBO:
        return _combo(spec)
    if spec.type in (INT, FLOAT):
        bits = []
        if spec.default is not None:
            bits.append(f"= {_number(spec.default)}")
        if spec.min is not None or spec.max is not None:
            low = "" if spec.min is None else _number(spec.min)
            high = "" if spec.max is None else _number(spec.max)
            bits.append(f"({low} to {high})")
        return " ".join(bits)
    if spec.type == BOOLEAN and spec.default is not None:
        return f"= {'true' if spec.default else 'false'}"
    if spec.type == STRING:
        bits = ["multiline"] if spec.options.get("multiline") else []
        if spec.default not in (None, ""):
            bits.insert(0, f"= {_code(_short(str(spec.default)))}")
        return " ".join(bits)
    return ""


def _combo(spec: InputSpec) -> str:
    if spec.choices_source == "files":
        text = "an uploaded file (`fileId` or upload name)"
    elif spec.choices_source == "llm_endpoints":
        text = "an LLM endpoint configured for the tenant ([llm_endpoints.md](llm_endpoints.md))"
    elif spec.choices_source:
        text = f"a file in `MODELS_DIR/{spec.choices_source}/`"
    elif spec.choices in _NAMED_LISTS:
        text = _NAMED_LISTS[spec.choices]
    elif len(spec.choices) <= _MAX_CHOICES:
        text = " / ".join(_code(c) for c in spec.choices)
    else:
        shown = " / ".join(_code(c) for c in spec.choices[:4])
        text = f"{shown} / ... ({len(spec.choices)} choices)"
    if spec.default is not None and not spec.choices_source:
        text += f", default {_code(str(spec.default))}"
    return text


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and value >= 2**31 and (value + 1) & value == 0:
        return f"2^{(value + 1).bit_length() - 1}-1"  # seeds: 0xffffffffffffffff reads better so
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _short(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _code(text: str) -> str:
    if text == "":
        return '`""`'
    tick = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    escaped = text.replace("|", _PIPE)  # a bare pipe would end the table cell
    return f"{tick}{pad}{escaped}{pad}{tick}"
