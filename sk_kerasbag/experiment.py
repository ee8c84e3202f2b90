"""Experiments described in one TOML file: ``sk-kerasbag run experiment.toml``.

The file holds every parameter of a run: the model builder (by reference) and
its parameters, the estimator and its parameters, the data, and what to
write. A ``[[schedule]]`` list runs several parameter sets one after the other
and prints a comparison table. The whole file, the builder and the data are
checked before any training starts; a mistake raises :class:`ExperimentError`
naming the key at fault, such as ``estimator.params.n_estimatorz: not a
parameter of BaggedKerasClassifier``.

Example
-------
.. code-block:: toml

    [model]
    builder = "my_models:small_cnn"     # "module:function"; my_models.py may sit next to this file
    params = { filters = 16 }           # builder arguments, routed as model__filters = 16

    [estimator]
    class = "BaggedKerasClassifier"     # a public sk_kerasbag estimator
    params = { n_estimators = 3, epochs = 5, oob_score = true, random_state = 0 }

    [data]
    source = "digits"                   # the bundled 8x8 digits images, no download
    test_size = 0.25

    [output]
    dir = "runs/exp1"                   # run <name> writes into runs/exp1/<name>
    predictions = true
    oof = true

    [[schedule]]                        # optional: one run per table
    name = "small"
    params = { epochs = 3, model__filters = 8 }

    [[schedule]]
    name = "large"
    params = { epochs = 3, model__filters = 32 }

Keys (relative paths are relative to the TOML file's folder)
------------------------------------------------------------
``[model]``
    ``builder`` (required): ``"module:function"``, imported with the TOML
    file's folder first on ``sys.path``. ``params``: builder arguments,
    checked against its signature.
``[estimator]``
    ``class`` (required): ``BaggedKerasClassifier``, ``KFoldKerasRegressor``,
    ``DirectoryBaggedClassifier``, ... ``params``: its parameters, names from
    its ``get_params()`` (also ``model__<name>``), values checked by its own
    parameter constraints.
``[data]``
    ``source`` (required) is one of:

    * ``"digits"``: ``test_size`` (default 0.25; a stratified split),
      ``n_samples`` (use only the first images, for a quick trial) and
      ``random_state`` of the split (default: the estimator's int
      ``random_state``, else 0).
    * ``"npz"``: ``path`` (required) of a ``.npz`` file; ``X_train``,
      ``y_train``, ``X_test``, ``y_test`` name its arrays (defaults: those
      names; the test arrays are optional).
    * ``"folder"``: ``train`` (required), a folder with one sub-folder per
      class, and ``test`` (optional), scored when its images are in class
      sub-folders too. Needs a ``Directory*`` estimator.
``[output]`` (optional: without it nothing is written)
    ``dir`` (required); ``predictions`` (default true): test predictions
    (``predict_proba`` of classifiers, ``predict`` of regressors);
    ``oof`` (default false): out-of-fold predictions of the training rows,
    the K-fold estimators' own, the bagged estimators' out-of-bag ones with
    ``oob_score = true``, else cross-fitted with :func:`~sk_kerasbag.oof_predict`
    and ``oof_cv`` folds (default 5); ``format``: ``"npy"`` (default) or
    ``"csv"``; ``artifacts`` (default false): the estimator's ``save_dir``
    set to ``<dir>/<name>/artifacts``. Run
    ``<name>`` writes ``<dir>/<name>/test_predictions.npy``,
    ``oof_predictions.npy`` (NaN for rows no member held out) and, for
    folder data, ``test_files.txt`` (the image of each prediction row).
``[[schedule]]``
    ``name`` (required; letters, digits, ``.``, ``_``, ``-``) and ``params``
    overriding ``estimator.params`` for that run. Keys name a schedule
    entry by its index from 0: ``schedule[1].params.epochz``. Without a
    schedule, the single run is named after the TOML file.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import train_test_split

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ._base import BaseKerasEnsemble
from ._builder import ROUTE_PREFIX
from ._fixes import InvalidParameterError, validate_parameter_constraints
from .datasets import load_digits_images
from .directory import DirectoryDataMixin
from .folders import class_folder_images, list_images
from .stacking import oof_predict

__all__ = ["Experiment", "ExperimentError", "Run", "load_experiment", "run_experiment"]

_SECTIONS = ("model", "estimator", "data", "output", "schedule")
_SOURCES = ("digits", "npz", "folder")
_FORMATS = ("npy", "csv")
_RUN_NAME = re.compile(r"[A-Za-z0-9._-]+")
_REQUIRED = object()
_TOML_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
               dict: "a table", list: "an array"}  # fmt: skip


class ExperimentError(ValueError):
    """A mistake in an experiment file, found before any training.

    Parameters
    ----------
    key : str or None
        Dotted key at fault, such as ``"estimator.params.epochs"``; None when
        the file as a whole is at fault.
    problem : str
        What is wrong with it.
    """

    def __init__(self, key: str | None, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(problem if key is None else f"{key}: {problem}")


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
                self.make_estimator(run)._check_model(self.X_train, self.y_train)
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
            lines += [f"  {run.name}: {_format_params(run.params)}" for run in self.runs]
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
    _reject_unknown(document, _SECTIONS, "")
    root = path.parent

    model = _Section(document, "model")
    with _importable_from(root):
        builder = _resolve_builder(model.get("builder", str), "model.builder", root)
    model_params = {
        ROUTE_PREFIX + name: value for name, value in model.get("params", dict, {}).items()
    }
    for name in model_params:
        _check_builder_param(builder, name, f"model.params.{name[len(ROUTE_PREFIX) :]}")
    model.done()

    estimator = _Section(document, "estimator")
    estimator_class = _resolve_estimator(estimator.get("class", str), "estimator.class")
    base_params = estimator.get("params", dict, {})
    estimator.done()
    checker = _ParamChecker(estimator_class, builder)
    checker.check(base_params, "estimator.params")
    base_params = {**model_params, **base_params}

    runs = _read_schedule(document, path.stem, base_params, checker)
    data = _load_data(_Section(document, "data", required=True), root, estimator_class, base_params)
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


def run_experiment(
    path: str | os.PathLike, *, out: Callable[[str], Any] = print
) -> list[dict[str, Any]]:
    """Run every run of an experiment file, printing scores and writing the outputs.

    Parameters
    ----------
    path : str or path-like
        The TOML file (see the module documentation for its keys).
    out : callable, default=print
        Called with each line of the report.

    Returns
    -------
    list of dict
        Per run: ``name``, ``changed`` (its schedule parameters), ``test_score``
        (accuracy or R^2 on the test data, None without test labels),
        ``heldout_score`` (``oob_score_`` or ``oof_score_``, None without),
        ``fit_seconds``, ``estimator`` (fitted) and ``dir`` (None without output).

    Raises
    ------
    ExperimentError
        For any mistake in the file, before any training starts.
    """
    experiment = load_experiment(path)
    out(experiment.describe(runs=False))
    results = []
    # The builder's folder stays importable while training: joblib workers
    # started for n_jobs import the builder's module again.
    with _importable_from(experiment.path.parent):
        for i, run in enumerate(experiment.runs, start=1):
            changed = _format_params(run.changed)
            out(
                f"\nrun {i}/{len(experiment.runs)} {run.name}" + (f": {changed}" if changed else "")
            )
            results.append(_run_one(experiment, run, out))
    if experiment.scheduled:
        out("\n" + _comparison_table(results))
    return results


# -- reading the file -----------------------------------------------------------


class _Section:
    """A TOML table being read: typed look-ups, then an error for any key left unread."""

    def __init__(self, document: dict, name: str, required: bool = False):
        self.name = name
        table = document.get(name, _REQUIRED if required else {})
        if table is _REQUIRED:
            raise ExperimentError(name, "missing section")
        self.table = _expect(table, dict, name)
        self.read: set[str] = set()

    def get(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        self.read.add(key)
        where = f"{self.name}.{key}"
        if key not in self.table:
            if default is _REQUIRED:
                raise ExperimentError(where, "missing")
            return default
        return _expect(self.table[key], kind, where)

    def done(self) -> None:
        _reject_unknown(self.table, self.read, self.name)


def _expect(value: Any, kind: type, where: str) -> Any:
    if kind in (int, float):
        # bool is an int to Python, but `epochs = true` is a mistake in a file.
        ok = isinstance(value, (int, kind)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        got = _TOML_TYPES.get(type(value), type(value).__name__)
        raise ExperimentError(where, f"expected {_TOML_TYPES[kind]}, got {got} {value!r}")
    return value


def _reject_unknown(table: dict, known, where: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ExperimentError(
            prefix + unknown[0], f"unknown key; expected one of {', '.join(sorted(known))}"
        )


@contextlib.contextmanager
def _importable_from(folder: Path):
    """Put ``folder`` first on ``sys.path`` for the duration of the block."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _resolve_builder(reference: str, where: str, folder: Path) -> Callable:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ExperimentError(where, f'expected "module:function", got {reference!r}')
    _forget_shadowed_module(module_name, folder)
    try:
        target = importlib.import_module(module_name)
    except Exception as error:  # a broken module is the file's problem, reported by key
        raise ExperimentError(
            where, f"cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ExperimentError(where, f"{target.__name__!r} has no attribute {part!r}")
        target = getattr(target, part)
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
    try:
        parameters = inspect.signature(builder).parameters
    except (TypeError, ValueError):  # no signature to check against
        return
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    if name[len(ROUTE_PREFIX) :] not in parameters:
        raise ExperimentError(
            where,
            f"not an argument of the model builder "
            f"{getattr(builder, '__qualname__', builder)}{inspect.signature(builder)}",
        )


class _ParamChecker:
    """Checks estimator parameter names and values against the estimator itself."""

    def __init__(self, estimator_class: type, builder: Callable):
        self.estimator_class = estimator_class
        self.builder = builder
        self.names = set(estimator_class(builder).get_params(deep=False))
        self.constraints = estimator_class._parameter_constraints

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
            if name in self.constraints:
                try:
                    validate_parameter_constraints(
                        {name: self.constraints[name]},
                        {name: value},
                        caller_name=self.estimator_class.__name__,
                    )
                except InvalidParameterError as error:
                    raise ExperimentError(key, str(error)) from None


def _read_schedule(document: dict, stem: str, base: dict, checker: _ParamChecker) -> list[Run]:
    if "schedule" not in document:
        return [Run(name=stem, changed={}, params=dict(base))]
    schedule = _expect(document["schedule"], list, "schedule")
    if not schedule:
        raise ExperimentError("schedule", "empty; remove it, or add [[schedule]] tables")
    runs = []
    for i, entry in enumerate(schedule):
        # A one-table document, so that the entry is read like any other section.
        section = _Section({f"schedule[{i}]": entry}, f"schedule[{i}]")
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


def _load_data(
    section: _Section, root: Path, estimator_class: type, estimator_params: dict
) -> dict[str, Any]:
    source = section.get("source", str)
    if source not in _SOURCES:
        raise ExperimentError("data.source", f"{source!r}; expected one of {', '.join(_SOURCES)}")
    if issubclass(estimator_class, DirectoryDataMixin) != (source == "folder"):
        wanted = "a Directory* estimator" if source == "folder" else "an array estimator"
        raise ExperimentError(
            "estimator.class",
            f'{estimator_class.__name__} does not take data.source = "{source}"; use {wanted}',
        )
    loader = {"digits": _digits, "npz": _npz, "folder": _folder}[source]
    data = loader(section, root, estimator_params)
    section.done()
    return {"source": source, **data}


def _digits(section: _Section, root: Path, estimator_params: dict) -> dict[str, Any]:
    test_size = section.get("test_size", float, 0.25)
    if not 0 < test_size < 1:
        raise ExperimentError("data.test_size", f"expected a fraction in (0, 1), got {test_size}")
    n_samples = section.get("n_samples", int, None)
    seed = estimator_params.get("random_state")
    seed = section.get("random_state", int, seed if isinstance(seed, int) else 0)
    X, y = load_digits_images()
    if n_samples is not None:
        if not 20 <= n_samples <= len(X):
            raise ExperimentError("data.n_samples", f"expected 20 to {len(X)}, got {n_samples}")
        X, y = X[:n_samples], y[:n_samples]
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, stratify=y, random_state=seed
        )
    except ValueError as error:  # too few test rows for one of each class
        raise ExperimentError("data.test_size", str(error)) from None
    return {
        "X_train": X_train,
        "y_train": y_train,
        "X_test": X_test,
        "y_test": y_test,
        "description": f"digits: {len(X_train)} training and {len(X_test)} test images",
    }


