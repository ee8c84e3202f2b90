"""Ensembles trained on image files: a folder of class sub-folders, or a list of paths.

Folder data is just another kind of rows for the shared engine: the paths
become an :class:`~sk_kerasbag.folders.ImageFiles`, split by index like an
array, and read batch by batch for training and prediction. Because a list
of paths is an ordinary ``X``, scikit-learn's splitters, ``cross_val_score``,
``GridSearchCV`` and :func:`~sk_kerasbag.oof_predict` work on it unchanged.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_consistent_length, column_or_1d

from ._docs import fill_doc
from ._files import inside
from ._fixes import Interval, StrOptions
from .bagging import BaggedKerasClassifier
from .folders import COLOR_MODES, ImageFiles, class_folder_images, list_images
from .kfold import KFoldKerasClassifier

__all__ = ["DirectoryBaggedClassifier", "DirectoryKFoldClassifier"]

_IMAGE_CONSTRAINTS = {
    "image_size": [tuple, list],
    "color_mode": [StrOptions(set(COLOR_MODES))],
    "rescale": [Real, None],
    "workers": [Interval(Integral, 1, None, closed="left")],
    "cache_mb": [Interval(Real, 0, None, closed="left")],
}


class DirectoryDataMixin:
    """Rows from image files: the data hooks of the engine, for folders and path lists."""

    def _validate_training_data(self, X, y):
        if _is_folder(X):
            if y is not None:
                raise ValueError(
                    "y must be None when X is a folder: the classes are its sub-folder names."
                )
            _refuse_save_dir_inside(self.save_dir, X)
            paths, y = class_folder_images(X)
        else:
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} requires y (one label per path) when X is a "
                    "list of image paths; with a folder of class sub-folders, y is None."
                )
            paths = _image_paths(X)
            y = column_or_1d(y, warn=True)
            check_consistent_length(paths, y)
        # Only training rows are read again (every epoch): only they get a cache.
        files = self._image_files(paths, cache_bytes=int(self.cache_mb * 2**20))
        # Training reads happen inside Keras (wrapped in TensorFlow's errors):
        # check the headers now, so a file that is no image fails plainly, by name.
        files.check_readable()
        self.input_shape_ = files.shape[1:]
        return files, y

    def _validate_rows(self, X) -> ImageFiles:
        if _is_folder(X):
            paths = list_images(X)[0]
            if not len(paths):
                raise ValueError(f"No images found below {os.fspath(X)!r}.")
        else:
            paths = _image_paths(X)
        files = self._image_files(paths)
        self._check_input_shape(files)
        return files

    def _image_files(self, paths, cache_bytes: int = 0) -> ImageFiles:
        size = self.image_size
        if not (
            len(size) == 2
            and all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise ValueError(f"image_size must be (height, width) in pixels; got {size!r}.")
        return ImageFiles(paths, size, self.color_mode, self.rescale, self.workers, cache_bytes)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.classifier_tags.multi_label = False  # one class per image (its sub-folder)
        return tags


def _refuse_save_dir_inside(save_dir, folder) -> None:
    """Never write into the user's data: a run folder inside the training folder is refused."""
    if save_dir is None:
        return
    if inside(save_dir, folder):
        raise ValueError(
            f"save_dir {os.fspath(save_dir)!r} is inside the training image folder "
            f"{os.fspath(folder)!r}; sk_kerasbag never writes into your data. Choose a "
            "save_dir outside it."
        )


def _is_folder(X) -> bool:
    if isinstance(X, (str, os.PathLike)):
        if os.path.isfile(X):
            raise ValueError(
                f"X is the single file {os.fspath(X)!r}; pass a folder or a list of image paths."
            )
        return True
    return False


def _image_paths(X) -> np.ndarray:
    paths = np.asarray(X, dtype=object)
    if paths.ndim != 1 or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise ValueError(
            "X must be a folder, or a 1-D list or array of image file paths; got "
            f"{type(X).__name__} of shape {paths.shape}."
        )
    if not len(paths):
        raise ValueError("X has no image paths.")
    return np.array([os.fspath(p) for p in paths], dtype=object)


_X_DOC = """
    ``X`` is a folder with one sub-folder per class (the class is the
    sub-folder name; ``y`` is None), or a 1-D list or array of image file
    paths with labels ``y``. ``predict`` and ``predict_proba`` take a folder
    (every image below it, in the order of :func:`~sk_kerasbag.list_images`)
    or a list of paths, and return rows in that order. Images are read
    lazily, a batch at a time, and resized to ``image_size``; splits are made
    on indices, so no file is ever copied, moved, created or deleted.
    Image files that cannot be read fail with an error naming the file."""


