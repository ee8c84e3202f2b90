"""sk_kerasbag: bagged and K-fold ensembles of Keras models as scikit-learn estimators.

The public names are imported on first use (PEP 562), so that ``import
sk_kerasbag`` and the command line's ``--help`` and ``--version`` do not
load Keras and its backend; the first use loads them without the backend's
start-up log lines (see ``sk_kerasbag._backend``).
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
    "list_images": "folders",
    "load": "persistence",
    "load_digits_images": "datasets",
    "oof_predict": "stacking",
    "plot_history": "plotting",
    "plot_training": "plotting",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'sk_kerasbag' has no attribute {name!r}")
    from ._backend import import_keras

    import_keras()
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
