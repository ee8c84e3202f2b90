"""Out-of-fold predictions for stacking and blending, and stackers built on them.

:func:`oof_predict` is :func:`sklearn.model_selection.cross_val_predict` that
also keeps each fold's model long enough to predict a test set: the
out-of-fold training predictions become the meta-model's training features
and the fold-averaged test predictions its test features.

:class:`OOFStackingClassifier` and :class:`OOFStackingRegressor` are
scikit-learn's stackers with one change: a sk_kerasbag K-fold base is trained
once, on the stacker's folds, instead of once per fold and once more on every
row.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, indexable

from ._fixes import (
    check_is_permutation,
    check_method_params,
    enforce_prediction_order,
    fit_context,
    num_samples,
    raise_for_params,
    routing_enabled,
    safe_split,
    stacking_estimators,
    stacking_features,
    stacking_final_estimator,
    stacking_method,
)
from ._heldout import heldout_of
from ._predicting import prediction_passes
from ._tasks import ONE_HOT, fitted_target_kind, predictions_from, target_kind
from .folders import list_images
from .kfold import KFoldMixin

__all__ = ["OOFStackingClassifier", "OOFStackingRegressor", "oof_predict"]

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
        Group labels for a group-aware ``cv`` splitter. With metadata routing
        enabled, pass them in ``params`` instead (as ``cross_val_predict``).
    n_jobs : int, default=None
        Folds fitted in parallel through joblib.
    params : dict, default=None
        Parameters passed to each fold's ``fit``; per-row values (such as
        ``sample_weight``) are split with the rows. With metadata routing
        enabled (``sklearn.set_config(enable_metadata_routing=True)``) they
        are routed as ``cross_val_predict`` routes them: to the splitter's
        ``split`` and the estimator's ``fit`` as each requests them.
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
        if method == "predict" and is_classifier(estimator):
            prefit = isinstance(cv, str) and cv == "prefit"
            test_pred = _majority_vote(fold_preds, _predicts_one_hot(estimator, y, prefit))
        else:
            test_pred = _mean(fold_preds)
    if return_fold_predictions:
        return oof_train, test_pred, fold_preds
    return oof_train, test_pred


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


def _cross_fitted_predictions(estimator, X, y, X_test, *, cv, method, groups, n_jobs, params):
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


def _prefit_predictions(estimator, X, X_test, method):
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


def _predicts_one_hot(estimator, y, prefit: bool) -> bool:
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


def _mean(fold_preds):
    if isinstance(fold_preds[0], list):
        return [np.mean([p[i] for p in fold_preds], axis=0) for i in range(len(fold_preds[0]))]
    return np.mean(np.stack(fold_preds), axis=0)


def _majority_vote(fold_labels, one_hot: bool = False) -> np.ndarray:
    """Most frequent label per row (columns per output for 2-D labels); ties to the smallest.

    One-hot rows are voted on as the classes they stand for, so that every
    row stays one-hot; column by column, three folds naming three classes
    would give a row of zeros.
    """
    labels = np.stack(fold_labels)
    if one_hot:
        codes = _majority_vote(list(np.argmax(labels, axis=-1)))
        return np.eye(labels.shape[-1], dtype=labels.dtype)[codes]
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(labels.shape)
    counts = (codes[..., None] == np.arange(len(classes))).sum(axis=0)
    return classes[np.argmax(counts, axis=-1)]


# -- stacking that trains each K-fold base once ----------------------------------


def _fit_base(estimator, X, y, folds: list, method: str, params: dict, verbose: int):
    """Fit one base model; return it and its out-of-fold ``method`` predictions on ``X``.

    A sk_kerasbag K-fold ensemble is fitted once on the stacker's folds: its
    members are the fold models, its held-out predictions the out-of-fold
    ones, and it predicts new rows as their mean. Any other estimator is
    cross-validated on the same folds and refitted on every row, as
    :class:`~sklearn.ensemble.StackingClassifier` does. ``params`` are its
    fit metadata (``sample_weight``, ``groups``, ``validation_data``...).
    """
    if isinstance(estimator, KFoldMixin):
        if estimator.n_repeats != 1:
            raise ValueError(
                f"A K-fold base of a stacker trains on the stacker's folds; its n_repeats="
                f"{estimator.n_repeats} cannot apply. Pass n_repeats=1, or repeated folds as cv."
            )
        estimator.set_params(cv=folds).fit(X, y, **params)
        return estimator, oof_predict(estimator, X, y, cv="prefit", method=method)[0]
    oof = cross_val_predict(
        clone(estimator), X, y, cv=folds, method=method, params=params, verbose=verbose
    )
    return estimator.fit(X, y, **params), oof


class _OOFStacking:
    """The fit shared by :class:`OOFStackingClassifier` and :class:`OOFStackingRegressor`."""

    @property
    def n_features_in_(self) -> int:
        """Number of features of the training rows (the first base model's)."""
        return super().n_features_in_

    def get_metadata_routing(self) -> MetadataRouter:
        """How the stacker routes metadata: to the base models' and its splitter's methods.

        As scikit-learn's stackers, plus the splitter: with metadata routing
        enabled, ``groups`` passed to ``fit`` reach a group-aware ``cv``
        (``GroupKFold``), so every base model is fitted on group-respecting
        folds.

        Returns
        -------
        routing : MetadataRouter
            The routing of ``fit`` to each base model and to ``cv.split``.
        """
        router = super().get_metadata_routing()
        if not (isinstance(self.cv, str) and self.cv == "prefit"):
            # Named "cv": a base model cannot have that name (scikit-learn refuses
            # estimator names that are the stacker's parameters), so no route is overwritten.
            router.add(
                cv=check_cv(self.cv, classifier=is_classifier(self)),
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
        return router

    def _routed_params(self, names: list[str], sample_weight, fit_params: dict):
        """The splitter's metadata and each base model's fit metadata, by name.

        With metadata routing enabled, each gets what it requested (through
        ``set_fit_request``), as scikit-learn's stackers route; without it,
        ``sample_weight`` goes to every base and nothing else may be passed.
        """
        if routing_enabled():
            if sample_weight is not None:
                fit_params = {**fit_params, "sample_weight": sample_weight}
            routed = process_routing(self, "fit", **fit_params)
            return routed.cv.split, {name: routed[name].fit for name in names}
        raise_for_params(fit_params, self, "fit")
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        return {}, {name: weights for name in names}

    def _fit_stack(self, X, y, sample_weight, fit_params: dict):
        stacking_final_estimator(self)
        if isinstance(self.cv, str) and self.cv == "prefit":
            raise ValueError(
                f'{type(self).__name__} trains its base models; cv="prefit" is '
                "StackingClassifier's and StackingRegressor's."
            )
        names, all_estimators = stacking_estimators(self)
        split_params, params = self._routed_params(names, sample_weight, fit_params)
        X, y = indexable(X, y)
        # Split once: every base model gets the same folds, even from a splitter
        # that shuffles with random_state=None.
        cv = check_cv(self.cv, y=y, classifier=is_classifier(self))
        folds = [
            (np.asarray(train), np.asarray(test)) for train, test in cv.split(X, y, **split_params)
        ]
        kept = [(name, est) for name, est in zip(names, all_estimators) if est != "drop"]
        methods = [stacking_method(name, est, self.stack_method) for name, est in kept]
        fitted = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_base)(clone(est), X, y, folds, method, params[name], self.verbose)
            for (name, est), method in zip(kept, methods)
        )
        self.estimators_ = [estimator for estimator, _ in fitted]
        self.named_estimators_ = Bunch(**{name: "drop" for name in names})
        for (name, _), estimator in zip(kept, self.estimators_):
            self.named_estimators_[name] = estimator
            if hasattr(estimator, "feature_names_in_"):
                self.feature_names_in_ = estimator.feature_names_in_
        self.stack_method_ = methods
        X_meta = stacking_features(self, X, [oof for _, oof in fitted])
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.final_estimator_.fit(X_meta, y, **weights)
        return self