@fill_doc
class DirectoryBaggedClassifier(DirectoryDataMixin, BaggedKerasClassifier):
    __doc__ = (
        """Bagged ensemble of Keras classifiers trained on image files.

    The image-file twin of :class:`BaggedKerasClassifier`: each member trains
    on a bootstrap sample (or random subset) of the images; ``predict_proba``
    averages the members' probabilities.
"""
        + _X_DOC
        + """

    Parameters
    ----------
    {model}
    {image_data}
    {bagging}
    {epochs}
    {batch_size}
    {callbacks}
    {validation_split}
    {validate_on_heldout}
    {early_stopping}
    {augmentation}
    {tta}
    {class_weight}
    {random_state}
    {verbose}
    {n_jobs}
    {strategy}
    {artifacts}
    {warm_start}
    {model_params}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted class labels (sub-folder names for a folder).
    {fitted_members}
    {preprocessing}
    estimators_samples_ : list of ndarray
        Rows (indices into the training images) each member was trained on.
    oob_score_ : float
        Accuracy of the out-of-bag predictions (when ``oob_score=True``).
    oob_decision_function_ : ndarray of shape (n_samples, n_classes)
        Out-of-bag class probabilities; NaN for images every member saw.
    """
    )

    # Random subspaces are for 2-D tables: the members of an image folder see every pixel.
    _parameter_constraints = {
        name: constraint
        for name, constraint in {
            **BaggedKerasClassifier._parameter_constraints,
            **_IMAGE_CONSTRAINTS,
        }.items()
        if name not in ("max_features", "bootstrap_features")
    }

    def _draws_columns(self) -> bool:
        return False

    def __init__(
        self,
        model,
        *,
        image_size=(256, 256),
        color_mode="rgb",
        rescale=None,
        workers=1,
        cache_mb=64,
        n_estimators=5,
        max_samples=1.0,
        bootstrap=True,
        oob_score=False,
        epochs=10,
        batch_size=32,
        callbacks=None,
        validation_split=0.0,
        validate_on_heldout=False,
        patience=None,
        monitor="val_loss",
        restore_best_weights=True,
        augmentation=None,
        tta=0,
        class_weight=None,
        random_state=None,
        verbose=0,
        n_jobs=None,
        strategy="sequential",
        save_dir=None,
        resume=False,
        warm_start=False,
        **model_params,
    ):
        self._set_init_params(locals())


@fill_doc
class DirectoryKFoldClassifier(DirectoryDataMixin, KFoldKerasClassifier):
    __doc__ = (
        """K-fold ensemble of Keras classifiers trained on image files.

    The image-file twin of :class:`KFoldKerasClassifier`: member ``k`` trains
    on every fold but fold ``k`` and predicts fold ``k``, giving out-of-fold
    probabilities for folder data (``oof_proba_``).
"""
        + _X_DOC
        + """

    Parameters
    ----------
    {model}
    {image_data}
    {kfold}
    {epochs}
    {batch_size}
    {callbacks}
    {validation_split}
    {validate_on_heldout}
    {early_stopping}
    {augmentation}
    {tta}
    {class_weight}
    {random_state}
    {verbose}
    {n_jobs}
    {strategy}
    {artifacts}
    {warm_start}
    {model_params}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted class labels (sub-folder names for a folder).
    {fitted_members}
    {preprocessing}
    folds_ : list of (ndarray, ndarray)
        ``(train_idx, heldout_idx)`` of each member, indices into the images.
    oof_proba_ : ndarray of shape (n_samples, n_classes)
        Out-of-fold class probabilities (each row's mean over the rounds
        that held it out), rows in training-image order.
    oof_score_ : float
        Accuracy of the out-of-fold predictions.
    """
    )

    _parameter_constraints = {**KFoldKerasClassifier._parameter_constraints, **_IMAGE_CONSTRAINTS}

    def __init__(
        self,
        model,
        *,
        image_size=(256, 256),
        color_mode="rgb",
        rescale=None,
        workers=1,
        cache_mb=64,
        n_splits=5,
        n_repeats=1,
        shuffle=True,
        stratify=True,
        cv=None,
        epochs=10,
        batch_size=32,
        callbacks=None,
        validation_split=0.0,
        validate_on_heldout=False,
        patience=None,
        monitor="val_loss",
        restore_best_weights=True,
        augmentation=None,
        tta=0,
        class_weight=None,
        random_state=None,
        verbose=0,
        n_jobs=None,
        strategy="sequential",
        save_dir=None,
        resume=False,
        warm_start=False,
        **model_params,
    ):
        self._set_init_params(locals())
