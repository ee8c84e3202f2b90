"""sk_kerasbag's modules import each other in layers, and never in a circle.

Read from the source (``ast``), not by importing: the graph is every
module-level ``import`` of one sk_kerasbag module by another. An import inside
a function is left out on purpose: it is how a module reaches one above it
when it must (``experiment`` looking up the package's estimators), and it
runs only when called.

``LAYERS`` is the map: a module may import modules of its own layer or of
layers below, never above. A new module goes into the lowest layer whose
modules it needs; the test fails for a module missing from the map.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .marks import backend_independent

pytestmark = backend_independent  # source files, no model

PACKAGE = Path(__file__).resolve().parents[1] / "sk_kerasbag"

LAYERS = [
    # Foundations: the backend, versions, shared names, plain-Python helpers.
    {"_backend", "_keras", "_version", "_docs", "_processes", "_random", "_references",
     "_splitting", "exceptions", "datasets", "folders", "plotting", "reporting",
     "experiment._toml"},
    # Keras and scikit-learn facing helpers: private APIs, files, builders, batches,
    # callbacks, augmentation, pickling, targets.
    {"_fixes", "_files", "_builder", "_batches", "_callbacks", "_augmentation", "_pickling",
     "_tasks"},
    # Training and keeping members: one member, vectorised and packed members,
    # saving and loading, the run folder.
    {"_members", "_vectorised", "_packing", "persistence", "_artifacts"},
    # The engine every estimator shares.
    {"_base"},
    # The estimators and what is built on them.
    {"bagging", "kfold", "directory", "stacking", "models"},
    # Applications: experiment files, the command line, the package's namespace.
    {"experiment", "experiment._sources", "experiment._schema", "experiment._runner", "cli",
     ""},
]  # fmt: skip


def modules() -> dict[str, Path]:
    """Every module of the package by its name below ``sk_kerasbag`` ("" for the package)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def module_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports at module level."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    statements = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while statements:
        statement = statements.pop()
        if isinstance(statement, (ast.Try, ast.If)):  # try: import tomllib; if TYPE_CHECKING
            statements += statement.body + statement.orelse
            for handler in getattr(statement, "handlers", []):
                statements += handler.body
        elif isinstance(statement, ast.ImportFrom):
            if statement.level:  # from .x import y, from .. import z
                parts = package.split(".") if package else []
                base = parts[: len(parts) - (statement.level - 1)]
            elif (statement.module or "").split(".")[0] == "sk_kerasbag":
                base = []
            else:
                continue
            if not statement.level:  # absolute: sk_kerasbag.x -> x
                target = ".".join(statement.module.split(".")[1:])
            else:
                target = ".".join(base + ([statement.module] if statement.module else []))
            # from . import folders: the names may be modules, then the import is theirs.
            submodules = {f"{target}.{a.name}".lstrip(".") for a in statement.names}
            imported |= (submodules & known) or {target}
        elif isinstance(statement, ast.Import):
            imported |= {
                ".".join(a.name.split(".")[1:]) for a in statement.names
                if a.name.split(".")[0] == "sk_kerasbag"
            }  # fmt: skip
    return (imported & known) - {name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: module_level_imports(name, path, set(found)) for name, path in found.items()}


def test_every_module_has_a_layer_and_imports_none_above_it(graph):
    layer_of = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    missing = sorted(set(graph) - set(layer_of))
    assert not missing, f"add {missing} to LAYERS in {__name__}"
    assert not set(layer_of) - set(graph), "LAYERS names a module that no longer exists"
    upward = [
        f"{name or PACKAGE.name} (layer {layer_of[name]}) imports "
        f"{target or PACKAGE.name} (layer {layer_of[target]})"
        for name, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of[target] > layer_of[name]
    ]
    assert not upward, "\n".join(upward)


def test_no_import_circle(graph):
    # Depth-first search; a module met again while still on the path closes a circle.
    done, path = set(), []

    def visit(name):
        if name in path:
            circle = path[path.index(name) :] + [name]
            pytest.fail("import circle: " + " -> ".join(m or PACKAGE.name for m in circle))
        if name in done:
            return
        path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_graph_sees_relative_absolute_and_guarded_imports():
    # The reader itself, on known lines: a test of the graph that could miss
    # imports would pass for any package.
    found = modules()
    known = set(found)
    assert "_base" in module_level_imports("bagging", found["bagging"], known)
    assert {"experiment._schema", "experiment._toml"} <= module_level_imports(
        "experiment", found["experiment"], known
    )
    assert "_references" in module_level_imports("persistence", found["persistence"], known)
    # The package's namespace imports its estimators lazily (inside __getattr__): not an edge.
    assert "bagging" not in module_level_imports("", found[""], known)
