"""Classes named by their module, imported on first use: the specs name their pipelines,
losses and datasets this way, so that reading the specs (`multipose models`) does not import
torch."""

from __future__ import annotations

from importlib import import_module
from typing import Any


class LazyClass:
    """The class `name` of `module`, imported when first called or asked an attribute; the
    attributes given here (`known`) answer without importing it."""

    def __init__(self, module: str, name: str, **known: Any) -> None:
        self.module, self.name, self.known = module, name, known

    def resolve(self) -> type:
        """The class itself."""
        return getattr(import_module(self.module), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") or attribute in ("module", "name", "known"):
            raise AttributeError(attribute)
        if attribute in self.known:
            return self.known[attribute]
        return getattr(self.resolve(), attribute)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyClass) and (self.module, self.name) == (
            other.module,
            other.name,
        )

    def __hash__(self) -> int:
        return hash((self.module, self.name))

    def __repr__(self) -> str:
        return f"LazyClass({self.module}.{self.name})"


def resolved(value: Any) -> Any:
    """The class a LazyClass names, or `value` itself."""
    return value.resolve() if isinstance(value, LazyClass) else value
