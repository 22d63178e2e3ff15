"""Primitive and string nodes as ComfyUI behaves, and regular expressions that cannot hold a worker."""

from __future__ import annotations

import time

import pytest

from nodes.catalog import default_registry
from nodes.graph import validate_graph
from nodes.util.safe_regex import MAX_PATTERN_CHARS, MAX_TEXT_CHARS, REGEX_TIMEOUT_SECONDS, RegexRefused
from tests.support.node_context import NodeTestContext

CTX = NodeTestContext()


def run(class_type: str, **inputs: object) -> object:
    """The node as the executor calls it: its registered implementation, defaults filled in."""
    spec = default_registry().get(class_type)
    assert spec is not None
    for inp in spec.inputs:
        if inp.name not in inputs and inp.default is not None:
            inputs[inp.name] = inp.default
    (value,) = default_registry().implementation(class_type)(CTX, **inputs)
    return value


@pytest.mark.parametrize(
    ("class_type", "value"),
    [
        ("PrimitiveInt", -(2**63) + 1),
        ("PrimitiveFloat", 2.5),
        ("PrimitiveString", "a prompt"),
        ("PrimitiveStringMultiline", "line one\nline two"),
        ("PrimitiveBoolean", False),
    ],
)
def test_primitives_give_their_value(class_type: str, value: object) -> None:
    assert run(class_type, value=value) == value


def test_primitives_need_a_value_and_are_range_checked() -> None:
    issues = validate_graph(
        {
            "1": {"class_type": "PrimitiveInt", "inputs": {"value": 2**63}},
            "2": {"class_type": "PrimitiveBoolean", "inputs": {}},
            "3": {"class_type": "StringLength", "inputs": {"string": ["1", 0]}},
            "4": {"class_type": "StringLength", "inputs": {"string": ["2", 0]}},
            "5": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}},
            "6": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}},
        },
        default_registry(),
    )
    kinds = {(i.node_id, i.type) for i in issues}
    assert ("1", "value_out_of_range") in kinds
    assert ("2", "required_input_missing") in kinds
    assert ("3", "link_type_mismatch") in kinds  # an INT is not a STRING


def test_string_operations_follow_comfyui() -> None:
    assert run("StringConcatenate", string_a="a red", string_b="fox", delimiter=" ") == "a red fox"
    assert run("StringConcatenate", string_a="ab", string_b="cd") == "abcd"
    assert run("StringSubstring", string="crucible", start=1, end=-2) == "rucib"
    assert run("StringLength", string="héllo") == 5
    assert run("CaseConverter", string="a red FOX", mode="UPPERCASE") == "A RED FOX"
    assert run("CaseConverter", string="a red FOX", mode="lowercase") == "a red fox"
    assert run("CaseConverter", string="a red FOX", mode="Capitalize") == "A red fox"
    assert run("CaseConverter", string="a red FOX", mode="Title Case") == "A Red Fox"
    assert [run("StringTrim", string="  x \n", mode=m) for m in ("Both", "Left", "Right")] == [
        "x",
        "x \n",
        "  x",
    ]
    assert run("StringReplace", string="cat and cat", find="cat", replace="dog") == "dog and dog"
    assert run("StringContains", string="A Fox", substring="fox") is False
    assert run("StringContains", string="A Fox", substring="fox", case_sensitive=False) is True
    assert run("StringCompare", string_a="Fox den", string_b="fox", mode="Starts With") is False
    assert run("StringCompare", string_a="Fox den", string_b="fox", mode="Starts With", case_sensitive=False)
    assert run("StringCompare", string_a="a.png", string_b=".png", mode="Ends With") is True
    assert run("StringCompare", string_a="x", string_b="x", mode="Equal") is True


def test_regex_nodes_follow_comfyui() -> None:
    text = "Seed 42, steps 20\nseed 7"
    assert run("RegexMatch", string=text, regex_pattern=r"^seed \d+$") is False
    assert run("RegexMatch", string=text, regex_pattern=r"^seed \d+$", multiline=True) is True
    assert run("RegexMatch", string="A", regex_pattern="a", case_insensitive=False) is False
    extract = {"string": text, "regex_pattern": r"seed (\d+)"}
    assert run("RegexExtract", mode="First Match", **extract) == "Seed 42"
    assert run("RegexExtract", mode="All Matches", **extract) == "42\n7"  # as findall: the group
    assert run("RegexExtract", mode="All Matches", string=text, regex_pattern=r"\d+") == "42\n20\n7"
    assert run("RegexExtract", mode="First Group", **extract) == "42"
    assert run("RegexExtract", mode="All Groups", **extract) == "42\n7"
    assert run("RegexExtract", mode="First Group", group_index=2, **extract) == ""
    assert run("RegexExtract", mode="First Match", string="abc", regex_pattern="z") == ""
    assert run("RegexReplace", string="a1b22", regex_pattern=r"\d+", replace="#") == "a#b#"
    assert run("RegexReplace", string="a1b22", regex_pattern=r"(\d)", replace=r"<\1>", count=1) == "a<1>b22"
    assert run("RegexReplace", string="x.y", regex_pattern=".", replace="-", dotall=True) == "---"


