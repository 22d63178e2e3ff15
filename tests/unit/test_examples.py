"""docs/examples/: every example is a valid graph for the models a fresh `make run` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodes.catalog import default_registry
from nodes.graph import validate_graph
from tiny_models.demo import DEMO_MODELS, PREFIX, demo_choices

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "docs" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))
# The pictures the examples' LoadImage nodes name; docs/examples/README.md says to upload them.
UPLOADS = ("example.png", "inpaint_example.png")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_valid_for_make_run_s_demo_models(path: Path) -> None:
    graph = json.loads(path.read_text())
    choices: dict[str, list[str]] = {**demo_choices(), "files": list(UPLOADS)}
    assert validate_graph(graph, default_registry(), dynamic_choices=choices) == []


def test_every_example_is_described_in_the_readme() -> None:
    readme = (EXAMPLES_DIR / "README.md").read_text()
    missing = [path.name for path in EXAMPLES if f"`{path.name}`" not in readme]
    assert missing == [], "examples without a line in docs/examples/README.md"
    assert len(EXAMPLES) >= 10


def test_every_demo_model_is_named_as_random_and_used_by_an_example() -> None:
    used = "\n".join(path.read_text() for path in EXAMPLES)
    assert all(model.name.startswith(PREFIX) for model in DEMO_MODELS)
    assert [model.name for model in DEMO_MODELS if f'"{model.name}"' not in used] == []
