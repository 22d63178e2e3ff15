"""The generated parts of docs/nodes.md, docs/samplers.md and README.md match the specs (nodes/docs.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import types

import pytest

from nodes import docs
from nodes.catalog import FAMILIES, default_registry
from nodes.diffusion.samplers import COMFY_SAMPLERS, COMFY_SCHEDULERS
from nodes.docs_status import STATUS_NOTES
from nodes.schema import COMBO, INT, InputSpec, NodeSpec, OutputSpec


def test_generated_docs_are_up_to_date() -> None:
    stale = [str(path.relative_to(docs.REPO)) for path in docs.stale_docs()]
    assert stale == [], f"{', '.join(stale)} stale: run `{docs.COMMAND}` and commit the result"


def test_the_catalogue_lists_every_registered_node_once() -> None:
    text = (docs.REPO / "docs" / "nodes.md").read_text()
    catalogue = text[text.index("<!-- BEGIN node catalogue") :]
    rows = re.findall(r"^\| `([^`]+)`", catalogue, flags=re.MULTILINE)
    assert sorted(rows) == sorted(spec.class_type for spec in default_registry())
    total = len(default_registry())
    assert f"{total} nodes in" in text
    assert f"`GET /v1/nodes` lists {total} nodes" in (docs.REPO / "README.md").read_text()


def test_status_notes_name_registered_nodes() -> None:
    unknown = sorted(name for name in STATUS_NOTES if name not in default_registry())
    assert unknown == [], "notes in nodes/docs_status.py for nodes that do not exist"


def test_a_new_family_folder_gets_its_own_table_without_any_list_to_edit() -> None:
    module = types.ModuleType("nodes.teapots.specs")
    module.SPECS = (  # type: ignore[attr-defined]
        NodeSpec(
            class_type="BrewTea",
            category="teapots",
            impl="nodes.teapots.ops:brew",
            inputs=(
                InputSpec("cups", INT, default=2, min=1, max=8),
                InputSpec("leaf", COMBO, choices=("green", "black"), required=False),
            ),
            outputs=(OutputSpec("STRING", name="tea"),),
        ),
    )
    fams = docs.families((*FAMILIES, module))
    assert fams[-1].name == "teapots" and [s.class_type for s in fams[-1].specs] == ["BrewTea"]
    block = docs.catalogue_block(fams)
    assert "### `teapots` nodes" in block
    inputs = "`cups` INT = 2 (1 to 8)<br>`leaf` COMBO `green` / `black` *optional*"
    assert f"| `BrewTea` | {inputs} | `tea` STRING | runs |" in block


def test_a_doc_without_its_markers_fails_with_the_command_to_run() -> None:
    with pytest.raises(docs.StaleMarkers, match="node catalogue"):
        docs.replace_block("# no markers here\n", "node catalogue", "x", "docs/nodes.md")


def _first_column(text: str, heading: str) -> list[str]:
    """The backticked names in the first column of the table under `heading`."""
    lines = text.split(heading, 1)[1].split("\n## ", 1)[0].splitlines()
    names: list[str] = []
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("| ") and not following.startswith("| ---"):  # a header row is not a name
            names += re.findall(r"`([^`]+)`", line.split(" | ", 1)[0])
    return names


def test_samplers_md_has_a_row_for_every_sampler_and_scheduler_and_no_other() -> None:
    text = (docs.REPO / "docs" / "samplers.md").read_text()
    samplers = _first_column(text, "\n## Samplers\n")
    assert sorted(samplers) == sorted(COMFY_SAMPLERS)
    assert _first_column(text, "\n## Schedulers\n") == list(COMFY_SCHEDULERS)


def test_every_listed_scheduler_has_a_schedule() -> None:
    from nodes.sampling.schedules import SCHEDULES

    assert list(SCHEDULES) == list(COMFY_SCHEDULERS)


def test_the_generator_imports_no_torch() -> None:
    code = "import sys, nodes.docs; nodes.docs.generated_docs(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=docs.REPO)
