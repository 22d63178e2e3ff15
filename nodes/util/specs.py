"""Schemas of the primitive and string nodes (ComfyUI's nodes_primitive and nodes_string, V3 nodes)."""

from __future__ import annotations

from typing import Any

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import BOOLEAN, COMBO, FLOAT, INT, STRING, InputSpec, OutputSpec
from nodes.util.safe_regex import validate_pattern

OPS = "nodes.util.strings"
PRIMITIVE = "utils/primitive"
STRINGS = "utils/string"
# ComfyUI's primitives take any 64-bit value (the float one too, written as integers).
INT64 = 9223372036854775807
REGEX_FLAGS = ("case_insensitive", "multiline", "dotall")


def _text(name: str) -> InputSpec:
    return InputSpec(name, STRING, options={"multiline": True})


def _flag(name: str, default: bool, *, required: bool = True, tooltip: str | None = None) -> InputSpec:
    return InputSpec(name, BOOLEAN, required=required, default=default, tooltip=tooltip)


def _primitive(class_type: str, display: str, value: InputSpec, out: str) -> V3NodeSpec:
    return V3NodeSpec(
        class_type=class_type,
        display_name=display,
        category=PRIMITIVE,
        impl=f"{OPS}:primitive",
        inputs=(value,),
        outputs=(OutputSpec(out),),
    )


def _string(
    class_type: str,
    display: str,
    impl: str,
    inputs: tuple[InputSpec, ...],
    outputs: tuple[OutputSpec, ...],
    **extra: Any,
) -> V3NodeSpec:
    return V3NodeSpec(
        class_type=class_type,
        display_name=display,
        category=STRINGS,
        impl=f"{OPS}:{impl}",
        inputs=inputs,
        outputs=outputs,
        **extra,
    )


_STR = (OutputSpec(STRING),)
_BOOL = (OutputSpec(BOOLEAN),)

SPECS = (
    _primitive(
        "PrimitiveInt",
        "Int",
        InputSpec("value", INT, min=-INT64, max=INT64, options={"control_after_generate": True}),
        INT,
    ),
    _primitive("PrimitiveFloat", "Float", InputSpec("value", FLOAT, min=-INT64, max=INT64), FLOAT),
    _primitive("PrimitiveString", "String", InputSpec("value", STRING, options={"multiline": False}), STRING),
    _primitive("PrimitiveStringMultiline", "String (Multiline)", _text("value"), STRING),
    _primitive("PrimitiveBoolean", "Boolean", InputSpec("value", BOOLEAN), BOOLEAN),
    _string(
        "StringConcatenate",
        "Concatenate",
        "string_concatenate",
        (
            _text("string_a"),
            _text("string_b"),
            InputSpec("delimiter", STRING, default="", options={"multiline": False}),
        ),
        _STR,
    ),
    _string(
        "StringSubstring",
        "Substring",
        "string_substring",
        (_text("string"), InputSpec("start", INT), InputSpec("end", INT)),
        _STR,
    ),
    _string("StringLength", "Length", "string_length", (_text("string"),), (OutputSpec(INT, name="length"),)),
    _string(
        "CaseConverter",
        "Case Converter",
        "case_converter",
        (
            _text("string"),
            InputSpec("mode", COMBO, choices=("UPPERCASE", "lowercase", "Capitalize", "Title Case")),
        ),
        _STR,
    ),
    _string(
        "StringTrim",
        "Trim",
        "string_trim",
        (_text("string"), InputSpec("mode", COMBO, choices=("Both", "Left", "Right"))),
        _STR,
    ),
    _string(
        "StringReplace", "Replace", "string_replace", (_text("string"), _text("find"), _text("replace")), _STR
    ),
    _string(
        "StringContains",
        "Contains",
        "string_contains",
        (_text("string"), _text("substring"), _flag("case_sensitive", True)),
        (OutputSpec(BOOLEAN, name="contains"),),
    ),
    _string(
        "StringCompare",
        "Compare",
        "string_compare",
        (
            _text("string_a"),
            _text("string_b"),
            InputSpec("mode", COMBO, choices=("Starts With", "Ends With", "Equal")),
            _flag("case_sensitive", True),
        ),
        _BOOL,
    ),
    _string(
        "RegexMatch",
        "Regex Match",
        "regex_match",
        (
            _text("string"),
            _text("regex_pattern"),
            _flag("case_insensitive", True),
            _flag("multiline", False),
            _flag("dotall", False),
        ),
        (OutputSpec(BOOLEAN, name="matches"),),
        checks=(validate_pattern,),
    ),
    _string(
        "RegexExtract",
        "Regex Extract",
        "regex_extract",
        (
            _text("string"),
            _text("regex_pattern"),
            InputSpec("mode", COMBO, choices=("First Match", "All Matches", "First Group", "All Groups")),
            _flag("case_insensitive", True),
            _flag("multiline", False),
            _flag("dotall", False),
            InputSpec("group_index", INT, default=1, min=0, max=100),
        ),
        _STR,
        checks=(validate_pattern,),
    ),
    _string(
        "RegexReplace",
        "Regex Replace",
        "regex_replace",
        (
            _text("string"),
            _text("regex_pattern"),
            _text("replace"),
            _flag("case_insensitive", True, required=False),
            _flag("multiline", False, required=False),
            _flag(
                "dotall",
                False,
                required=False,
                tooltip=(
                    "When enabled, the dot (.) character will match any character including newline "
                    "characters. When disabled, dots won't match newlines."
                ),
            ),
            InputSpec(
                "count",
                INT,
                required=False,
                default=0,
                min=0,
                max=100,
                tooltip=(
                    "Maximum number of replacements to make. Set to 0 to replace all occurrences (default). "
                    "Set to 1 to replace only the first match, 2 for the first two matches, etc."
                ),
            ),
        ),
        _STR,
        description="Find and replace text using regex patterns.",
        checks=(validate_pattern,),
    ),
)
