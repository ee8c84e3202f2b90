"""An experiment file read and checked: its builder, estimator, parameters, schedule and output.

:func:`load_experiment` reads the whole file, resolves the builder (the
file's folder first on ``sys.path``), checks every parameter against the
builder's signature and the estimator's own constraints, and loads the data
(``_sources``), all before any training; a mistake raises
:class:`ExperimentError` naming the key.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .._artifacts import check_run_folder
from .._base import BaseKerasEnsemble, check_before_fit
from .._builder import ROUTE_PREFIX, arguments_not_taken, signature_text
from .._files import inside
from .._fixes import InvalidParameterError
from .._parameters import check_parameter
from .._references import resolve_reference, split_reference
from ._sources import load_data
from ._toml import ExperimentError, Section, expect, reject_unknown

_SECTIONS = ("model", "estimator", "data", "output", "schedule")
_FORMATS = ("npy", "csv")
_RUN_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass
class Run:
    """One training run of an experiment.

    Attributes
    ----------
    name : str
        Run name, also the name of its output folder.
    changed : dict
        The parameters its schedule entry sets (empty without a schedule).
    params : dict
        Every estimator parameter set from the file, ``model__<name>`` included.
    """

    name: str
    changed: dict[str, Any]
    params: dict[str, Any]


@dataclass
class Experiment:
    """A checked experiment file, with its data loaded.

    Attributes
    ----------
    path : Path
        The TOML file.
    builder : callable
        The model builder.
    estimator_class : type
        The sk_kerasbag estimator class.
    runs : list of Run
        The runs, in order.
    X_train, y_train, X_test, y_test
        Training and test data; ``X_train`` is a folder path for folder data
        (``y_train`` None), ``X_test`` is None without test data and
        ``y_test`` is None when test labels are unknown.
    output : dict or None
        The ``[output]`` settings (``dir`` resolved), or None to write nothing.
    data_description : str
        One line describing the data, for the log.
    scheduled : bool
        Whether the runs come from a ``[[schedule]]`` (then a comparison table ends the report).
    test_files : ndarray of str or None
        For folder data, the test images in prediction row order.
    """

    path: Path
    builder: Callable
    estimator_class: type
    runs: list[Run]
    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    output: dict[str, Any] | None
    data_description: str
    scheduled: bool = False
    test_files: np.ndarray | None = field(default=None, repr=False)

    def make_estimator(self, run: Run) -> BaseKerasEnsemble:
        """A fresh, unfitted estimator for ``run``."""
        return self.estimator_class(self.builder).set_params(**run.params)

    def check_models(self) -> None:
        """Build each run's model once on the data, as ``fit`` does first; train nothing.

        Raises
        ------
        ExperimentError
            Naming the builder (and the run) whose model the data cannot train.
        """
        for run in self.runs:
            try:
                check_before_fit(self.make_estimator(run), self.X_train, self.y_train)
            except (TypeError, ValueError) as error:
                where = "model.builder" if len(self.runs) == 1 else f"model.builder ({run.name})"
                raise ExperimentError(where, str(error)) from None

    def describe(self, runs: bool = True) -> str:
        """What the experiment does: a heading line, then (with ``runs``) each run's parameters."""
        lines = [
            f"{self.path.name}: {self.estimator_class.__name__}, {len(self.runs)} run(s); "
            f"{self.data_description}"
        ]
        if runs:
            lines += [f"  {run.name}: {format_params(run.params)}" for run in self.runs]
        return "\n".join(lines)