def _npz(section: _Section, root: Path, estimator_params: dict) -> dict[str, Any]:
    path = _existing(section, "path", root, Path.is_file, "file")
    names = {key: section.get(key, str, key) for key in ("X_train", "y_train", "X_test", "y_test")}
    arrays = {}
    # allow_pickle=False: a data file must not be able to run code.
    with np.load(path, allow_pickle=False) as npz:
        for key, name in names.items():
            optional = key.endswith("_test") and key not in section.table
            if name not in npz.files:
                if optional:
                    arrays[key] = None
                    continue
                raise ExperimentError(
                    f"data.{key}", f"no array {name!r} in {path} (it has {', '.join(npz.files)})"
                )
            try:
                arrays[key] = npz[name]
            except ValueError as error:
                raise ExperimentError(f"data.{key}", f"cannot read {name!r}: {error}") from None
    for X_key, y_key in (("X_train", "y_train"), ("X_test", "y_test")):
        X, y = arrays[X_key], arrays[y_key]
        if X is None and y is not None:
            raise ExperimentError(f"data.{X_key}", f"missing, but {path} has {y_key}")
        if X is not None and y is not None and len(X) != len(y):
            raise ExperimentError(f"data.{y_key}", f"{len(y)} rows, but {X_key} has {len(X)}")
    test = "no test data" if arrays["X_test"] is None else f"{len(arrays['X_test'])} test rows"
    return {**arrays, "description": f"{path.name}: {len(arrays['X_train'])} training rows, {test}"}


