"""The protocol package is neutral (imports neither side), and its registries are used."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROTOCOL = Path(__file__).resolve().parents[2] / "protocol"


def test_the_protocol_package_imports_neither_side_nor_django_nor_torch() -> None:
    for module in PROTOCOL.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in ("django", "torch", "api_service", "gpu_worker", "nodes", "celery"), (
                    f"{module.name} imports {name}"
                )


def test_a_spec_newer_than_the_worker_knows_is_refused_and_an_older_one_read() -> None:
    from protocol.messages import PROTOCOL_VERSION, ProtocolTooNew, RunSpec

    spec = RunSpec("exe_x", 1, "t", {}, [], "p/", deadline_at=12.5, max_attempts=4)
    again = RunSpec.from_dict(spec.to_dict())
    assert again == spec and again.protocol_version == PROTOCOL_VERSION
    new_fields = ("protocolVersion", "maxAttempts", "deadlineAt")
    legacy = {k: v for k, v in spec.to_dict().items() if k not in new_fields}
    assert RunSpec.from_dict(legacy).max_attempts == 3
    with pytest.raises(ProtocolTooNew, match="Upgrade the gpu workers"):
        RunSpec.from_dict({**spec.to_dict(), "protocolVersion": PROTOCOL_VERSION + 1})


def test_worker_error_types_come_from_the_registry() -> None:
    from gpu_worker.errors import PublicError
    from protocol.errors import ERROR_TYPES

    assert PublicError("timeout", "x").type in ERROR_TYPES
    with pytest.raises(ValueError, match="ERROR_TYPES"):
        PublicError("something_new", "x")
    docs = (PROTOCOL.parent / "docs" / "api.md").read_text()
    missing = [name for name in ERROR_TYPES if f"`{name}`" not in docs]
    assert not missing, f"docs/api.md does not list the execution error types {missing}"
