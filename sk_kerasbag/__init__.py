"""sk_kerasbag: bagged and K-fold ensembles of Keras models as scikit-learn estimators.

The public names are imported on first use (PEP 562), so that ``import
sk_kerasbag`` and the command line's ``--help`` and ``--version`` do not
load Keras and its backend; the first use loads them without the backend's
start-up log lines (every module takes Keras from ``sk_kerasbag._keras``).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# Public name -> the module defining it.
_PUBLIC = {
    "BaggedKerasClassifier": "bagging",
    "BaggedKerasRegressor": "bagging",
    "DirectoryBaggedClassifier": "directory",
    "DirectoryKFoldClassifier": "directory",
    "KFoldKerasClassifier": "kfold",
    "KFoldKerasRegressor": "kfold",
    "NotFiniteError": "exceptions",
    "OOFStackingClassifier": "stacking",
    "OOFStackingRegressor": "stacking",
    "list_images": "folders",
    "load": "persistence",
    "load_digits_images": "datasets",
    "oof_predict": "stacking",
    "plot_history": "plotting",
    "plot_training": "plotting",
}

__all__ = ["__version__", *_PUBLIC]


# The public modules, reachable as attributes (``sk_kerasbag.persistence``)
# without an import of their own, as when ``__init__`` imported them all.
_MODULES = {*_PUBLIC.values(), "cli", "experiment", "models", "reporting"}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'sk_kerasbag' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
