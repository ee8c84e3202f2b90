"""Out-of-fold predictions for stacking and blending.

:func:`oof_predict` is :func:`sklearn.model_selection.cross_val_predict` that
also keeps each fold's model long enough to predict a test set: the
out-of-fold training predictions become the meta-model's training features
and the fold-averaged test predictions its test features.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted, indexable

from ._fixes import (
    check_is_permutation,
    check_method_params,
    enforce_prediction_order,
    num_samples,
    safe_split,
)
from .folders import list_images
from .kfold import KFoldMixin

__all__ = ["oof_predict"]

_PROBABILISTIC = ("decision_function", "predict_proba", "predict_log_proba")
_METHODS = ("predict_proba", "predict", "decision_function", "predict_log_proba")


def oof_predict(
    estimator,
    X,
    y,
    X_test=None,
    *,
    cv: Any = 5,
    method: str = "predict_proba",
    groups=None,
    n_jobs: int | None = None,
    params: dict | None = None,
    return_fold_predictions: bool = False,
) -> tuple:
    """Out-of-fold predictions for ``X`` and fold-averaged predictions for ``X_test``.

    For each split of ``cv``, a clone of ``estimator`` is fitted on the
    training rows, predicts the held-out rows (together they form
    ``oof_train``, exactly as :func:`~sklearn.model_selection.cross_val_predict`
    returns it) and predicts ``X_test``.

    Parameters
    ----------
    estimator : estimator object
        Any scikit-learn estimator. With ``cv="prefit"``, a fitted
        ``KFoldKerasClassifier`` or ``KFoldKerasRegressor``.
    X : array-like of shape (n_samples, ...)
        Training rows.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Training targets.
    X_test : array-like of shape (n_test_samples, ...), default=None
        Rows to predict with every fold's model.
    cv : int, cross-validation generator, iterable or "prefit", default=5
        As in ``cross_val_predict`` (an int gives ``StratifiedKFold`` for
        classifiers, ``KFold`` otherwise, both unshuffled). ``"prefit"``
        reuses a fitted K-fold estimator's folds instead of training: its
        out-of-fold predictions from ``fit`` and its members' predictions on
        ``X_test``. ``X`` and ``y`` must then be the data it was fitted on;
        ``groups``, ``params`` and ``n_jobs`` are not used.
    method : {"predict_proba", "predict", "decision_function", "predict_log_proba"}, \
default="predict_proba"
        Method of the fitted folds to call.
    groups : array-like of shape (n_samples,), default=None
        Group labels for a group-aware ``cv`` splitter.
    n_jobs : int, default=None
        Folds fitted in parallel through joblib.
    params : dict, default=None
        Parameters passed to each fold's ``fit``; per-row values (such as
        ``sample_weight``) are split with the rows.
    return_fold_predictions : bool, default=False
        Also return each fold's predictions on ``X_test``.

    Returns
    -------
    oof_train : ndarray of shape (n_samples,) or (n_samples, n_columns)
        Each row predicted by the fold model that did not train on it.
    test_pred : ndarray of shape (n_test_samples,) or (n_test_samples, n_columns), or None
        The mean of the fold models' predictions on ``X_test`` (for a
        classifier's ``predict``, their majority vote, ties going to the
        smallest label); None when ``X_test`` is None.
    fold_test_preds : list of ndarray
        Only with ``return_fold_predictions=True``: each fold's predictions
        on ``X_test`` (None when ``X_test`` is None).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sk_kerasbag import oof_predict
    >>> X, y = load_iris(return_X_y=True)
    >>> oof, test = oof_predict(LogisticRegression(max_iter=500), X[:120], y[:120], X[120:])
    >>> oof.shape, test.shape
    ((120, 3), (30, 3))
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if not hasattr(estimator, method):
        raise ValueError(
            f"{type(estimator).__name__} has no {method}(); pass the method it has, such as "
            'method="predict" for a regressor.'
        )
    if isinstance(cv, str) and cv == "prefit":
        oof_train, fold_preds = _prefit_predictions(estimator, X, X_test, method)
    else:
        oof_train, fold_preds = _cross_fitted_predictions(
            estimator,
            X,
            y,
            X_test,
            cv=cv,
            method=method,
            groups=groups,
            n_jobs=n_jobs,
            params=params,
        )
    test_pred = None
    if X_test is None:
        fold_preds = None
    else:
        vote = method == "predict" and is_classifier(estimator)
        test_pred = _majority_vote(fold_preds) if vote else _mean(fold_preds)
    if return_fold_predictions:
        return oof_train, test_pred, fold_preds
    return oof_train, test_pred


