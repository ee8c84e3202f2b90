"""Naming an importable object ``"module:qualname"``, and finding it again by that name.

Persistence writes a saved estimator's class and its functions (the model
builder, a preprocessing function) into the manifest under such names, and
finds them again when loading (the class is written as it reads, importable
or not: loading accepts sk_kerasbag's own classes only); an experiment file
names its model builder so; pickling asks whether a class is importable
under its module and name. This module is the one place that writes and
reads those names.
"""

from __future__ import annotations

import importlib
from typing import Any


def qualified_name(value: Any) -> str:
    """``value``'s ``"module:qualname"`` as it reads, importable or not (a class or function)."""
    return f"{value.__module__}:{value.__qualname__}"


def reference_of(value: Any) -> str | None:
    """``value``'s ``"module:qualname"``, or None where no import could reach it.

    A lambda or a function defined inside another function (``<lambda>``,
    ``<locals>`` in its qualified name) has no importable name, nor has an
    object without a module (some builtin methods).
    """
    qualname = getattr(value, "__qualname__", None)
    module = getattr(value, "__module__", None)
    if not isinstance(qualname, str) or not isinstance(module, str) or "<" in qualname:
        return None
    return qualified_name(value)


def split_reference(reference: str) -> tuple[str, str]:
    """``(module, qualname)`` of ``"module:qualname"``.

    Raises
    ------
    ValueError
        When either part is missing.
    """
    module, _, qualname = reference.partition(":")
    if not module or not qualname:
        raise ValueError(f'expected "module:name", got {reference!r}')
    return module, qualname


def resolve_reference(reference: str) -> Any:
    """The object ``"module:qualname"`` names: its module imported, then each dotted attribute.

    Raises
    ------
    ValueError
        When ``reference`` is not ``"module:qualname"``.
    ImportError
        When the module cannot be imported (the import's own error).
    AttributeError
        Naming the first attribute on the way that does not exist.
    """
    module_name, qualname = split_reference(reference)
    target = importlib.import_module(module_name)  # a module imported before comes from sys.modules
    for part in qualname.split("."):
        if not hasattr(target, part):
            owner = getattr(target, "__name__", type(target).__name__)
            raise AttributeError(f"{owner!r} has no attribute {part!r}")
        target = getattr(target, part)
    return target
