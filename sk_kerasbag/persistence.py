"""Saving a fitted ensemble as plain files, and loading it back without pickle.

:func:`save` writes a folder::

    estimator.json    class, parameters, fitted attributes, metadata routing requests,
                      SHA-256 of every file
    arrays.npz        the fitted NumPy arrays (read with allow_pickle=False)
    member_01.keras   one Keras file per member

:func:`load` checks every file against its recorded SHA-256, loads the
members with Keras's safe mode and the arrays without pickle, and takes the
functions the folder names (the model builder, a ``preprocessing_function``,
saved as ``module:qualname`` references) only from the caller's
``custom_objects``, so a folder from an untrusted source cannot run code.

Values go into ``estimator.json`` as :mod:`~sk_kerasbag._descriptions`
describes them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._descriptions import UnresolvedBuilder, describe, restore, unrestorable
from ._files import (
    check_hashes,
    check_plain_file,
    load_model,
    read_arrays,
    read_json,
    save_model,
    sha256,
    staging_folder,
    write_arrays,
    write_json,
)
from ._fixes import metadata_requests, set_metadata_requests, validate_params
from ._integrity import check_fitted_state
from ._keras import keras
from ._references import qualified_name, resolve_reference, split_reference
from ._version import __version__

FORMAT = "sk_kerasbag.estimator"
FORMAT_VERSION = 1
MANIFEST = "estimator.json"
ARRAYS = "arrays.npz"

# Training-time objects that prediction never needs; they are not saved.
_TRAINING_ONLY = ("callbacks",)
# Attributes saved in files or keys of their own, not among the fitted attributes.
_SAVED_APART = ("estimators_", "_model_params", "_metadata_request")
# Parameters that say how to run a fit, not what it computes.
RUN_CONTROL = (
    "verbose", "n_jobs", "save_dir", "resume", "warm_start", "tta", "workers", "cache_mb"
)


# -- saving and loading -----------------------------------------------------------


class SaveMixin:
    """Gives the ensembles ``save``; :func:`load` rebuilds only classes that have it."""

    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted ensemble to a folder of ``.keras`` files and JSON, without pickle.

        Load it with :func:`sk_kerasbag.load`. See ``sk_kerasbag.persistence.save``.

        Parameters
        ----------
        path : str or path-like
            A new (or empty) folder.
        """
        save(self, path)


def save(estimator, path: str | os.PathLike) -> None:
    """Save a fitted ensemble to a new folder, without pickle.

    Parameters
    ----------
    estimator : fitted sk_kerasbag estimator
        The ensemble to save.
    path : str or path-like
        A folder that does not exist yet, or an empty one.

    Raises
    ------
    FileExistsError
        When ``path`` holds anything, also when another process saved there
        first: the folder is written beside ``path`` and moved into place in
        one rename, so it appears complete or not at all, with exactly one
        caller's ensemble.

    Notes
    -----
    ``callbacks`` are training-time objects and are not saved: the loaded
    estimator has ``callbacks=None``. Functions (the builder, a
    ``preprocessing_function``) are saved by reference and must be defined
    at the top level of a module. An augmentation given as a generator
    object cannot be saved this way; use ``joblib.dump`` for such an estimator.
    Metadata routing requests (``set_fit_request`` and the like) are saved,
    and the loaded estimator makes the same.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    folder = Path(path).resolve()  # "." and links to empty folders, as the folder they name
    _refuse_occupied(folder)
    arrays: dict[str, np.ndarray] = {}
    params = {
        name: None if name in _TRAINING_ONLY else describe(value, arrays)
        for name, value in estimator.get_params(deep=False).items()
    }
    fitted = {
        name: describe(value, arrays)
        for name, value in vars(estimator).items()
        if name not in params and name not in _SAVED_APART
    }
    problems = unrestorable({"params": params, "fitted": fitted})
    if problems:
        raise TypeError(
            f"Cannot save {type(estimator).__name__} without pickle: "
            f"{', '.join(problems)} can only be stored by joblib.dump."
        )
    members = [f"member_{k:02d}.keras" for k in range(1, len(estimator.estimators_) + 1)]
    with staging_folder(folder) as staging:
        for name, model in zip(members, estimator.estimators_):
            save_model(model, staging / name)
        write_arrays(staging / ARRAYS, arrays)
        write_json(
            staging / MANIFEST,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "class": qualified_name(type(estimator)),
                "versions": _versions(),
                "params": params,
                "fitted": fitted,
                "members": members,
                "metadata_request": metadata_requests(estimator),
                "sha256": {name: sha256(staging / name) for name in [*members, ARRAYS]},
            },
        )


def _refuse_occupied(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"Cannot save to {folder}: it exists and is not an empty folder.")


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
        Folder written by an estimator's ``save``.
    custom_objects : dict, optional
        The functions the ensemble refers to (the model builder, a
        ``preprocessing_function``), keyed by ``"module:qualname"`` or by
        name, such as ``{"basic_cnn": basic_cnn}``; and, with Keras's usual
        names, custom layers of the members.
    safe_mode : bool, default=True
        Take functions only from ``custom_objects`` and load members in
        Keras's safe mode, so the folder cannot make Python run anything.
        Every file is checked against the SHA-256 recorded in
        ``estimator.json``, and only plain files in the folder are read (not
        symbolic links): this catches damage, not a deliberate edit (whoever
        can edit the files can edit their hashes too).
        Without its builder a loaded ensemble predicts, but fitting it again
        needs ``set_params(model=...)``. ``False`` imports the modules the
        folder names and allows Lambda layers: only for folders you trust.

    Returns
    -------
    estimator
        The fitted ensemble, predicting as the saved one did.
    """
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not os.path.lexists(manifest_path):  # lexists: a link there is refused, below
        raise FileNotFoundError(f"{folder} is not a saved sk_kerasbag estimator: no {MANIFEST}.")
    try:
        return _load(folder, manifest_path, custom_objects or {}, safe_mode)
    except _MemberError as error:
        raise ValueError(str(error)) from error.__cause__
    except Exception as error:
        if type(error) is LookupError:  # a function the caller must supply: it says which
            raise
        if isinstance(error, ValueError) and str(folder) in str(error):
            raise  # says what is wrong, and where, already
        # Whatever the file holds, the caller learns which file is wrong, not
        # an IndexError from deep inside prediction.
        reason = str(error).rstrip(".") or type(error).__name__  # one full stop, ours
        raise ValueError(f"{manifest_path} is malformed: {reason}.") from error


