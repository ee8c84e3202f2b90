"""Members that travel through pickle (joblib, worker processes, Dask) with their custom objects.

Keras pickles a model by saving it and loads it back with
``custom_objects=None``: a member whose builder used a loss, layer, metric,
activation or ``Model`` subclass that is not registered with Keras pickles
fine, and then fails to unpickle ("Could not locate class"), in
``joblib.load`` or in the parent of a worker that trained it.
:func:`portable` wraps a member so that its pickle also carries those
objects, by reference (their module and name, as pickle stores any class or
function), and its unpickling hands them to Keras.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pickle
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ._keras import keras


def portable(model: keras.Model) -> _PortableModel:
    """``model``, wrapped so that it unpickles as a ``keras.Model`` in any process."""
    return _PortableModel(model)


def check_portable(model: keras.Model) -> None:
    """Raise TypeError, naming what to change, if ``model`` cannot travel between processes."""
    try:
        pickle.loads(pickle.dumps(portable(model)))
    except Exception as error:
        # Keras's message holds the whole model config; its cause is one phrase.
        cause = re.search(r"Could not locate \w+ '[^']+'", str(error))
        reason = cause.group(0) if cause else f"{type(error).__name__}: {str(error)[:300]}"
        raise TypeError(
            f"The members cannot be sent between processes ({reason}). "
            "Define custom layers, losses, metrics and Model subclasses at the top level of an "
            "importable module (not inside a function), give each a get_config() returning "
            "its constructor's arguments, or register them with "
            "keras.saving.register_keras_serializable(); or train with n_jobs=1."
        ) from None


def unwrap(member: Any) -> keras.Model:
    """The model a :func:`portable` wrapper holds (a model is returned as it is)."""
    return member.model if isinstance(member, _PortableModel) else member


class _PortableModel:
    def __init__(self, model: keras.Model):
        self.model = model

    def __reduce__(self):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "member.keras"
            self.model.save(path)
            data = path.read_bytes()
        return _load_model, (data, custom_objects_of(self.model))


def _load_model(data: bytes, custom_objects: dict[str, Any]) -> keras.Model:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "member.keras"
        path.write_bytes(data)
        with warnings.catch_warnings():
            # The optimizer's slots are restored, whatever Keras suspects.
            warnings.filterwarnings("ignore", message=".*optimizer.*", category=UserWarning)
            # Pickles run code anyway (Keras's own pickling loads unsafely too).
            return keras.saving.load_model(
                os.fspath(path), custom_objects=custom_objects, compile=True, safe_mode=False
            )


def custom_objects_of(model: keras.Model) -> dict[str, Any]:
    """The classes and functions from outside Keras that ``model``'s saved form names.

    Keyed as Keras looks them up when loading. Classes are found by the
    module the saved form records; functions (which it records by name
    only) among the model's own objects.
    """
    config = keras.saving.serialize_keras_object(model)
    functions = _functions_of(model)
    found: dict[str, Any] = {}
    for entry in _entries(config):
        module, name = entry.get("module"), entry.get("class_name")
        registered = entry.get("registered_name") or name
        if name == "function" and isinstance(entry.get("config"), str):
            function = functions.get(entry["config"])
            if function is not None and not _of_keras(function.__module__):
                found[entry["config"]] = function
        elif isinstance(module, str) and isinstance(name, str) and not _of_keras(module):
            value = _attribute(module, name)
            if value is not None:
                found[registered] = value
    return found


def _entries(value: Any):
    """Every serialized object (a dict with ``module`` and ``class_name``) in ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _functions_of(model: keras.Model) -> dict[str, Any]:
    """Functions held by the model, its layers, loss and metrics, by name."""
    functions: dict[str, Any] = {}
    seen: set[int] = set()
    stack: list[Any] = [model]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if inspect.isfunction(item):
            functions.setdefault(item.__name__, item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (keras.layers.Layer, keras.losses.Loss, keras.metrics.Metric)):
            stack.extend(vars(item).values())
    return functions


def _attribute(module_name: str, name: str) -> Any:
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
    return getattr(module, name, None)


def _of_keras(module: str) -> bool:
    return module == "builtins" or module.split(".")[0] in ("keras", "tf_keras", "tensorflow")
