"""Values described as JSON, and rebuilt from their descriptions.

:func:`describe` is how :mod:`~sk_kerasbag.persistence` saves an estimator's
parameters and fitted attributes (NumPy arrays apart, by key), how a run
folder records its parameters (``params.json``) and how a resumed fit tells
whether they changed; :func:`restore` is its inverse, for what can be rebuilt
(:func:`unrestorable` says what cannot). A saved builder that ``load`` was not
given stands as an :class:`UnresolvedBuilder`, described again as it was.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._augmentation import Preprocessing
from ._builder import OutputSpec
from ._keras import keras
from ._references import reference_of


def describe(value: Any, arrays: dict[str, np.ndarray] | None = None, _depth: int = 0) -> Any:
    """A JSON value describing ``value``; reversible by :func:`restore` where possible.

    Functions become ``{"__callable__": "module:qualname", "source_sha256": ...}``
    (the source hash lets a resumed fit notice an edited builder; lambdas and
    local functions have no reference and cannot be restored).
    ``functools.partial`` objects keep their function and arguments. NumPy
    arrays go into ``arrays`` (when given) and are referenced by key. Other
    objects are described by their type and public attributes, which is
    enough to compare them but not to rebuild them.
    """

    def inner(item: Any) -> Any:
        return describe(item, arrays, _depth + 1)

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if _depth > _MAX_DEPTH:
        return {"__object__": _type_name(value), "truncated": True}
    if isinstance(value, tuple):
        return {"__tuple__": [inner(v) for v in value]}
    if isinstance(value, (list, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [inner(v) for v in items]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: inner(v) for k, v in value.items()}
        return {"__items__": [[inner(k), inner(v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        if arrays is not None:
            key = f"a{len(arrays)}"
            arrays[key] = _storable_array(value)
            return {"__ndarray__": key, "object": value.dtype == object}
        if value.size > 100:  # described by content, to compare, without bloating JSON
            digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
            return {"__array_sha256__": digest, "shape": list(value.shape)}
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, os.PathLike):
        return {"__path__": os.fspath(value)}
    if isinstance(value, OutputSpec):
        return {"__output_spec__": dataclasses.asdict(value)}
    if isinstance(value, Preprocessing):
        fields = {"settings": value.settings, "mean": value.mean, "std": value.std}
        return {"__preprocessing__": {name: inner(v) for name, v in fields.items()}}
    if isinstance(value, UnresolvedBuilder):
        return value.description
    if isinstance(value, functools.partial):
        return {
            "__partial__": inner(value.func),
            "args": [inner(v) for v in value.args],
            "keywords": {k: inner(v) for k, v in value.keywords.items()},
        }
    if inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
        return {
            "__callable__": reference_of(value),  # None for a lambda or a local function
            "name": value.__qualname__,
            "source_sha256": _source_hash(value),
        }
    attributes = vars(value) if hasattr(value, "__dict__") else {}
    return {
        "__object__": _type_name(value),
        "attributes": {k: inner(v) for k, v in sorted(attributes.items()) if _public(k, v)},
    }


# Deep enough for callbacks and generator objects; stops reference cycles.
_MAX_DEPTH = 4


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _public(name: str, value: Any) -> bool:
    # A callback's model is what it watches, not part of its configuration.
    return not name.startswith("_") and not isinstance(value, keras.Model)


def _source_hash(function: Callable) -> str | None:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()


def _storable_array(array: np.ndarray) -> np.ndarray:
    if array.dtype != object:
        return array
    if all(isinstance(v, str) for v in array.flat):
        return array.astype(str)
    raise TypeError(
        "Arrays of Python objects other than strings cannot be saved without pickle; "
        f"got one with elements of type {type(next(iter(array.flat))).__name__}."
    )


def unrestorable(description: Any, path: str = "") -> list[str]:
    """Where in a description a value was only described, not stored."""
    if isinstance(description, list):
        return [p for i, v in enumerate(description) for p in unrestorable(v, f"{path}[{i}]")]
    if not isinstance(description, dict):
        return []
    if "__object__" in description:
        return [f"{path} ({description['__object__']})"]
    if "__array_sha256__" in description:
        return [f"{path} (an array)"]
    if "__callable__" in description and description["__callable__"] is None:
        return [f"{path} ({description['name']}: define it at the top level of a module)"]
    if "__partial__" in description:
        parts = {"func": description["__partial__"], **description["keywords"]}
        parts.update((str(i), v) for i, v in enumerate(description["args"]))
        return [p for k, v in parts.items() for p in unrestorable(v, f"{path}.{k}")]
    items = description.get("__tuple__", description.get("__items__", description))
    if isinstance(items, list):
        return [p for i, v in enumerate(items) for p in unrestorable(v, f"{path}[{i}]")]
    return [p for k, v in items.items() for p in unrestorable(v, f"{path}.{k}" if path else k)]


def restore(description: Any, arrays: dict[str, np.ndarray], resolve: Callable[[str], Any]) -> Any:
    """Rebuild a value from :func:`describe`'s output."""
    if isinstance(description, list):
        return [restore(v, arrays, resolve) for v in description]
    if not isinstance(description, dict):
        return description
    if "__tuple__" in description:
        return tuple(restore(v, arrays, resolve) for v in description["__tuple__"])
    if "__items__" in description:
        return {
            restore(k, arrays, resolve): restore(v, arrays, resolve)
            for k, v in description["__items__"]
        }
    if "__ndarray__" in description:
        key = description["__ndarray__"]
        if key not in arrays:
            raise ValueError(f"The saved arrays lack {key!r}, which the saved description names.")
        array = arrays[key]
        return array.astype(object) if description.get("object") else array
    if "__path__" in description:
        return Path(description["__path__"])
    if "__output_spec__" in description:
        return OutputSpec(**description["__output_spec__"])
    if "__preprocessing__" in description:
        fields = {
            k: restore(v, arrays, resolve) for k, v in description["__preprocessing__"].items()
        }
        return Preprocessing(**fields)
    if "__array__" in description:
        return np.array(description["__array__"], dtype=description["dtype"])
    if "__callable__" in description:
        return resolve(description["__callable__"])
    if "__partial__" in description:
        return functools.partial(
            restore(description["__partial__"], arrays, resolve),
            *restore(description["args"], arrays, resolve),
            **restore(description["keywords"], arrays, resolve),
        )
    return {k: restore(v, arrays, resolve) for k, v in description.items()}


def describe_params(estimator) -> dict[str, Any]:
    """Every parameter of ``estimator`` as JSON (for ``params.json``)."""
    return {name: describe(value) for name, value in estimator.get_params(deep=False).items()}


class UnresolvedBuilder:
    """Stands in for a saved model builder that was not supplied at load.

    Calling it (by fitting the loaded estimator again) raises an error that
    says how to supply the builder; saving the estimator again keeps the
    builder's reference.
    """

    def __init__(self, description: dict, reason: str):
        self.description, self.reason = description, reason

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            f"The model builder was not supplied when the estimator was loaded ({self.reason}). "
            "Pass it with set_params(model=...) before fitting."
        )

    def __repr__(self) -> str:
        return f"UnresolvedBuilder({self.description.get('__callable__')!r})"
