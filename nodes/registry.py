"""Maps class types to specs; imports implementations only when asked to run one."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nodes.schema import NodeSpec


class RegistryError(ValueError):
    """A spec that cannot be registered: raised at start-up, never at request time."""


class Registry:
    def __init__(self, specs: Iterable[NodeSpec] = ()) -> None:
        self._specs: dict[str, NodeSpec] = {}
        self._impls: dict[str, Callable[..., Any]] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: NodeSpec) -> None:
        if spec.class_type in self._specs:
            raise RegistryError(f"node {spec.class_type!r} is registered twice")
        if ":" not in spec.impl:
            raise RegistryError(
                f"node {spec.class_type!r}: impl must be 'module:function', got {spec.impl!r}"
            )
        names = [i.name for i in spec.inputs]
        if len(names) != len(set(names)):
            raise RegistryError(f"node {spec.class_type!r} declares an input name twice")
        for inp in spec.inputs:
            if inp.type == "COMBO" and not (inp.choices or inp.choices_source):
                raise RegistryError(f"node {spec.class_type!r}: combo {inp.name!r} has no choices")
        self._specs[spec.class_type] = spec

    def get(self, class_type: object) -> NodeSpec | None:
        # Client graphs may carry anything here (a list, a number): that is "unknown", not a crash.
        return self._specs.get(class_type) if isinstance(class_type, str) else None

    def __contains__(self, class_type: object) -> bool:
        return isinstance(class_type, str) and class_type in self._specs

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.class_type))

    def __len__(self) -> int:
        return len(self._specs)

    def implementation(self, class_type: str) -> Callable[..., Any]:
        """Import the node's function on first use (this is where torch gets loaded)."""
        impl = self._impls.get(class_type)
        if impl is None:
            module_name, func_name = self._specs[class_type].impl.split(":")
            impl = getattr(importlib.import_module(module_name), func_name)
            self._impls[class_type] = impl
        return impl