def _cross_fitted_predictions(estimator, X, y, X_test, *, cv, method, groups, n_jobs, params):
    """The ``cross_val_predict`` path, with every fold also predicting ``X_test``."""
    X, y = indexable(X, y)
    cv = check_cv(cv, y, classifier=is_classifier(estimator))
    splits = list(cv.split(X, y, groups))
    test_indices = np.concatenate([test for _, test in splits])
    if not check_is_permutation(test_indices, num_samples(X)):
        raise ValueError(
            "oof_predict needs a cv whose test folds partition the rows (every row in "
            "exactly one test fold), as cross_val_predict does."
        )
    # As cross_val_predict: probability-like outputs are computed on encoded
    # labels, so that every fold's columns line up.
    encode = method in _PROBABILISTIC and y is not None
    if encode:
        y = np.asarray(y)
        if y.ndim == 1:
            y = LabelEncoder().fit_transform(y)
        else:
            y = np.column_stack([LabelEncoder().fit_transform(column) for column in y.T])
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_fold)(
            clone(estimator), X, y, train, test, X_test, params or {}, method, encode
        )
        for train, test in splits
    )
    oof_parts = [oof for oof, _ in results]
    order = np.empty(len(test_indices), dtype=int)
    order[test_indices] = np.arange(len(test_indices))
    if isinstance(oof_parts[0], list):
        oof_train = [
            np.concatenate([p[i] for p in oof_parts])[order] for i in range(len(oof_parts[0]))
        ]
    else:
        oof_train = np.concatenate(oof_parts)[order]
    return oof_train, [test for _, test in results]


def _fit_fold(estimator, X, y, train, test, X_test, fit_params, method, encoded):
    """Fit one fold; predict its held-out rows and ``X_test``."""
    fit_params = check_method_params(X, params=fit_params, indices=train)
    X_train, y_train = safe_split(estimator, X, y, train)
    X_heldout, _ = safe_split(estimator, X, y, test, train)
    estimator.fit(X_train, y_train, **fit_params)
    predict = getattr(estimator, method)

    def ordered(predictions):
        """Columns for every class of ``y``, even those missing from this fold (as sklearn)."""
        if not encoded:
            return predictions
        if isinstance(predictions, list):
            return [
                enforce_prediction_order(
                    estimator.classes_[i], p, n_classes=len(set(y[:, i])), method=method
                )
                for i, p in enumerate(predictions)
            ]
        n_classes = len(set(y)) if y.ndim == 1 else y.shape[1]
        return enforce_prediction_order(estimator.classes_, predictions, n_classes, method)

    test_pred = None if X_test is None else ordered(predict(X_test))
    return ordered(predict(X_heldout)), test_pred


def _prefit_predictions(estimator, X, X_test, method):
    """Out-of-fold and per-fold test predictions of a fitted K-fold ensemble, without training."""
    if not isinstance(estimator, KFoldMixin):
        raise TypeError(
            'cv="prefit" needs a fitted KFoldKerasClassifier or KFoldKerasRegressor; '
            f"got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    heldout = getattr(estimator, estimator._heldout_attribute)
    if isinstance(X, (str, os.PathLike)):  # a folder, for the directory estimators
        X = list_images(X)[0]
    if num_samples(X) != len(heldout):
        raise ValueError(
            f'cv="prefit": X has {num_samples(X)} rows, but the estimator was fitted on '
            f"{len(heldout)}; pass the data it was fitted on."
        )
    test_indices = np.concatenate([test for _, test in estimator.folds_])
    if not check_is_permutation(test_indices, len(heldout)):
        raise ValueError(
            'cv="prefit" needs an estimator whose folds hold out every row exactly once; '
            "its cv does not partition the rows."
        )
    if X_test is not None:
        n_passes = estimator._prediction_passes(X_test)[1]
        fit_passes, fit_augmentation = estimator._heldout_passes
        if n_passes != fit_passes or (n_passes and estimator.augmentation != fit_augmentation):
            warnings.warn(
                f"The out-of-fold predictions were made with {fit_passes} TTA passes at fit, "
                f"the test predictions with {n_passes} passes or another augmentation; the "
                "meta-model's train and test features then differ in kind.",
                UserWarning,
            )

    def as_method(output):
        if method == "predict":
            return _labels_or_values(estimator, estimator._format_output(output))
        return np.array(output, copy=True)

    fold_preds = None
    if X_test is not None:
        fold_preds = [as_method(output) for output in estimator.member_predictions(X_test)]
    oof_train = as_method(heldout)
    return oof_train, fold_preds


def _labels_or_values(estimator, output):
    """A classifier's labels from probabilities; a regressor's predictions (copied)."""
    if is_classifier(estimator):
        return estimator.classes_[np.argmax(output, axis=1)]
    return np.array(output, copy=True)


def _mean(fold_preds):
    if isinstance(fold_preds[0], list):
        return [np.mean([p[i] for p in fold_preds], axis=0) for i in range(len(fold_preds[0]))]
    return np.mean(np.stack(fold_preds), axis=0)


def _majority_vote(fold_labels) -> np.ndarray:
    """Most frequent label per row (columns per output for 2-D labels); ties to the smallest."""
    labels = np.stack(fold_labels)
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(labels.shape)
    counts = (codes[..., None] == np.arange(len(classes))).sum(axis=0)
    return classes[np.argmax(counts, axis=-1)]