def load_experiment(path: str | os.PathLike) -> Experiment:
    """Read and check an experiment file, resolve its builder and load its data.

    Parameters
    ----------
    path : str or path-like
        The TOML file.

    Returns
    -------
    Experiment

    Raises
    ------
    ExperimentError
        Naming the key at fault, for any mistake in the file.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ExperimentError(None, f"file not found: {path}")
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ExperimentError(None, f"not valid TOML: {error}") from None
    reject_unknown(document, _SECTIONS, "")
    root = path.parent

    model = Section(document, "model")
    with importable_from(root):
        builder = _resolve_builder(model.get("builder", str), "model.builder", root)
    model_params = {
        ROUTE_PREFIX + name: value for name, value in model.get("params", dict, {}).items()
    }
    for name in model_params:
        _check_builder_param(builder, name, f"model.params.{name[len(ROUTE_PREFIX) :]}")
    model.done()

    estimator = Section(document, "estimator")
    estimator_class = _resolve_estimator(estimator.get("class", str), "estimator.class")
    base_params = estimator.get("params", dict, {})
    estimator.done()
    checker = _ParamChecker(estimator_class, builder)
    checker.check(base_params, "estimator.params")
    base_params = {**model_params, **base_params}

    runs = _read_schedule(document, path.stem, base_params, checker)
    data = load_data(Section(document, "data", required=True), root, estimator_class, base_params)
    output = _read_output(document, root, data, runs)
    return Experiment(
        path=path,
        builder=builder,
        estimator_class=estimator_class,
        runs=runs,
        X_train=data["X_train"],
        y_train=data["y_train"],
        X_test=data["X_test"],
        y_test=data["y_test"],
        output=output,
        data_description=data["description"],
        scheduled="schedule" in document,
        test_files=data.get("test_files"),
    )


@contextlib.contextmanager
def importable_from(folder: Path):
    """Put ``folder`` first on ``sys.path`` for the duration of the block."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _resolve_builder(reference: str, where: str, folder: Path) -> Callable:
    try:
        module_name, _ = split_reference(reference)
    except ValueError:
        raise ExperimentError(where, f'expected "module:function", got {reference!r}') from None
    _forget_shadowed_module(module_name, folder)
    # Imported first on its own, so that a module failing to import and a name
    # missing from it get their own messages (resolve_reference then finds the
    # module imported).
    try:
        importlib.import_module(module_name)
    except Exception as error:  # a broken module is the file's problem, reported by key
        raise ExperimentError(
            where, f"cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from None
    try:
        target = resolve_reference(reference)
    except AttributeError as error:
        raise ExperimentError(where, str(error)) from None
    if not callable(target):
        raise ExperimentError(where, f"{reference!r} is {type(target).__name__}, not a function")
    return target


def _forget_shadowed_module(module_name: str, folder: Path) -> None:
    """Drop a cached module of that name when the TOML file's folder has its own.

    Two experiment files in different folders may each have a ``my_models.py``;
    without this, the second would get the first one's module from the cache.
    """
    local = folder.joinpath(*module_name.split("."))
    candidates = [local.with_suffix(".py"), local / "__init__.py"]
    cached = sys.modules.get(module_name)
    cached_file = getattr(cached, "__file__", None)
    if cached is not None and any(c.is_file() for c in candidates):
        if cached_file is None or Path(cached_file).resolve() not in candidates:
            del sys.modules[module_name]
            importlib.invalidate_caches()


def _resolve_estimator(name: str, where: str) -> type:
    import sk_kerasbag  # here, not at the top: the package may import this module

    classes = sorted(
        n
        for n in sk_kerasbag.__all__
        if isinstance(getattr(sk_kerasbag, n), type)
        and issubclass(getattr(sk_kerasbag, n), BaseKerasEnsemble)
    )
    if name not in classes:
        raise ExperimentError(
            where, f"unknown estimator {name!r}; expected one of {', '.join(classes)}"
        )
    return getattr(sk_kerasbag, name)


def _check_builder_param(builder: Callable, name: str, where: str) -> None:
    """Fail on a ``model__<name>`` argument the builder does not take."""
    if arguments_not_taken(builder, [name[len(ROUTE_PREFIX) :]]):
        raise ExperimentError(
            where, f"not an argument of the model builder {signature_text(builder)}"
        )


class _ParamChecker:
    """Checks estimator parameter names and values against the estimator itself."""

    def __init__(self, estimator_class: type, builder: Callable):
        self.estimator_class = estimator_class
        self.builder = builder
        self.names = set(estimator_class(builder).get_params(deep=False))

    def check(self, params: dict, where: str) -> None:
        for name, value in params.items():
            key = f"{where}.{name}"
            if name == "model":
                raise ExperimentError(key, "the builder is set by model.builder")
            if name.startswith(ROUTE_PREFIX):
                _check_builder_param(self.builder, name, key)
                continue
            if name not in self.names:
                raise ExperimentError(key, f"not a parameter of {self.estimator_class.__name__}")
            try:
                check_parameter(self.estimator_class, name, value)
            except InvalidParameterError as error:
                raise ExperimentError(key, str(error)) from None


def _read_schedule(document: dict, stem: str, base: dict, checker: _ParamChecker) -> list[Run]:
    if "schedule" not in document:
        return [Run(name=stem, changed={}, params=dict(base))]
    schedule = expect(document["schedule"], list, "schedule")
    if not schedule:
        raise ExperimentError("schedule", "empty; remove it, or add [[schedule]] tables")
    runs = []
    for i, entry in enumerate(schedule):
        # A one-table document, so that the entry is read like any other section.
        section = Section({f"schedule[{i}]": entry}, f"schedule[{i}]")
        name = section.get("name", str)
        if not _RUN_NAME.fullmatch(name) or name in (".", ".."):
            raise ExperimentError(
                f"schedule[{i}].name", f"{name!r} is no folder name; use letters, digits, . _ -"
            )
        if name in {run.name for run in runs}:
            raise ExperimentError(f"schedule[{i}].name", f"{name!r} is used twice")
        changed = section.get("params", dict, {})
        section.done()
        checker.check(changed, f"schedule[{i}].params")
        runs.append(Run(name=name, changed=changed, params={**base, **changed}))
    return runs


def _read_output(document: dict, root: Path, data: dict, runs: list[Run]) -> dict[str, Any] | None:
    if "output" not in document:
        return None
    section = Section(document, "output")
    folder = (root / Path(section.get("dir", str)).expanduser()).resolve()
    output = {
        "dir": folder,
        "predictions": section.get("predictions", bool, True),
        "oof": section.get("oof", bool, False),
        "oof_cv": section.get("oof_cv", int, 5),
        "artifacts": section.get("artifacts", bool, False),
        "format": section.get("format", str, "npy"),
    }
    section.done()
    if output["format"] not in _FORMATS:
        raise ExperimentError("output.format", f"{output['format']!r}; expected npy or csv")
    if output["oof_cv"] < 2:
        raise ExperimentError("output.oof_cv", f"expected 2 or more folds, got {output['oof_cv']}")
    if folder.exists() and not folder.is_dir():
        raise ExperimentError("output.dir", f"not a folder: {folder}")
    for key in ("X_train", "X_test"):
        if data["source"] == "folder" and data[key] is not None:
            if inside(folder, data[key]):
                data_key = "data.train" if key == "X_train" else "data.test"
                raise ExperimentError("output.dir", f"inside the data folder {data_key}: {folder}")
    if output["artifacts"]:
        for i, run in enumerate(runs):
            if "save_dir" in run.params:
                where = f"schedule[{i}].params" if "save_dir" in run.changed else "estimator.params"
                raise ExperimentError(
                    f"{where}.save_dir", "set by output.artifacts; remove one of them"
                )
            # Checked here as well as by fit, so that run 3 cannot fail after runs 1-2 trained.
            try:
                check_run_folder(
                    folder / run.name / "artifacts", resume=bool(run.params.get("resume"))
                )
            except OSError as error:
                raise ExperimentError(
                    "output.artifacts",
                    f"{error} In the experiment file: estimator.params.resume = true, or "
                    "another output.dir.",
                ) from None
    return output


def format_params(params: dict[str, Any]) -> str:
    # Values as the TOML file writes them (true, "text"), not as Python does.
    return ", ".join(f"{name}={_toml_value(value)}" for name, value in params.items())


def _toml_value(value: Any) -> str:
    try:
        return json.dumps(value)
    except TypeError:  # not from a TOML file (a date, or set in Python)
        return repr(value)
