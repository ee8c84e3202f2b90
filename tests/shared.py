"""Shared, read-only fitted ensembles: how a test reads a fit without paying for one.

Most tests only read a fitted ensemble (its predictions, its fitted attributes,
its run folder), and a fit costs far more than the reading: on two cores the
suite's time is mostly Keras tracing the members' train steps. So a module
defines its fits once, with :func:`shared_fixture`, and every test of the module
that only reads one takes it as an argument. ``tests/conftest.py`` sends a
module's tests to one pytest-xdist worker (so each shared fit is made once per
run) and, around every test that uses one, checks that it left the shared value
exactly as it found it: a test that changes a shared fit (``set_params``, a refit,
``warm_start`` growth, a changed weight, a file written into a shared run folder)
fails, naming the fixture. A test that must change one works on a copy
(``copy.deepcopy``, ``sklearn.base.clone`` and a refit, ``shutil.copytree``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

# The names of the fixtures made with shared_fixture (conftest guards them).
NAMES: set[str] = set()


def shared_fixture(function=None, *, scope: str = "module"):
    """``pytest.fixture(scope=scope)`` for a value the tests may only read (see the module doc)."""

    def decorate(factory):
        NAMES.add(factory.__name__)
        return pytest.fixture(scope=scope)(factory)

    return decorate(function) if function is not None else decorate


def fingerprint(value) -> str:
    """A digest of everything a test could change in ``value``.

    Fitted estimators: their parameters, every public attribute (fitted ones
    end in ``_``) and every member's weights. Arrays by content; folders by
    the names and contents of their files; containers item by item.
    """
    digest = hashlib.sha256()
    _feed(digest, value, {})
    return digest.hexdigest()


def _feed(digest, value, seen: dict) -> None:
    import keras
    from sklearn.base import BaseEstimator

    if isinstance(value, np.ndarray):
        digest.update(f"array{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes() if value.dtype != object else
                      repr(value.tolist()).encode())  # fmt: skip
        return
    if isinstance(value, (str, bytes, int, float, bool, type(None), np.generic)):
        digest.update(repr(value).encode())
        return
    if id(value) in seen:
        digest.update(b"seen")
        return
    # Kept alive while the digest is made: a temporary (get_params()'s dict) freed
    # here could give its id to the next object, which would then pass for seen.
    seen[id(value)] = value
    if isinstance(value, keras.Model):
        digest.update(b"model")
        for weight in value.get_weights():
            _feed(digest, weight, seen)
    elif isinstance(value, Path) and value.is_dir():
        for path in sorted(value.rglob("*")):
            digest.update(str(path.relative_to(value)).encode())
            if path.is_file():
                digest.update(path.read_bytes())
    elif isinstance(value, BaseEstimator):
        digest.update(type(value).__name__.encode())
        _feed(digest, value.get_params(deep=False), seen)
        fitted = {k: v for k, v in vars(value).items() if not k.startswith("_")}
        _feed(digest, fitted, seen)
    elif isinstance(value, dict):
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(digest, value[key], seen)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value:
            _feed(digest, item, seen)
    else:  # functions, splitters, paths to files: by what they print
        digest.update(repr(value).encode())
