"""sk_kerasbag's modules import each other in layers, and never in a circle.

Read from the source (``ast``), not by importing: the graph is every
module-level ``import`` of one sk_kerasbag module by another (in ``try``,
``if`` and ``with`` blocks too), and importing a module of a sub-package from
outside it imports that package's ``__init__`` first, so it counts as an
import of the package as well. An import inside a function is left out on
purpose: it runs only when called, and is how a module reaches one above it
where it must (``folders`` warns through ``_fixes`` only when files are
skipped, so that listing images does not import Keras).

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
     "_splitting", "_heldout", "_warm_start", "_plans", "_image_geometry", "exceptions",
     "datasets", "folders", "plotting", "reporting"},
    # Keras and scikit-learn facing helpers: private APIs, files, builders, batches,
    # callbacks, augmentation, pickling, targets, parameters, load-time checks, values
    # described as JSON.
    {"_fixes", "_files", "_builder", "_batches", "_callbacks", "_augmentation", "_pickling",
     "_targets", "_tasks", "_hooks", "_parameters", "_integrity", "_descriptions"},
    # Training, predicting and keeping members: one member, vectorised and packed
    # members, the strategy between them, the prediction path, saving and loading,
    # the run folder.
    {"_members", "_vectorised", "_inference", "_packing", "_strategy", "_predicting",
     "persistence", "_artifacts"},
    # The engine every estimator shares.
    {"_base"},
    # The estimators and what is built on them.
    {"bagging", "kfold", "directory", "_out_of_fold", "stacking", "models"},
    # Applications: experiment files, the command line, the package's namespace.
    {"experiment", "experiment._toml", "experiment._sources", "experiment._schema",
     "experiment._runner", "cli", ""},
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
    """The package's modules that importing ``name`` imports, read from its module-level code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    statements = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while statements:
        statement = statements.pop()
        if isinstance(statement, ast.ImportFrom):
            if statement.level:  # from .x import y, from .. import z
                parts = package.split(".") if package else []
                base = parts[: len(parts) - (statement.level - 1)]
                target = ".".join(base + ([statement.module] if statement.module else []))
            elif (statement.module or "").split(".")[0] == PACKAGE.name:
                target = statement.module.partition(".")[2]  # sk_kerasbag.x -> x
            else:
                continue
            # from . import folders: the names may be modules, then the import is theirs.
            submodules = {f"{target}.{a.name}".lstrip(".") for a in statement.names}
            imported |= (submodules & known) or {target}
        elif isinstance(statement, ast.Import):
            imported |= {
                a.name.partition(".")[2] for a in statement.names
                if a.name.split(".")[0] == PACKAGE.name
            }  # fmt: skip
        elif not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # try/except/else/finally, if, with, class bodies: all run on import.
            statements += [
                child for child in ast.iter_child_nodes(statement) if isinstance(child, ast.stmt)
            ]
            for handler in getattr(statement, "handlers", []):
                statements += handler.body
    # Importing a.b from outside package a runs a/__init__.py first.
    for target in list(imported):
        parts = target.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if not (name == parent or name.startswith(parent + ".")):
                imported.add(parent)
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


def test_the_graph_sees_every_import_form_and_no_import_in_a_function(tmp_path):
    # The reader itself, on a made-up module a.b.c: a graph that missed an
    # import form would let an upward import or a circle through.
    source = """
import json
from . import c2, missing
from .. import d
from ..e import x
from ... import f
import sk_kerasbag.g
from sk_kerasbag.h import y
from sk_kerasbag import i
try:
    from .j import z
except ImportError:
    from .k import z
else:
    from .l import w
finally:
    from .m import v
if True:
    from .n import u
with open(__file__):
    from .o import t
class Holder:
    from .p import s

def later():
    from .q import r
"""
    path = tmp_path / "c.py"
    path.write_text(source)
    known = {"a.b.c2", "a.d", "a.e", "f", "g", "h", "i", "a.b.j", "a.b.k", "a.b.l", "a.b.m",
             "a.b.n", "a.b.o", "a.b.p", "a.b.q", "a", "a.b", "x.y"}  # fmt: skip
    found = module_level_imports("a.b.c", path, known)
    # All but the import in a function, a name that is no module, and a.b's own packages.
    assert found == known - {"a.b.q", "x.y", "a", "a.b"}
    # From outside package x, importing x.y imports x (its __init__) too.
    path.write_text("from sk_kerasbag.x.y import z\n")
    assert module_level_imports("w", path, {"x", "x.y"}) == {"x", "x.y"}
    assert module_level_imports("x.z", path, {"x", "x.y"}) == {"x.y"}  # inside x: no edge to x


def test_the_graph_reads_the_package_as_it_is():
    found = modules()
    known = set(found)
    assert "_base" in module_level_imports("bagging", found["bagging"], known)
    assert {"_base", "experiment._toml"} <= module_level_imports(
        "experiment._schema", found["experiment._schema"], known
    )
    # The package's namespace imports its estimators lazily (inside __getattr__): not an edge.
    assert "bagging" not in module_level_imports("", found[""], known)
