"""Out-of-fold predictions for stacking and blending, and stackers built on them.

:func:`oof_predict` is :func:`sklearn.model_selection.cross_val_predict` that
also keeps each fold's model long enough to predict a test set: the
out-of-fold training predictions become the meta-model's training features
and the fold-averaged test predictions its test features.

:class:`OOFStackingClassifier` and :class:`OOFStackingRegressor` are
scikit-learn's stackers with one change: a sk_kerasbag K-fold base is trained
once, on the stacker's folds, instead of once per fold and once more on every
row.

The folds' fitting and reading is :mod:`~sk_kerasbag._out_of_fold`'s.
"""

from __future__ import annotations

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
from sklearn.utils.validation import column_or_1d, indexable

from ._fixes import (
    fit_context,
    raise_for_params,
    routing_enabled,
    stacking_estimators,
    stacking_features,
    stacking_final_estimator,
    stacking_method,
)
from ._out_of_fold import (
    METHODS,
    cross_fitted_predictions,
    fold_mean,
    majority_vote,
    predicts_one_hot,
    prefit_predictions,
)
from .kfold import KFoldMixin

__all__ = ["OOFStackingClassifier", "OOFStackingRegressor", "oof_predict"]


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
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if not hasattr(estimator, method):
        raise ValueError(
            f"{type(estimator).__name__} has no {method}(); pass the method it has, such as "
            'method="predict" for a regressor.'
        )
    if isinstance(cv, str) and cv == "prefit":
        oof_train, fold_preds = prefit_predictions(estimator, X, X_test, method)
    else:
        oof_train, fold_preds = cross_fitted_predictions(
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
            test_pred = majority_vote(fold_preds, predicts_one_hot(estimator, y, prefit))
        else:
            test_pred = fold_mean(fold_preds)
    if return_fold_predictions:
        return oof_train, test_pred, fold_preds
    return oof_train, test_pred


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
