"""Saving a fitted ensemble as plain files, and loading it back without pickle.

:func:`save` writes a folder::

    estimator.json    class, parameters and fitted attributes, SHA-256 of every file
    arrays.npz        the fitted NumPy arrays (read with allow_pickle=False)
    member_01.keras   one Keras file per member

:func:`load` checks every file against its recorded SHA-256, loads the
members with Keras's safe mode and the arrays without pickle, and resolves
functions (the model builder, a ``preprocessing_function``) by their
``module:name`` reference only from modules already imported or from
``custom_objects``, so a folder from an untrusted source cannot run code.

:func:`describe` is also how run artifacts record parameters as JSON
(``params.json``) and how a resumed fit tells whether its parameters changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from ._augmentation import Preprocessing
from ._builder import OutputSpec
from ._files import (
    check_hashes,
    load_model,
    read_arrays,
    read_json,
    save_model,
    sha256,
    write_arrays,
    write_json,
)

FORMAT = "sk_kerasbag.estimator"
FORMAT_VERSION = 1
MANIFEST = "estimator.json"
ARRAYS = "arrays.npz"

# Training-time objects that prediction never needs; they are not saved.
_TRAINING_ONLY = ("callbacks",)
# Parameters that say how to run a fit, not what it computes.
RUN_CONTROL = ("verbose", "n_jobs", "save_dir", "resume", "tta")


# -- describing values as JSON ---------------------------------------------------


def describe(value: Any, arrays: dict[str, np.ndarray] | None = None) -> Any:
    """A JSON value describing ``value``; reversible by :func:`restore` where possible.

    Functions become ``{"__callable__": "module:qualname", "source_sha256": ...}``
    (the source hash lets a resumed fit notice an edited builder). NumPy arrays
    go into ``arrays`` (when given) and are referenced by key. Other objects
    are described by their type and simple attributes, which is enough to
    compare them but not to rebuild them.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [describe(v, arrays) for v in value]}
    if isinstance(value, list):
        return [describe(v, arrays) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: describe(v, arrays) for k, v in value.items()}
        return {"__items__": [[describe(k, arrays), describe(v, arrays)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        if arrays is None:
            return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
        key = f"a{len(arrays)}"
        arrays[key] = _storable_array(value)
        return {"__ndarray__": key, "object": value.dtype == object}
    if isinstance(value, os.PathLike):
        return {"__path__": os.fspath(value)}
    if isinstance(value, OutputSpec):
        return {"__output_spec__": dataclasses.asdict(value)}
    if isinstance(value, Preprocessing):
        return {
            "__preprocessing__": {
                "settings": describe(value.settings, arrays),
                "mean": describe(value.mean, arrays),
                "std": describe(value.std, arrays),
            }
        }
    if inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
        return {"__callable__": reference(value), "source_sha256": _source_hash(value)}
    return {
        "__object__": f"{type(value).__module__}.{type(value).__qualname__}",
        "attributes": {
            k: describe(v)
            for k, v in sorted(vars(value).items() if hasattr(value, "__dict__") else [])
            if not k.startswith("_") and isinstance(v, (bool, int, float, str, type(None)))
        },
    }


def reference(function: Callable) -> str:
    """``"module:qualname"`` of a module-level function or class."""
    name = f"{function.__module__}:{function.__qualname__}"
    if "<" in function.__qualname__:  # <lambda>, <locals>
        raise TypeError(
            f"{name} cannot be saved by reference; define it at the top level of a module."
        )
    return name


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
    """Where in a description an object was only described, not stored."""
    if isinstance(description, dict):
        if "__object__" in description:
            return [f"{path} ({description['__object__']})"]
        items = description.get("__tuple__", description.get("__items__", description))
        if isinstance(items, list):
            return [p for i, v in enumerate(items) for p in unrestorable(v, f"{path}[{i}]")]
        return [p for k, v in items.items() for p in unrestorable(v, f"{path}.{k}" if path else k)]
    if isinstance(description, list):
        return [p for i, v in enumerate(description) for p in unrestorable(v, f"{path}[{i}]")]
    return []


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
            raise ValueError(f"{ARRAYS} lacks the array {key!r} that {MANIFEST} refers to.")
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
    if "__callable__" in description:
        return resolve(description["__callable__"])
    return {k: restore(v, arrays, resolve) for k, v in description.items()}


def describe_params(estimator) -> dict[str, Any]:
    """Every parameter of ``estimator`` as JSON (for ``params.json``)."""
    return {name: describe(value) for name, value in estimator.get_params(deep=False).items()}


# -- saving and loading -----------------------------------------------------------


def save(estimator, path: str | os.PathLike) -> None:
    """Save a fitted ensemble to a new folder, without pickle.

    Parameters
    ----------
    estimator : fitted sk_kerasbag estimator
        The ensemble to save.
    path : str or path-like
        A folder that does not exist yet, or an empty one.

    Notes
    -----
    ``callbacks`` are training-time objects and are not saved: the loaded
    estimator has ``callbacks=None``. Functions (the builder, a
    ``preprocessing_function``) are saved by reference and must be defined
    at the top level of a module. An augmentation given as a generator
    object cannot be saved this way; use ``joblib.dump`` for such an estimator.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"Cannot save to {folder}: it exists and is not an empty folder.")
    arrays: dict[str, np.ndarray] = {}
    params = {
        name: None if name in _TRAINING_ONLY else describe(value, arrays)
        for name, value in estimator.get_params(deep=False).items()
    }
    fitted = {
        name: describe(value, arrays)
        for name, value in vars(estimator).items()
        if name not in params and name != "estimators_"
    }
    problems = unrestorable({"params": params, "fitted": fitted})
    if problems:
        raise TypeError(
            f"Cannot save {type(estimator).__name__} without pickle: "
            f"{', '.join(problems)} can only be stored by joblib.dump."
        )
    folder.mkdir(parents=True, exist_ok=True)
    members = [f"member_{k:02d}.keras" for k in range(1, len(estimator.estimators_) + 1)]
    for name, model in zip(members, estimator.estimators_):
        save_model(model, folder / name)
    write_arrays(folder / ARRAYS, arrays)
    write_json(
        folder / MANIFEST,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "class": f"{type(estimator).__module__}:{type(estimator).__qualname__}",
            "versions": _versions(),
            "params": params,
            "fitted": fitted,
            "members": members,
            "sha256": {name: sha256(folder / name) for name in [*members, ARRAYS]},
        },
    )


def load(
    path: str | os.PathLike,
    *,
    custom_objects: dict[str, Any] | None = None,
    safe_mode: bool = True,
):
    """Load an ensemble saved with ``save``.

    Parameters
    ----------
    path : str or path-like
        Folder written by :meth:`save`.
    custom_objects : dict, optional
        Functions and Keras objects by name: ``"module:qualname"`` keys for
        the model builder or a ``preprocessing_function``, and the usual
        Keras names for custom layers of the members.
    safe_mode : bool, default=True
        Resolve function references only from ``custom_objects`` and modules
        already imported, and load members in Keras's safe mode. ``False``
        imports the referenced modules; only use it for trusted folders.

    Returns
    -------
    estimator
        The fitted ensemble, predicting as the saved one did.
    """
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{folder} is not a saved sk_kerasbag estimator: no {MANIFEST}.")
    manifest = read_json(manifest_path)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{manifest_path} is not an sk_kerasbag estimator of format version {FORMAT_VERSION}."
        )
    try:
        check_hashes(folder, manifest["sha256"], f"The saved estimator {folder}")
        members, fitted_names, class_name = (
            manifest["members"],
            manifest["fitted"],
            manifest["class"],
        )
        params_description = manifest["params"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"{manifest_path} is incomplete or malformed ({error!r}).") from None
    if set(members) | {ARRAYS} != set(manifest["sha256"]):
        raise ValueError(f"{manifest_path} lists members it has no SHA-256 for.")

    resolve = _resolver(custom_objects or {}, safe_mode)
    estimator_class = _estimator_class(class_name)
    arrays = read_arrays(folder / ARRAYS)
    params = {
        name: _restore_param(name, value, arrays, resolve)
        for name, value in params_description.items()
    }
    estimator = estimator_class(**params)
    for name, value in fitted_names.items():
        setattr(estimator, name, restore(value, arrays, resolve))
    estimator.estimators_ = [
        load_model(folder / name, custom_objects=custom_objects) for name in members
    ]
    return estimator


def _restore_param(name, value, arrays, resolve):
    if name == "model":
        # The builder is only needed to fit again: a loaded ensemble predicts
        # without it, so an unresolved builder is not an error until then.
        try:
            return restore(value, arrays, resolve)
        except LookupError as error:
            return UnresolvedBuilder(value["__callable__"], str(error))
    return restore(value, arrays, resolve)


class UnresolvedBuilder:
    """Stands in for a saved model builder whose module was not imported at load.

    Calling it (by fitting the loaded estimator again) raises an error that
    says how to supply the builder.
    """

    def __init__(self, reference: str, reason: str):
        self.reference, self.reason = reference, reason

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            f"The model builder {self.reference} was not available when the estimator was "
            f"loaded ({self.reason}). Pass it with set_params(model=...) before fitting."
        )

    def __repr__(self) -> str:
        return f"UnresolvedBuilder({self.reference!r})"


def _resolver(custom_objects: dict[str, Any], safe_mode: bool) -> Callable[[str], Any]:
    def resolve(name: str) -> Any:
        if name in custom_objects:
            return custom_objects[name]
        module_name, _, qualname = name.partition(":")
        module = sys.modules.get(module_name)
        if module is None and not safe_mode:
            module = importlib.import_module(module_name)
        if module is None:
            raise LookupError(
                f"{name} is needed, but module {module_name!r} is not imported; import it "
                f"before loading, or pass custom_objects={{{name!r}: ...}}"
            )
        value = module
        for part in qualname.split("."):
            value = getattr(value, part, None)
        if value is None:
            raise LookupError(f"{name} does not exist")
        return value

    return resolve


def _estimator_class(name: str) -> type:
    module_name, _, qualname = name.partition(":")
    import sk_kerasbag

    estimator_class = getattr(sk_kerasbag, qualname, None)
    if not module_name.startswith("sk_kerasbag") or not isinstance(estimator_class, type):
        raise ValueError(f"{name} is not an sk_kerasbag estimator.")
    return estimator_class


def _versions() -> dict[str, str]:
    import sklearn

    from . import __version__

    return {
        "sk_kerasbag": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }
