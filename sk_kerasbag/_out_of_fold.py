"""Out-of-fold predictions of any estimator, the machinery behind ``stacking.oof_predict``.

Two ways to them: :func:`cross_fitted_predictions` fits a clone of the
estimator per fold, as :func:`sklearn.model_selection.cross_val_predict`
does (routing, label encoding and the columns of classes a fold lacks
included), each fold also predicting a test set; :func:`prefit_predictions`
reads a fitted K-fold ensemble's held-out predictions and its members'
predictions instead of training. :func:`fold_mean` and :func:`majority_vote`
combine the folds' test predictions.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, indexable

from ._fixes import (
    check_is_permutation,
    check_method_params,
    enforce_prediction_order,
    num_samples,
    routing_enabled,
    safe_split,
)
from ._heldout import heldout_of
from ._predicting import prediction_passes
from ._targets import ONE_HOT, target_kind
from ._tasks import fitted_target_kind, predictions_from
from .folders import list_images
from .kfold import KFoldMixin

# The methods oof_predict can call, and those whose columns are classes.
METHODS = ("predict_proba", "predict", "decision_function", "predict_log_proba")
_PROBABILISTIC = ("decision_function", "predict_proba", "predict_log_proba")


def _cross_val_routing(estimator, cv, groups, params: dict | None) -> tuple[dict, dict]:
    """The metadata of ``cv.split`` and of each fold's ``fit``, routed as cross_val_predict does."""
    params = {} if params is None else dict(params)
    if not routing_enabled():
        return {"groups": groups}, params
    if groups is not None:
        raise ValueError(
            "oof_predict takes groups as an argument only without metadata routing; with "
            "enable_metadata_routing=True, pass them in params, as cross_val_predict does."
        )
    router = (
        MetadataRouter(owner="oof_predict")
        .add(splitter=cv, method_mapping=MethodMapping().add(caller="fit", callee="split"))
        .add(estimator=estimator, method_mapping=MethodMapping().add(caller="fit", callee="fit"))
    )
    routed = process_routing(router, "fit", **params)
    return routed.splitter.split, routed.estimator.fit


def cross_fitted_predictions(
    estimator, X, y, X_test, *, cv, method: str, groups, n_jobs: int | None, params: dict | None
) -> tuple[np.ndarray | list, list]:
    """The ``cross_val_predict`` path, with every fold also predicting ``X_test``."""
    X, y = indexable(X, y)
    cv = check_cv(cv, y, classifier=is_classifier(estimator))
    split_params, params = _cross_val_routing(estimator, cv, groups, params)
    splits = list(cv.split(X, y, **split_params))
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
            clone(estimator), X, y, train, test, X_test, params, method, encode
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


def prefit_predictions(estimator, X, X_test, method: str) -> tuple[np.ndarray, list | None]:
    """Out-of-fold and per-fold test predictions of a fitted K-fold ensemble, without training."""
    if not isinstance(estimator, KFoldMixin):
        raise TypeError(
            'cv="prefit" needs a fitted KFoldKerasClassifier or KFoldKerasRegressor; '
            f"got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    heldout = heldout_of(estimator)
    if isinstance(X, (str, os.PathLike)):  # a folder, for the directory estimators
        X = list_images(X)[0]
    n_rows = len(heldout.predictions)
    if num_samples(X) != n_rows:
        raise ValueError(
            f'cv="prefit": X has {num_samples(X)} rows, but the estimator was fitted on '
            f"{n_rows}; pass the data it was fitted on."
        )
    # Once per round of folds: a repeated K-fold's rows are held out n_repeats times each.
    times_held_out = np.bincount(
        np.concatenate([test for _, test in estimator.folds_]), minlength=n_rows
    )
    if times_held_out.min() == 0 or times_held_out.min() != times_held_out.max():
        raise ValueError(
            'cv="prefit" needs an estimator whose folds hold out every row equally often '
            "(once per round of folds); its cv does not partition the rows."
        )
    if X_test is not None:
        n_passes = prediction_passes(
            estimator.augmentation, estimator.tta, X_test, type(estimator).__name__
        ).n_passes
        if n_passes != heldout.n_passes or (
            n_passes and estimator.augmentation != heldout.augmentation
        ):
            warnings.warn(
                f"The out-of-fold predictions were made with {heldout.n_passes} TTA passes at fit, "
                f"the test predictions with {n_passes} passes or another augmentation; the "
                "meta-model's train and test features then differ in kind.",
                UserWarning,
            )

    def as_method(output):
        if method == "predict":
            return np.array(predictions_from(estimator, output), copy=True)
        if method == "predict_log_proba":
            with np.errstate(divide="ignore"):
                return np.log(output)
        return np.array(output, copy=True)

    fold_preds = None
    if X_test is not None:
        fold_preds = [as_method(output) for output in estimator.member_predictions(X_test)]
    oof_train = as_method(heldout.predictions)
    return oof_train, fold_preds


def predicts_one_hot(estimator, y, prefit: bool) -> bool:
    """Whether a classifier's fold models predict one-hot rows: those of a one-hot ``y``.

    Judged by ``y``, not by the estimator's class, so that a Keras classifier
    in a ``Pipeline`` or a grid search votes alike.
    """
    if prefit:
        return fitted_target_kind(estimator) == ONE_HOT
    if np.ndim(y) != 2 or type_of_target(y) != "multilabel-indicator":
        return False
    try:
        return target_kind(y) == ONE_HOT
    except ValueError:  # an indicator of other values than 0 and 1: voted column by column
        return False


def fold_mean(fold_preds: list) -> np.ndarray | list:
    """The folds' test predictions averaged (output by output for a list per fold)."""
    if isinstance(fold_preds[0], list):
        return [np.mean([p[i] for p in fold_preds], axis=0) for i in range(len(fold_preds[0]))]
    return np.mean(np.stack(fold_preds), axis=0)


def majority_vote(fold_labels, one_hot: bool = False) -> np.ndarray:
    """Most frequent label per row (columns per output for 2-D labels); ties to the smallest.

    One-hot rows are voted on as the classes they stand for, so that every
    row stays one-hot; column by column, three folds naming three classes
    would give a row of zeros.
    """
    labels = np.stack(fold_labels)
    if one_hot:
        codes = majority_vote(list(np.argmax(labels, axis=-1)))
        return np.eye(labels.shape[-1], dtype=labels.dtype)[codes]
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(labels.shape)
    counts = (codes[..., None] == np.arange(len(classes))).sum(axis=0)
    return classes[np.argmax(counts, axis=-1)]