def _stacker_doc(task: str, base: str, kfold: str, default: str, extra: str) -> str:
    """The docstring of an OOF stacker: ``base``'s, with what differs said."""
    return f"""Stacked {task} that trains each K-fold base once.

    Out-of-fold stacking as :class:`~sklearn.ensemble.{base}` does it, with
    its parameters, attributes and methods, except that a sk_kerasbag K-fold
    base ({kfold}) is fitted once, on the stacker's folds (``cv`` overrides
    its own ``n_splits`` and ``shuffle``): its out-of-fold predictions train
    the final estimator, and its fold members, averaged, give the features of
    new rows. ``{base}`` would fit it once per fold and once more on every
    row, ``k * (k + 1)`` member fits instead of ``k``, and take its test
    features from the model no fold validated. Every other base model is
    cross-validated on the same folds and refitted on every row, as
    ``{base}`` does.

    Parameters
    ----------
    estimators : list of (str, estimator)
        The base models; an estimator may be ``"drop"``.
    final_estimator : estimator, default=None
        Trained on the base models' out-of-fold predictions; ``None`` is
        :class:`~sklearn.linear_model.{default}`.
    cv : int, cross-validation generator or iterable, default=None
        The folds every base model shares: ``None`` is 5-fold, an int that
        many folds (unshuffled; stratified for classifiers), as ``{base}``.{extra}
    n_jobs : int, default=None
        Base models fitted in parallel through joblib.
    passthrough : bool, default=False
        Also give the final estimator the original features.
    verbose : int, default=0
        Verbosity of ``cross_val_predict`` for the other base models.

    Attributes
    ----------
    estimators_ : list of estimator
        The fitted base models (K-fold bases: their fold members; others:
        refitted on every row).
    named_estimators_ : Bunch
        The fitted base models by name.
    final_estimator_ : estimator
        The fitted final estimator.
    stack_method_ : list of str
        The method used of each base model.

    See Also
    --------
    oof_predict : out-of-fold predictions of one model, for stacking by hand.
    """


