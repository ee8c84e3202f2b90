"""K-fold Keras ensembles: one member per fold, with out-of-fold predictions."""

from __future__ import annotations

from numbers import Integral

from sklearn.base import is_classifier

from ._base import BaseKerasEnsemble
from ._docs import fill_doc
from ._fixes import Interval, StrOptions, fit_context
from ._splitting import kfold_splits, quantile_bins
from ._tasks import KerasClassifierMixin, KerasRegressorMixin

_KFOLD_CONSTRAINTS = {
    "n_splits": [Interval(Integral, 2, None, closed="left")],
    "n_repeats": [Interval(Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "stratify": ["boolean"],
    "cv": ["cv_object", None],
}


class KFoldMixin:
    """Row splitting and ``fit`` signature shared by the K-fold estimators."""

    _every_row_held_out = True
    _grown_by = "n_repeats"

    @fill_doc
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, validation_data=None, groups=None):
        """Train one member per fold and predict each held-out fold.

        Parameters
        ----------
        {fit_data}
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter.

        Returns
        -------
        self : object
            The fitted ensemble.
        """
        return self._fit(
            X, y, sample_weight=sample_weight, validation_data=validation_data, groups=groups
        )

    def _split_rows(self, X, y_codes, groups, rng):
        strata = None
        if is_classifier(self):  # None for a multilabel y: it folds unstratified
            strata = self._class_strata(y_codes) if self.stratify else None
        elif self.stratify and self.cv is None:  # a cv splitter overrides stratify
            strata = quantile_bins(y_codes, self.n_splits)
        return kfold_splits(
            X,
            y_codes,
            groups,
            cv=self.cv,
            n_splits=self.n_splits,
            n_repeats=self.n_repeats,
            shuffle=self.shuffle,
            strata=strata,
            rng=rng,
        )

    def _record_splits(self, splits) -> None:
        self.folds_ = splits

    def _fitted_splits(self, n_samples: int) -> list:
        return list(self.folds_)

    def _wants_heldout(self) -> bool:
        return True


@fill_doc
class KFoldKerasClassifier(KerasClassifierMixin, KFoldMixin, BaseKerasEnsemble):
    """K-fold ensemble of Keras classifiers with out-of-fold probabilities.

    Member ``k`` trains on every fold but fold ``k`` and predicts fold ``k``;
    those predictions form ``oof_proba_`` for stacking. ``predict_proba`` on
    new rows averages all members' probabilities.

    Parameters
    ----------
    {model}
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
        Sorted class labels; the column numbers ``0, ..., n_classes - 1``
        for an indicator-matrix ``y`` (one-hot or multilabel).
    {fitted}
    {preprocessing}
    folds_ : list of (ndarray, ndarray)
        ``(train_idx, heldout_idx)`` of each member.
    oof_proba_ : ndarray of shape (n_samples, n_classes) or (n_samples,)
        Out-of-fold class probabilities, each row's mean over the rounds that
        held it out (NaN for rows no fold held out). For members that output
        scores (no ``predict_proba``), the out-of-fold ``decision_function``:
        one score per row for two classes.
    oof_score_ : float
        Accuracy of the out-of-fold predictions.
    """

    _parameter_constraints = {
        **BaseKerasEnsemble._parameter_constraints,
        **_KFOLD_CONSTRAINTS,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _heldout_attribute = "oof_proba_"
    _heldout_score_attribute = "oof_score_"

    def __init__(
        self,
        model,
        *,
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


@fill_doc
class KFoldKerasRegressor(KerasRegressorMixin, KFoldMixin, BaseKerasEnsemble):
    """K-fold ensemble of Keras regressors with out-of-fold predictions.

    Parameters
    ----------
    {model}
    {kfold_regression}
    {epochs}
    {batch_size}
    {callbacks}
    {validation_split}
    {validate_on_heldout}
    {early_stopping}
    {augmentation}
    {tta}
    {random_state}
    {verbose}
    {n_jobs}
    {strategy}
    {artifacts}
    {warm_start}
    {model_params}

    Attributes
    ----------
    n_outputs_ : int
        Number of target columns.
    {fitted}
    {preprocessing}
    folds_ : list of (ndarray, ndarray)
        ``(train_idx, heldout_idx)`` of each member.
    oof_prediction_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Out-of-fold predictions, each row's mean over the rounds that held it
        out (NaN for rows no fold held out).
    oof_score_ : float
        R^2 of the out-of-fold predictions.
    """

    _parameter_constraints = {**BaseKerasEnsemble._parameter_constraints, **_KFOLD_CONSTRAINTS}
    _heldout_attribute = "oof_prediction_"
    _heldout_score_attribute = "oof_score_"

    def __init__(
        self,
        model,
        *,
        n_splits=5,
        n_repeats=1,
        shuffle=True,
        stratify=False,
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