def _load(folder: Path, manifest_path: Path, custom_objects: dict, safe_mode: bool):
    what = f"The saved estimator {folder}"
    check_plain_file(manifest_path, what)
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or (
        manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION
    ):
        raise ValueError(
            f"{manifest_path} is not an sk_kerasbag estimator of format version {FORMAT_VERSION}."
        )
    members, fitted = manifest.get("members"), manifest.get("fitted")
    params_description = manifest.get("params")
    if not (
        isinstance(members, list)
        and all(isinstance(name, str) for name in members)
        and isinstance(fitted, dict)
        and isinstance(params_description, dict)
        and isinstance(manifest.get("class"), str)
    ):
        raise ValueError(f"{manifest_path} is incomplete or malformed.")
    check_hashes(folder, manifest.get("sha256"), what, manifest_path, [*members, ARRAYS])
    estimator_class = _estimator_class(manifest["class"])

    resolve = _resolver(custom_objects, safe_mode)
    arrays = read_arrays(folder / ARRAYS)
    params = {
        name: _restore_param(name, value, arrays, resolve)
        for name, value in params_description.items()
    }
    estimator = estimator_class(**params)
    validate_params(estimator)
    for name, value in fitted.items():
        if name.startswith("__") or name in params or hasattr(estimator_class, name):
            raise ValueError(f"{manifest_path} sets {name!r}, which is not a fitted attribute.")
        setattr(estimator, name, restore(value, arrays, resolve))
    set_metadata_requests(estimator, manifest.get("metadata_request"))
    estimator.estimators_ = [
        _load_member(folder / name, custom_objects, safe_mode) for name in members
    ]
    check_fitted_state(estimator)
    return estimator


class _MemberError(Exception):
    """A member file that cannot be loaded; its message names the file and says why."""


def _load_member(path: Path, custom_objects: dict, safe_mode: bool) -> keras.Model:
    try:
        return load_model(path, custom_objects=custom_objects, safe_mode=safe_mode)
    except Exception as error:
        # Not the manifest's fault: a class to pass in custom_objects, a Lambda
        # layer safe mode refuses, an unreadable file.
        raise _MemberError(f"Cannot load the member {path}: {error}") from error


def _restore_param(name, value, arrays, resolve):
    if name == "model":
        # The builder is only needed to fit again: a loaded ensemble predicts
        # without it, so an unresolved builder is not an error until then.
        try:
            return restore(value, arrays, resolve)
        except LookupError as error:
            return UnresolvedBuilder(value, str(error))
    return restore(value, arrays, resolve)


def _resolver(custom_objects: dict[str, Any], safe_mode: bool) -> Callable[[str], Any]:
    def resolve(name: str) -> Any:
        if name in custom_objects:
            return custom_objects[name]
        try:
            _, qualname = split_reference(name)
        except ValueError as error:  # a hand-edited manifest: the builder is then not found
            raise LookupError(str(error)) from None
        if qualname in custom_objects:
            return custom_objects[qualname]
        if safe_mode:
            raise LookupError(
                f"{name} is needed; pass custom_objects={{{qualname!r}: {qualname}}} to load "
                "(or safe_mode=False for a folder you trust)"
            )
        try:
            value = resolve_reference(name)
        except AttributeError:
            value = None
        if value is None:
            raise LookupError(f"{name} does not exist")
        return value

    return resolve


def _estimator_class(name: str) -> type:
    # Only sk_kerasbag's own modules are imported, and only its savable
    # classes accepted: the folder cannot name anything else to run.
    estimator_class, qualname = None, None
    with contextlib.suppress(ImportError, AttributeError, ValueError):
        module_name, qualname = split_reference(name)
        if module_name == "sk_kerasbag" or module_name.startswith("sk_kerasbag."):
            estimator_class = resolve_reference(name)
    public = importlib.import_module("sk_kerasbag").__all__  # the package's estimators
    if not (
        isinstance(estimator_class, type)
        and issubclass(estimator_class, SaveMixin)
        and qualname in public
    ):
        raise ValueError(f"{name} is not an sk_kerasbag estimator.")
    return estimator_class


def _versions() -> dict[str, str]:
    import sklearn

    return {
        "sk_kerasbag": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }
