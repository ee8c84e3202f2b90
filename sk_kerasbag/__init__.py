"""sk_kerasbag: bagged and K-fold ensembles of Keras models as scikit-learn estimators."""

from ._version import __version__
from .bagging import BaggedKerasClassifier, BaggedKerasRegressor
from .datasets import load_digits_images
from .directory import DirectoryBaggedClassifier, DirectoryKFoldClassifier
from .exceptions import NotFiniteError
from .folders import list_images
from .kfold import KFoldKerasClassifier, KFoldKerasRegressor
from .persistence import load
from .plotting import plot_history
from .stacking import oof_predict

__all__ = [
    "__version__",
    "BaggedKerasClassifier",
    "BaggedKerasRegressor",
    "DirectoryBaggedClassifier",
    "DirectoryKFoldClassifier",
    "KFoldKerasClassifier",
    "KFoldKerasRegressor",
    "NotFiniteError",
    "list_images",
    "load",
    "load_digits_images",
    "oof_predict",
    "plot_history",
]
