"""Members that travel through pickle (joblib, worker processes, Dask) with their custom objects.

Keras pickles a model by saving it and loads it back with
``custom_objects=None``: a member whose builder used a loss, layer, metric,
activation or ``Model`` subclass that is not registered with Keras pickles
fine, and then fails to unpickle ("Could not locate class"), in
``joblib.load`` or in the parent of a worker that trained it.
:func:`portable` wraps a member so that its pickle also carries those
objects, and its unpickling hands them to Keras. They are pickled by
cloudpickle: by reference (module and name, as pickle stores them) where
another process can import them, else by value, their code included: a class
or function of a script's ``__main__`` or defined inside a function travels
with the model.
"""

from __future__ import annotations

import inspect
import os
import pickle
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ._fixes import reachable
from ._keras import keras
from ._references import resolve_reference

try:  # joblib before 1.5 ships its own: loky's, whose class identities we share
    from joblib.externals import cloudpickle
except ImportError:  # joblib 1.5 and later depend on cloudpickle instead
    import cloudpickle


def portable(model: keras.Model) -> _PortableModel:
    """``model``, wrapped so that it unpickles as a ``keras.Model`` in any process."""
    return _PortableModel(model)


def check_portable(model: keras.Model) -> None:
    """Raise TypeError, naming what to change, if ``model`` cannot travel between processes."""
    try:
        pickle.loads(pickle.dumps(portable(model)))
    except Exception as error:
        # Keras's message holds the whole model config; its cause is one phrase, or
        # (a failed rebuild) the line after its last "Exception encountered:".
        message = str(error)
        cause = re.search(r"Could not locate \w+ '[^']+'", message)
        innermost = message.rpartition("Exception encountered:")[2].strip()
        first_line = (innermost.splitlines() or [""])[0][:300]
        reason = cause.group(0) if cause else f"{type(error).__name__}: {first_line}"
        raise TypeError(
            f"The members cannot be sent between processes ({reason}). Keras rebuilds "
            "them from their configuration: give each custom layer, loss, metric and Model "
            "subclass a get_config() returning its constructor's arguments, and keep what "
            "they hold picklable; or train with n_jobs=1."
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
        # Pickled apart, by cloudpickle: pickle itself would store a class of
        # __main__ by a name that another process lacks, and refuse a local one.
        # In the process that pickled it, a class comes back as itself.
        return _load_model, (data, cloudpickle.dumps(custom_objects_of(self.model)))


def _load_model(data: bytes, custom_objects: bytes | dict[str, Any]) -> keras.Model:
    if isinstance(custom_objects, bytes):  # by cloudpickle; older pickles hold the dict
        custom_objects = pickle.loads(custom_objects)
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

    Keyed as Keras looks them up when loading. Both are found among the
    model's own objects (its layers, loss, metrics, optimizer and what they
    hold), which is where a class defined in ``__main__`` or inside a
    function can be found; a class none of them is an instance of, by the
    module the saved form records.
    """
    config = keras.saving.serialize_keras_object(model)
    functions, classes = _objects_of(model)
    found: dict[str, Any] = {}
    for entry in _entries(config):
        module, name = entry.get("module"), entry.get("class_name")
        if module is None and "module" in entry:  # how Keras saves a class of __main__
            module = "__main__"
        registered = entry.get("registered_name") or name
        if name == "function" and isinstance(entry.get("config"), str):
            function = functions.get(entry["config"])
            if function is not None and not _of_keras(function.__module__):
                found[entry["config"]] = function
        elif isinstance(module, str) and isinstance(name, str) and not _of_keras(module):
            value = classes.get((module, name)) or _attribute(module, name)
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


# The Keras objects whose attributes can hold custom objects, as the saved form names them.
_HOLDERS = (
    keras.layers.Layer,
    keras.losses.Loss,
    keras.metrics.Metric,
    keras.optimizers.Optimizer,
    keras.optimizers.schedules.LearningRateSchedule,
    keras.initializers.Initializer,
    keras.regularizers.Regularizer,
    keras.constraints.Constraint,
)


def _objects_of(model: keras.Model) -> tuple[dict[str, Any], dict[tuple[str, str], type]]:
    """Functions held by the model and what it holds, by name; their classes, by module and name."""
    functions: dict[str, Any] = {}
    classes: dict[tuple[str, str], type] = {}
    for item in reachable(model, through=_HOLDERS):
        if inspect.isfunction(item):
            functions.setdefault(item.__name__, item)
        elif not isinstance(item, (list, tuple, dict)):
            classes.setdefault((type(item).__module__, type(item).__name__), type(item))
    return functions, classes


def _attribute(module_name: str, name: str) -> Any:
    """The class a saved form names by module and name, where an import reaches it; else None."""
    try:
        return resolve_reference(f"{module_name}:{name}")
    except (ImportError, AttributeError, ValueError):
        return None


def _of_keras(module: str) -> bool:
    return module == "builtins" or module.split(".")[0] in ("keras", "tf_keras", "tensorflow")