class OOFStackingClassifier(_OOFStacking, StackingClassifier):
    __doc__ = _stacker_doc(
        "classifier",
        "StackingClassifier",
        "``KFoldKerasClassifier``, ``DirectoryKFoldClassifier``",
        "LogisticRegression",
        """
    stack_method : {"auto", "predict_proba", "decision_function", "predict"}, \
default="auto"
        Method of the base models whose output the final estimator sees;
        ``"auto"`` takes the first they have, in that order.""",
    )

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, **fit_params) -> OOFStackingClassifier:
        """Fit the base models once each, then the final estimator on their out-of-fold output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, given to the final estimator and to every base model
            (with metadata routing enabled: to those that request them).
        **fit_params : dict
            Other metadata for the base models' ``fit`` (``groups``,
            ``validation_data``...), routed to those requesting them through
            ``set_fit_request``; only with metadata routing enabled.

        Returns
        -------
        self : object
            The fitted stacker.
        """
        check_classification_targets(y)
        if type_of_target(y) == "multilabel-indicator":
            raise ValueError(f"{type(self).__name__} takes 1-D class labels, not a label matrix.")
        y = column_or_1d(y, warn=True)
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        return self._fit_stack(X, self._label_encoder.transform(y), sample_weight, fit_params)


class OOFStackingRegressor(_OOFStacking, StackingRegressor):
    __doc__ = _stacker_doc(
        "regressor", "StackingRegressor", "``KFoldKerasRegressor``", "RidgeCV", ""
    )

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, **fit_params) -> OOFStackingRegressor:
        """Fit the base models once each, then the final estimator on their out-of-fold output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, given to the final estimator and to every base model
            (with metadata routing enabled: to those that request them).
        **fit_params : dict
            Other metadata for the base models' ``fit`` (``groups``,
            ``validation_data``...), routed to those requesting them through
            ``set_fit_request``; only with metadata routing enabled.

        Returns
        -------
        self : object
            The fitted stacker.
        """
        return self._fit_stack(X, column_or_1d(y, warn=True), sample_weight, fit_params)