def _folder(section: _Section, root: Path, estimator_params: dict) -> dict[str, Any]:
    train = _existing(section, "train", root, Path.is_dir, "folder")
    test = section.get("test", str, None)
    try:
        paths, _ = class_folder_images(train)
    except ValueError as error:
        raise ExperimentError("data.train", str(error)) from None
    data = {"X_train": str(train), "y_train": None, "X_test": None, "y_test": None}
    description = f"{train.name}: {len(paths)} training images"
    if test is not None:
        test = _existing(section, "test", root, Path.is_dir, "folder")
        test_files, labels = list_images(test)
        if not len(test_files):
            raise ExperimentError("data.test", f"no images found below {test}")
        data.update(X_test=str(test), test_files=test_files)
        # Scored only when every test image sits in a class sub-folder.
        if all(label is not None for label in labels):
            data["y_test"] = labels.astype(str)
        description += f", {len(test_files)} test images"
    return {**data, "description": description}


def _existing(section: _Section, key: str, root: Path, is_kind: Callable, kind: str) -> Path:
    path = (root / Path(section.get(key, str)).expanduser()).resolve()
    if not path.exists():
        raise ExperimentError(f"data.{key}", f"{kind} not found: {path}")
    if not is_kind(path):
        raise ExperimentError(f"data.{key}", f"not a {kind}: {path}")
    return path


