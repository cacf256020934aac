"""The package layout of docs/architecture.md, held: imports point one way and never loop.

Read from the source with ast (not by importing it), so a lazy import inside a function counts
as much as one at the top of a module.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lower layers never import higher ones; packages of one layer never import each other.
LAYERS: List[Tuple[str, ...]] = [
    ("libiaso", "libiaso.errors", "libiaso.states", "libiaso.deadline", "libiaso.redaction"),
    ("libiaso.config", "libiaso.results"),
    ("libiaso.api",),
    ("libiaso.run", "libiaso.servicedesk", "libiaso.doctor"),
    ("libiaso.jobs", "libiaso.fleet"),
    ("iaso_probes",),
]
STANDALONE = ("libiaso.simulator",)   # the API's stand-in: imports nothing of the client side


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[0] == "probes":
        parts[0] = "iaso_probes"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> Dict[str, Path]:
    found = {}
    for top in ("libiaso", "probes"):
        for path in (ROOT / top).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path) -> Set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    known = modules()
    return {target for target in found if target in known and target != name}


def unit_of(module: str) -> str:
    """The layer entry a module belongs to: its package, or itself at the foundation."""
    candidates = [entry for layer in LAYERS for entry in layer] + list(STANDALONE)
    matches = [c for c in candidates if module == c or module.startswith(c + ".")]
    if not matches:
        raise AssertionError(f"{module} belongs to no layer of docs/architecture.md")
    return max(matches, key=len)


def rank(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    return -1


GRAPH = {name: imports_of(name, path) for name, path in modules().items()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_ok_imports_point_down(module: str) -> None:
    unit = unit_of(module)
    for target in GRAPH[module]:
        other = unit_of(target)
        if other == unit or rank(other) == rank(unit) == 0:
            continue
        assert other not in STANDALONE, f"{module} imports the simulator ({target})"
        if unit in STANDALONE:
            assert rank(other) == 0, f"{module} (simulator) imports {target}"
            continue
        assert rank(other) < rank(unit), \
            f"{module} ({unit}) imports {target} ({other}): not a lower layer"


def test_ok_no_import_cycle() -> None:
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    # A package's __init__ importing its own modules is how packages work, not a cycle.
    cycles = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert not cycles, f"import cycles: {cycles}"


def test_ok_every_package_is_drawn_in_architecture_md() -> None:
    documented = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = {unit_of(module) for module in GRAPH}
    for unit in sorted(packages):
        if unit.startswith("libiaso.") and (ROOT / unit.replace(".", "/")).is_dir():
            assert f"{unit.split('.', 1)[1]}/" in documented, f"{unit} is not in architecture.md"
