"""The data an experiment trains and tests on: the ``[data]`` table's three sources.

Each source reads its keys from the ``[data]`` table and returns the training
and test data with a one-line description; a mistake raises
:class:`~sk_kerasbag.experiment.ExperimentError` naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.model_selection import train_test_split

from ..datasets import load_digits_images
from ..directory import DirectoryDataMixin
from ..folders import class_folder_images, list_images
from ._toml import ExperimentError, Section

SOURCES = ("digits", "npz", "folder")


def load_data(
    section: Section, root: Path, estimator_class: type, estimator_params: dict
) -> dict[str, Any]:
    source = section.get("source", str)
    if source not in SOURCES:
        raise ExperimentError("data.source", f"{source!r}; expected one of {', '.join(SOURCES)}")
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


def _digits(section: Section, root: Path, estimator_params: dict) -> dict[str, Any]:
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


def _npz(section: Section, root: Path, estimator_params: dict) -> dict[str, Any]:
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


def _folder(section: Section, root: Path, estimator_params: dict) -> dict[str, Any]:
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


def _existing(section: Section, key: str, root: Path, is_kind: Callable, kind: str) -> Path:
    path = (root / Path(section.get(key, str)).expanduser()).resolve()
    if not path.exists():
        raise ExperimentError(f"data.{key}", f"{kind} not found: {path}")
    if not is_kind(path):
        raise ExperimentError(f"data.{key}", f"not a {kind}: {path}")
    return path