def _read_output(document: dict, root: Path, data: dict, runs: list[Run]) -> dict[str, Any] | None:
    if "output" not in document:
        return None
    section = _Section(document, "output")
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
            if folder.is_relative_to(data[key]):
                data_key = "data.train" if key == "X_train" else "data.test"
                raise ExperimentError("output.dir", f"inside the data folder {data_key}: {folder}")
    if output["artifacts"]:
        for i, run in enumerate(runs):
            if "save_dir" in run.params:
                where = f"schedule[{i}].params" if "save_dir" in run.changed else "estimator.params"
                raise ExperimentError(
                    f"{where}.save_dir", "set by output.artifacts; remove one of them"
                )
            artifacts = folder / run.name / "artifacts"
            # Checked here as well as by fit, so that run 3 cannot fail after runs 1-2 trained.
            if artifacts.is_dir() and any(artifacts.iterdir()) and not run.params.get("resume"):
                raise ExperimentError(
                    "output.artifacts",
                    f"{artifacts} already holds a run; set estimator.params.resume = true "
                    "or choose another output.dir",
                )
    return output


# -- running ------------------------------------------------------------------------


def _run_one(experiment: Experiment, run: Run, out: Callable[[str], Any]) -> dict[str, Any]:
    estimator = experiment.make_estimator(run)
    output = experiment.output
    run_dir = None if output is None else output["dir"] / run.name
    artifacts = output is not None and output["artifacts"]
    if artifacts:
        estimator.set_params(save_dir=str(run_dir / "artifacts"))

    started = time.perf_counter()
    estimator.fit(experiment.X_train, experiment.y_train)
    seconds = time.perf_counter() - started

    metric = "accuracy" if is_classifier(estimator) else "R^2"
    test_score = None
    if experiment.X_test is not None and experiment.y_test is not None:
        test_score = float(estimator.score(experiment.X_test, experiment.y_test))
    heldout_score = getattr(estimator, getattr(estimator, "_heldout_score_attribute", ""), None)
    heldout_score = None if heldout_score is None else float(heldout_score)
    parts = [f"fit {seconds:.1f} s"]
    if test_score is not None:
        parts.append(f"test {metric} {test_score:.4f}")
    if heldout_score is not None:
        parts.append(f"held-out {metric} {heldout_score:.4f}")
    out("  " + "; ".join(parts))

    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_outputs(experiment, estimator, run_dir, out)
    if artifacts:
        out(estimator.summary(verbose=0))
    return {
        "name": run.name,
        "changed": run.changed,
        "test_score": test_score,
        "heldout_score": heldout_score,
        "fit_seconds": seconds,
        "estimator": estimator,
        "dir": run_dir,
    }


