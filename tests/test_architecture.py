"""One direction between layers (issue 12, item 2): the imports of accelo_kit follow the order docs/architecture.md
states once, in its `layers` block, and form no cycle between modules or between packages.

Every import counts: at the top of a module, inside a function, and under `if TYPE_CHECKING:`. The walk reads the
source with `ast` (nothing is imported), so a module whose extra is not installed is checked all the same.
"""

from __future__ import annotations

import ast
import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.gen_docs import PACKAGE, ROOT, Layers, module_files, read_layers


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of the package
    where: str  # file:line of the import statement

    def __str__(self) -> str:
        return f"{self.source} imports {self.target} ({self.where})"


def _resolve(modules: set[str], base: str, names: list[str]) -> list[str]:
    """What `from base import names` (or `import base`, with no names) loads: each name that is a submodule, else
    base itself, or its nearest known parent when base is not a module of the package."""
    found = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
    if not names or len(found) < len(names):
        parent = base
        while parent and parent not in modules:
            parent = parent.rpartition(".")[0]
        if parent:
            found.append(parent)
    return found


def imports(root: Path = ROOT, package: str = PACKAGE) -> list[Import]:
    """Every import between modules of the package, wherever it sits in the module."""
    files = module_files(root, package)
    modules = set(files)
    found = []
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                for alias in node.names:
                    targets += _resolve(modules, alias.name, []) if alias.name.split(".")[0] == package else []
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                if base.split(".")[0] == package:
                    targets += _resolve(modules, base, [a.name for a in node.names])
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            found += [Import(name, t, where) for t in dict.fromkeys(targets) if t != name]
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    result.append(sorted(component))
    return result


def _one_cycle(edges: dict[str, set[str]], members: set[str]) -> list[str]:
    """A shortest cycle through the first member of a component (breadth first): the path a reader follows to
    see the cycle, rather than every edge of the component."""
    start = min(members)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges.get(node, set()) & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    return [start]


def _path(cycle: list[str], example: dict[tuple[str, str], Import]) -> str:
    return " → ".join(str(example[(a, b)]) for a, b in itertools.pairwise(cycle))


def _unit(module: str, package: str) -> str:
    """The child of `package` that holds `module` (a flat module is its own unit)."""
    rest = module[len(package) + 1:]
    return f"{package}.{rest.split('.')[0]}"


def problems(root: Path = ROOT, layers: Layers | None = None, package: str = PACKAGE) -> list[str]:
    """Everything wrong with the package's imports, each naming the offending import(s)."""
    layers = layers or read_layers()
    found = imports(root, package)
    modules = module_files(root, package)
    out = [f"{m} is not placed in any layer of the layers block in docs/architecture.md"
           for m in modules if layers.place(m) is None]
    separate = {name: user for name, user, _ in layers.separate}
    for imp in found:
        low, high = layers.place(imp.source), layers.place(imp.target)
        if low is None or high is None:
            continue
        if low in separate and high != low:
            out.append(f"{imp}: the {low} stack imports nothing of {package} outside itself")
        elif high in separate and low != high and low != separate[high]:
            out.append(f"{imp}: only the {separate[high]} layer may import the {high} stack")
        elif low not in separate and high not in separate:
            low_rank, high_rank = layers.rank(low), layers.rank(high)
            if low_rank is not None and high_rank is not None and high_rank > low_rank:
                out.append(f"{imp}: the {low} layer imports the higher {high} layer")
    # cycles between modules
    edges: dict[str, set[str]] = {}
    for imp in found:
        edges.setdefault(imp.source, set()).add(imp.target)
    example = {(i.source, i.target): i for i in reversed(found)}
    for cycle in _cycles(edges):
        path = _path(_one_cycle(edges, set(cycle)), example)
        out.append(f"import cycle between modules {', '.join(cycle)}: {path}")
    # cycles between packages: at every package, between its children (flat modules and subpackages)
    for parent in sorted(m for m, p in modules.items() if p.name == "__init__.py"):
        inside = [i for i in found if i.source.startswith(parent + ".") and i.target.startswith(parent + ".")]
        unit_edges: dict[str, set[str]] = {}
        for imp in inside:
            a, b = _unit(imp.source, parent), _unit(imp.target, parent)
            if a != b:
                unit_edges.setdefault(a, set()).add(b)
        for cycle in _cycles(unit_edges):
            if all(c in modules and modules[c].name != "__init__.py" for c in cycle):
                continue  # flat modules only: already reported as a module cycle
            units = {(_unit(i.source, parent), _unit(i.target, parent)): i for i in reversed(inside)}
            path = _path(_one_cycle(unit_edges, set(cycle)), units)
            out.append(f"import cycle between packages {', '.join(cycle)}: {path}")
    return out


def test_the_layers_block_is_stated_once_and_readable() -> None:
    layers = read_layers()
    assert [name for name, _ in layers.ranked] == ["core", "client", "sync", "destinations", "shells"]
    assert [(name, user) for name, user, _ in layers.separate] == [("sim", "shells")]


def test_imports_follow_the_layers_and_form_no_cycle() -> None:
    found = problems()
    assert not found, "imports against docs/architecture.md:\n" + "\n".join(found)


def _planted(tmp_path: Path, additions: dict[str, str]) -> list[str]:
    """The problems a copy of the package has, once `additions` are appended to its files, that the copy had not."""
    copy = tmp_path / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ROOT / PACKAGE, copy / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    before = set(problems(copy))
    for relative, text in additions.items():
        path = copy / PACKAGE / relative
        path.write_text(path.read_text() + "\n" + text + "\n")
    return [p for p in problems(copy) if p not in before]


def test_the_check_catches_a_planted_upward_import(tmp_path: Path) -> None:
    """The check itself can fail: a core module importing a shell inside a function."""
    new = _planted(tmp_path, {"errors.py": "def _planted() -> None:\n    from .cli import main  # noqa"})
    assert any("accelo_kit.errors imports accelo_kit.cli (accelo_kit/errors.py:" in p and "higher shells layer" in p
               for p in new), new


def test_the_check_catches_a_planted_cycle_under_type_checking(tmp_path: Path) -> None:
    new = _planted(tmp_path, {"entities.py": "if TYPE_CHECKING:\n    from accelo_kit import convert",
                              "convert.py": "import accelo_kit.entities"})
    assert any(p.startswith("import cycle between modules accelo_kit.convert, accelo_kit.entities:") for p in new), new


@pytest.mark.parametrize("planted", ["from accelo_kit.client import AcceloClient", "from ..client import X"])
def test_the_simulator_stack_imports_nothing_outside_it(tmp_path: Path, planted: str) -> None:
    new = _planted(tmp_path, {"sim/store.py": planted})
    assert any("accelo_kit.sim.store imports accelo_kit.client" in p and "the sim stack" in p for p in new), new
