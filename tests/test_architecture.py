"""The shape of the package: imports between its parts run one way, low layers stay pure, and
every spec's parts fit together."""

import ast
import re
from pathlib import Path

import pytest

from multipose.codecs import Codec, MapCodec
from multipose.specs import SPECS

SRC = Path(__file__).resolve().parents[1] / "src" / "multipose"
# Layers that hold no I/O, no torch, no pipelines: layouts, people, boxes and codecs.
PURE = ("skeleton", "poses", "similarity", "geometry", "codecs", "errors", "values")
HEAVY_OR_HIGHER = (
    "torch",
    "multipose.io",
    "multipose.pipelines",
    "multipose.runtime",
    "multipose.models",
    "multipose.specs",
    "multipose.data",
    "multipose.train",
    "multipose.runner",
    "multipose.cli",
    "multipose.loading",
)


def _imports(path: Path) -> set[str]:
    """The modules a file imports at run time (not under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _part(path: Path) -> str:
    """A file's part of the package: its subpackage, or its module's name."""
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def test_no_import_cycles_between_parts():
    """The package root (the public facade, which imports `load` lazily) aside."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        if path == SRC / "__init__.py":
            continue
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "multipose" and len(parts) > 1 and parts[1] != _part(path):
                graph.setdefault(_part(path), set()).add(parts[1])

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(part for part in graph if reaches(part, part, set()))
    assert not cycles, f"parts in import cycles: {cycles}"


@pytest.mark.parametrize("part", PURE)
def test_low_layers_import_no_io_torch_or_pipelines(part):
    paths = [SRC / f"{part}.py"] if (SRC / f"{part}.py").exists() else (SRC / part).rglob("*.py")
    for path in paths:
        bad = {n for n in _imports(path) if n.startswith(HEAVY_OR_HIGHER)}
        assert not bad, f"{path.name} imports {bad}"


def test_no_method_switches_outside_the_spec_table():
    switch = re.compile(r"\bmethod\s*[!=]=|\.method\b\s*in\s*\(")
    found = [
        f"{path.relative_to(SRC)}:{n}"
        for path in SRC.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if switch.search(line)
    ]
    assert not found


@pytest.mark.parametrize("name", list(SPECS))
def test_each_spec_names_parts_that_fit(name):
    spec = SPECS[name]
    codec = spec.codec()
    assert isinstance(codec, Codec)
    assert spec.layout is codec.layout and spec.stride == codec.stride
    assert spec.describe_input()
    assert spec.output_layout in ("coco18", "body25")
    if spec.loss is not None:  # trainable: targets from people, and the flip test
        assert isinstance(codec, MapCodec) and spec.targets is not None


def test_every_import_of_our_modules_resolves():
    """Lazy imports inside functions too (a moved module breaks only the command using it)."""
    import importlib.util

    missing = {
        f"{path.relative_to(SRC)}: {name}"
        for path in SRC.rglob("*.py")
        for name in _imports(path)
        if name.startswith("multipose.") and importlib.util.find_spec(name) is None
    }
    assert not missing