def _write_outputs(experiment: Experiment, estimator, run_dir: Path, out) -> None:
    output = experiment.output
    classifier = is_classifier(estimator)
    columns = [str(c) for c in estimator.classes_] if classifier else None
    if classifier and _prediction_method(estimator) == "decision_function" and len(columns) == 2:
        columns = columns[1:]  # one score per row, positive for classes_[1] (scikit-learn's)
    if output["predictions"] and experiment.X_test is not None:
        predict = getattr(estimator, _prediction_method(estimator))
        _save(
            run_dir / "test_predictions", predict(experiment.X_test), output["format"], columns, out
        )
        if experiment.test_files is not None:
            # Row i of the predictions is this file's line i.
            (run_dir / "test_files.txt").write_text("\n".join(experiment.test_files) + "\n")
    if output["oof"]:
        oof = _oof(experiment, estimator, out)
        _save(run_dir / "oof_predictions", oof, output["format"], columns, out)


def _oof(experiment: Experiment, estimator, out) -> np.ndarray:
    """Out-of-fold predictions of the training rows, by the cheapest honest route."""
    heldout = getattr(estimator, getattr(estimator, "_heldout_attribute", ""), None)
    if heldout is not None:
        return heldout
    cv = experiment.output["oof_cv"]
    out(
        f"  oof: {type(estimator).__name__} has no held-out predictions "
        f"(oob_score = false); cross-fitting {cv} more ensembles with oof_predict"
    )
    X, y = experiment.X_train, experiment.y_train
    if y is None:  # a folder: oof_predict splits a list of paths
        X, y = class_folder_images(X)
    unfitted = clone(estimator)
    unfitted.set_params(save_dir=None)  # the folds must not write into the run's artifacts
    return oof_predict(unfitted, X, y, cv=cv, method=_prediction_method(estimator))[0]


def _prediction_method(estimator) -> str:
    """What a fitted estimator's predictions are written as: probabilities, scores or values."""
    if not is_classifier(estimator):
        return "predict"
    return "predict_proba" if hasattr(estimator, "predict_proba") else "decision_function"


def _save(stem: Path, values: np.ndarray, fmt: str, columns, out) -> None:
    values = np.asarray(values)
    if fmt == "npy":
        path = stem.with_suffix(".npy")
        np.save(path, values)
    else:
        path = stem.with_suffix(".csv")
        table = values.reshape(len(values), -1)
        if columns is None:
            columns = [f"output_{i}" for i in range(table.shape[1])]
        np.savetxt(path, table, delimiter=",", header=",".join(columns), comments="", fmt="%.6g")
    out(f"  wrote {path} {values.shape}")


def _format_params(params: dict[str, Any]) -> str:
    # Values as the TOML file writes them (true, "text"), not as Python does.
    return ", ".join(f"{name}={_toml_value(value)}" for name, value in params.items())


def _toml_value(value: Any) -> str:
    try:
        return json.dumps(value)
    except TypeError:  # not from a TOML file (a date, or set in Python)
        return repr(value)


def _comparison_table(results: list[dict]) -> str:
    metric = "accuracy" if is_classifier(results[0]["estimator"]) else "R^2"

    def score(value):
        return "-" if value is None else f"{value:.4f}"

    header = ["run", "changed params", f"test {metric}", f"held-out {metric}", "fit s"]
    rows = [
        [
            r["name"],
            _format_params(r["changed"]) or "-",
            score(r["test_score"]),
            score(r["heldout_score"]),
            f"{r['fit_seconds']:.1f}",
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