def test_a_catastrophic_pattern_is_stopped_after_the_timeout() -> None:
    # Python's re would backtrack on this for longer than the universe has existed.
    started = time.process_time()  # the regex package's timeout is CPU time (wall time varies with load)
    with pytest.raises(RegexRefused, match="took more than 1 s of CPU time and was stopped"):
        run("RegexMatch", string="a" * 64 + "!", regex_pattern=r"(a|aa)+$")
    assert time.process_time() - started < REGEX_TIMEOUT_SECONDS + 0.5
    with pytest.raises(RegexRefused, match="was stopped"):
        run("RegexReplace", string="a" * 64 + "!", regex_pattern=r"(a|aa)+$", replace="")
    with pytest.raises(RegexRefused, match="was stopped"):
        run("RegexExtract", string="a" * 64 + "!", regex_pattern=r"(a|aa)+$", mode="All Groups")


def test_a_pattern_that_would_take_long_to_compile_is_refused_before_compiling() -> None:
    # The regex package unrolls (?:a{65535}){65535} while compiling, for minutes, outside any timeout.
    started = time.process_time()
    with pytest.raises(RegexRefused, match=r"unroll to 4,294,967,295 steps"):
        run("RegexMatch", string="a", regex_pattern="(?:a{65535}){65535}")
    issues = validate_graph(
        {
            "1": {
                "class_type": "RegexMatch",
                "inputs": {"string": "a", "regex_pattern": "((a{100}){100}){100}"},
            }
        },
        default_registry(),
    )
    assert [i.input for i in issues if i.type == "value_not_valid"] == ["regex_pattern"]
    assert time.process_time() - started < 1.0
    # Everyday counted repeats are nowhere near the bound.
    assert run(
        "RegexExtract", string="on 2026-12-07", regex_pattern=r"\d{4}-\d{2}-\d{2}", mode="First Match"
    ) == ("2026-12-07")


def test_patterns_texts_and_results_are_bounded() -> None:
    with pytest.raises(RegexRefused, match=f"at most {MAX_PATTERN_CHARS:,} are allowed"):
        run("RegexMatch", string="x", regex_pattern="a" * (MAX_PATTERN_CHARS + 1))
    with pytest.raises(RegexRefused, match="Input 'string' is"):
        run("RegexMatch", string="a" * (MAX_TEXT_CHARS + 1), regex_pattern="a")
    # An empty match at every position: the replacement would grow the text a thousandfold.
    with pytest.raises(RegexRefused, match="would be over"):
        run("RegexReplace", string="a" * 10_000, regex_pattern="", replace="b" * 1_000)
    with pytest.raises(RegexRefused, match="would be 10,011,000 characters"):
        run("StringReplace", string="a" * 10_000, find="", replace="b" * 1_000)
    half = "a" * (MAX_TEXT_CHARS // 2 + 1)
    with pytest.raises(RegexRefused, match="at most"):
        run("StringConcatenate", string_a=half, string_b=half)


def test_a_bad_group_reference_names_the_replace_input() -> None:
    with pytest.raises(RegexRefused, match="Input 'replace'"):
        run("RegexReplace", string="ab", regex_pattern="(a)", replace=r"\3")


def test_an_invalid_or_oversized_literal_pattern_is_a_validation_error() -> None:
    graph = {
        "1": {"class_type": "RegexMatch", "inputs": {"string": "x", "regex_pattern": "(unclosed"}},
        "2": {
            "class_type": "RegexReplace",
            "inputs": {"string": "x", "regex_pattern": "a" * 3000, "replace": ""},
        },
        "3": {
            "class_type": "RegexExtract",
            "inputs": {"string": "x", "regex_pattern": r"\d", "mode": "First Match"},
        },
        "4": {"class_type": "StringConcatenate", "inputs": {"string_a": ["2", 0], "string_b": ["3", 0]}},
        "5": {"class_type": "StringLength", "inputs": {"string": ["4", 0]}},
        "6": {"class_type": "CaseConverter", "inputs": {"string": "x", "mode": "UPPERCASE"}},
    }
    # Without an output node every node is checked (and no_output_node reported beside).
    issues = [i for i in validate_graph(graph, default_registry()) if i.type == "value_not_valid"]
    by_node = {i.node_id: i for i in issues}
    assert set(by_node) == {"1", "2"}
    assert "'(unclosed' is not a valid regular expression" in by_node["1"].message
    assert by_node["1"].input == "regex_pattern"
    assert "at most 2,000 are allowed" in by_node["2"].message
