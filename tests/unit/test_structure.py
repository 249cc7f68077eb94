"""The package's dependencies point one way, and training never reaches the reporting layer.

The import graph is read statically with ``ast`` from ssgen/**/*.py (nothing is imported, so this runs in a
fraction of a second). What counts as an edge, stricter than Python's own rule (a module-level cycle fails at
import time; a function-level one does not, until it is called):

* every ``import`` / ``from ... import`` of an ssgen module, at module level AND inside functions, counts at both
  levels, the module graph and the package graph: a function-level import that dodges a cycle still is one;
* imports under ``if TYPE_CHECKING:`` do not count (they never run);
* ``from ssgen.pkg import name`` is an edge to ``ssgen.pkg.name`` when that is a module, else to ``ssgen.pkg``;
* a module's own package (``ssgen.callbacks`` for ``ssgen.callbacks.svm_head``) is not an edge Python adds
  for us: only the imports written in the file count.

Packages: every subpackage of ssgen (``ssgen.config``, ``ssgen.run``, ``ssgen.data``, ``ssgen.nets``, ``ssgen.models``,
``ssgen.callbacks``, ``ssgen.evaluation``, ``ssgen.reporting``) is one node; every top-level module is its own. The
benchmark (``benchmarks/``, outside the installed package) is a user of the package, never used by it.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from conftest import ROOT

PACKAGE_DIR = ROOT / "ssgen"
SUBPACKAGES = ("config", "run", "data", "nets", "models", "callbacks", "evaluation", "reporting")
# a module, or a package and everything in it
TRAINING = ("ssgen.train", "ssgen.run", "ssgen.callbacks", "ssgen.models", "ssgen.nets", "ssgen.config")
REPORTING = ("ssgen.report", "ssgen.reporting")  # the ssgen-report console script and the reporting package


def module_names(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """``{dotted module name: file}`` for every .py under the package (``__init__.py`` is the package's name)."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imported_names(module: str, path: Path) -> list[str]:
    """Every dotted name an import statement of ``path`` names (module level and inside functions alike), with
    relative imports made absolute and ``from a import b`` giving both ``a`` and ``a.b``; TYPE_CHECKING-only
    imports left out."""
    is_package = path.name == "__init__.py"
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                found.append(base)
                found.extend(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


@functools.cache  # parsed once for all the tests here; callers must not change what it returns
def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """Module -> the ssgen modules it imports (see the module docstring for what counts)."""
    modules = module_names(package_dir)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imported in imported_names(name, path):
            if imported.split(".")[0] != "ssgen":
                continue
            target = resolve(imported)
            if target is not None and target != name:
                graph[name].add(target)
    return graph


def package_of(module: str) -> str:
    """The node a module belongs to in the package graph: its subpackage, or itself for a top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and parts[1] in SUBPACKAGES) else module


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph with each subpackage contracted to one node (edges inside a node dropped)."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        node = packages.setdefault(package_of(module), set())
        node.update(package_of(target) for target in targets if package_of(target) != package_of(module))
    return packages


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None when it has none (an iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                return [*path[path.index(step):], step]
            elif step not in state:
                state[step] = 1
                path.append(step)
                stack.append(iter(sorted(graph.get(step, ()))))
    return None


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module ``start`` imports, directly or through others: ``{module: the module that imports it}``."""
    seen: dict[str, str] = {}
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for target in sorted(graph.get(current, ())):
            if target not in seen and target != start:
                seen[target] = current
                frontier.append(target)
    return seen


def chain(parents: dict[str, str], start: str, end: str) -> str:
    """'start -> ... -> end' along the ``reachable`` parents."""
    links = [end]
    while links[-1] != start:
        links.append(parents[links[-1]])
    return " -> ".join(reversed(links))


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert {"ssgen.train", "ssgen.run.results", "ssgen.models.m2", "ssgen.callbacks.svm_head"} <= set(graph)
    assert "ssgen.run.results" in graph["ssgen.train"] and "ssgen.models.checkpoints" in graph["ssgen.models.m2"]


def test_no_import_cycle_among_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle among ssgen modules: {' -> '.join(cycle)}"


def test_no_import_cycle_among_packages():
    cycle = find_cycle(package_graph(import_graph()))
    assert cycle is None, f"import cycle among ssgen packages: {' -> '.join(cycle)}"


def test_training_never_imports_reporting_or_figures():
    graph = import_graph()
    starts = [module for module in graph if any(module == t or module.startswith(t + ".") for t in TRAINING)]
    assert "ssgen.train" in starts and "ssgen.callbacks.svm_head" in starts and "ssgen.models.gan" in starts
    offending = []
    for start in starts:
        parents = reachable(graph, start)
        offending += [chain(parents, start, target) for target in parents
                      if any(target == r or target.startswith(r + ".") for r in REPORTING)]
    assert not offending, "training reaches the reporting layer: " + "; ".join(offending)


def test_the_package_core_never_imports_the_bench():
    """The benchmark lives outside the installed package (benchmarks/); nothing in ssgen imports it."""
    assert not (PACKAGE_DIR / "bench").exists() and (PACKAGE_DIR.parent / "benchmarks" / "__main__.py").is_file()
    offending = [f"{module} -> {name}" for module, path in module_names().items()
                 for name in imported_names(module, path) if name.split(".")[0] == "benchmarks"]
    assert not offending, "the package core imports the bench: " + "; ".join(offending)


def test_the_cycle_check_names_a_cycle(tmp_path):
    """The checks above would pass on a graph they cannot read; on a package with cycles they must fail."""
    package = tmp_path / "ssgen"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("def f():\n    from ssgen.models import gate\n")  # function level counts
    (package / "models" / "__init__.py").write_text("from . import gate\n")
    (package / "models" / "gate.py").write_text("import ssgen.config\n")
    (package / "typed.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ssgen.config\n")
    graph = import_graph(package)
    assert find_cycle(graph) == ["ssgen.config", "ssgen.models", "ssgen.models.gate", "ssgen.config"]
    assert find_cycle(package_graph(graph)) == ["ssgen.config", "ssgen.models", "ssgen.config"]
    assert graph["ssgen.typed"] == set()  # TYPE_CHECKING-only imports never run


def test_only_the_results_layer_names_the_results_file():
    """results.json is opened in one place: no other module of ssgen or tools/ spells its name as a path."""
    offending = []
    for path in sorted([*PACKAGE_DIR.rglob("*.py"), *(PACKAGE_DIR.parent / "tools").glob("*.py")]):
        if path == PACKAGE_DIR / "run" / "results.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "RESULTS_FILE":
                offending.append(f"{path.name}:{node.lineno} RESULTS_FILE")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.strip()
                if text == "results.json" or text.endswith("/results.json"):
                    offending.append(f"{path.name}:{node.lineno} {text!r}")
    assert not offending, "results.json opened outside ssgen.run.results: " + ", ".join(offending)



def layout_entries(readme: str) -> dict[str, str]:
    """The ``ssgen/`` part of README.md's Layout block as ``{name column: the entry's whole text}`` (an entry is a
    line indented by two spaces, continued by the more deeply indented lines under it)."""
    block = readme.split("## Layout", 1)[1].split("```")[1]
    lines = block.split("\nssgen/\n", 1)[1].split("\ntests/", 1)[0].splitlines()
    entries: dict[str, str] = {}
    current = None
    for line in lines:
        if line.startswith("  ") and not line.startswith("   "):
            current = line.strip().partition("  ")[0]
            entries[current] = line
        elif current is not None:
            entries[current] += " " + line.strip()
    return entries


def unlisted_modules(entries: dict[str, str], package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The package's files the Layout entries do not name: a top-level module by its own entry, a subpackage's
    file inside the subpackage's entry (its ``__init__.py`` by the entry itself)."""
    missing = []
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir)
        if len(relative.parts) == 1:
            listed = relative == Path("__init__.py") or any(path.name in name.split() for name in entries)
        else:
            entry = entries.get(f"{relative.parts[0]}/")
            listed = entry is not None and (path.name == "__init__.py" or path.name in entry)
        if not listed:
            missing.append(str(relative))
    return missing


def test_the_readme_layout_names_every_module():
    entries = layout_entries((PACKAGE_DIR.parent / "README.md").read_text())
    assert {"train.py", "run/", "callbacks/", "reporting/"} <= set(entries)
    missing = unlisted_modules(entries)
    assert not missing, f"README.md's Layout omits {missing}"
    entries["run/"] = entries["run/"].replace("stops.py", "")
    assert unlisted_modules(entries) == ["run/stops.py"]  # the check sees an omission
