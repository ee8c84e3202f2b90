"""Bagged Keras ensembles: each member trains on a random draw of the rows."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ._base import BaseKerasEnsemble
from ._docs import fill_doc
from ._fixes import Interval, RealNotInt, StrOptions, fit_context
from ._splitting import bagging_splits, columns_drawn, feature_subset, out_of_bag
from ._tasks import KerasClassifierMixin, KerasRegressorMixin

_BAGGING_CONSTRAINTS = {
    "n_estimators": [Interval(Integral, 1, None, closed="left")],
    "max_samples": [
        Interval(Integral, 1, None, closed="left"),
        Interval(RealNotInt, 0, 1, closed="right"),
    ],
    "max_features": [
        Interval(Integral, 1, None, closed="left"),
        Interval(RealNotInt, 0, 1, closed="right"),
    ],
    "bootstrap": ["boolean"],
    "bootstrap_features": ["boolean"],
    "oob_score": ["boolean"],
}


class BaggingMixin:
    """Row splitting and ``fit`` signature shared by the bagged estimators."""

    _every_row_held_out = False
    _grown_by = "n_estimators"

    @fill_doc
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, validation_data=None):
        """Train ``n_estimators`` members, each on its own random draw of rows.

        Parameters
        ----------
        {fit_data}

        Returns
        -------
        self : object
            The fitted ensemble.
        """
        return self._fit(X, y, sample_weight=sample_weight, validation_data=validation_data)

    def _split_rows(self, X, y_codes, groups, rng):
        return bagging_splits(len(X), self.n_estimators, self.max_samples, self.bootstrap, rng)

    def _record_splits(self, splits) -> None:
        self.estimators_samples_ = [train_idx for train_idx, _ in splits]

    def _fitted_splits(self, n_samples: int) -> list:
        return [(rows, out_of_bag(rows, n_samples)) for rows in self.estimators_samples_]

    def _wants_heldout(self) -> bool:
        return self.oob_score

    # -- random subspaces: max_features, bootstrap_features ----------------------

    def _draws_columns(self) -> bool:
        if len(self.input_shape_) != 1:  # rows of images: any but the defaults is refused
            return self.bootstrap_features or not _is_every_column(self.max_features)
        n_features = self.input_shape_[0]
        return self.bootstrap_features or columns_drawn(n_features, self.max_features) < n_features

    def _member_input_shape(self) -> tuple:
        if not self._draws_columns():
            return self.input_shape_
        if len(self.input_shape_) != 1:
            raise ValueError(
                f"max_features={self.max_features!r} and bootstrap_features="
                f"{self.bootstrap_features} draw columns of 2-D X, but X has rows of shape "
                f"{self.input_shape_}; keep their defaults (1.0, False) for images."
            )
        return (columns_drawn(self.input_shape_[0], self.max_features),)

    def _draw_columns(self, seed: int) -> np.ndarray | None:
        if not self._draws_columns():
            return None
        return feature_subset(
            self.input_shape_[0], self.max_features, self.bootstrap_features, seed
        )

    def _fitted_columns(self, n_kept: int) -> list[np.ndarray]:
        """The columns of the first ``n_kept`` fitted members."""
        features = getattr(self, "estimators_features_", None)
        if features is None:  # fitted before max_features existed: every column
            return [np.arange(self.input_shape_[0]) for _ in range(n_kept)]
        return list(features[:n_kept])

    def _check_fitted_splits(self, splits: list, fitted: list) -> None:
        super()._check_fitted_splits(splits, fitted)
        if len(self.input_shape_) != 1:
            return
        for k, columns in enumerate(self._fitted_columns(len(fitted))):
            drawn = self._draw_columns(self._seeds[k])
            if not np.array_equal(np.arange(len(columns)) if drawn is None else drawn, columns):
                raise ValueError(
                    f"warm_start=True grows the fitted ensemble, but this fit would give its "
                    f"{len(fitted)} members other columns (max_features or bootstrap_features "
                    "changed). Change only n_estimators, or fit with warm_start=False."
                )

    def _record_columns(self, columns: list, n_kept: int) -> None:
        if len(self.input_shape_) != 1:
            # Rows of images: every member sees every pixel (a refit on images
            # forgets the columns of an earlier fit on a table).
            self.__dict__.pop("estimators_features_", None)
            return
        self.estimators_features_ = self._fitted_columns(n_kept) + [
            np.arange(self.input_shape_[0]) if c is None else c for c in columns[n_kept:]
        ]

    def _check_family_state(self) -> None:
        features = getattr(self, "estimators_features_", None)
        shape = getattr(self, "input_shape_", None)
        if features is not None and isinstance(shape, tuple) and len(shape) == 1:
            # Checked before each member's columns are taken of a row: a bad index would
            # fail there unclearly.
            if not (
                isinstance(features, list)
                and len(features) == len(self.estimators_)
                and all(_column_indices(f, shape[0]) for f in features)
            ):
                raise ValueError(
                    "estimators_features_ is not a list of column indices (below "
                    f"{shape[0]}) per member"
                )

    def _member_columns(self, k: int) -> np.ndarray | None:
        # Saved or pickled before max_features existed: every member took every column.
        features = getattr(self, "estimators_features_", None)
        if features is None:
            return None
        columns = features[k]
        if len(columns) == self.input_shape_[0] and (columns == np.arange(len(columns))).all():
            return None  # the whole row, in order: no copy
        return columns


def _is_every_column(max_features) -> bool:
    """Whether ``max_features`` is its default, the fraction 1.0 (the int 1 is one column)."""
    return not isinstance(max_features, Integral) and max_features == 1.0


def _column_indices(value, n_features: int) -> bool:
    """Whether ``value`` is a non-empty 1-D array of column indices of rows of ``n_features``."""
    return (
        isinstance(value, np.ndarray)
        and value.ndim == 1
        and value.size > 0
        and value.dtype.kind in "iu"
        and bool(((value >= 0) & (value < n_features)).all())
    )


@fill_doc
class BaggedKerasClassifier(KerasClassifierMixin, BaggingMixin, BaseKerasEnsemble):
    """Bagged ensemble of Keras classifiers with soft voting.

    Each member is a fresh model from ``model``, trained on a bootstrap sample
    (or random subset) of the rows; ``predict_proba`` averages the members'
    probabilities.

    Parameters
    ----------
    {model}
    {bagging}
    {subspaces}
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
    estimators_samples_ : list of ndarray
        Rows each member was trained on.
    estimators_features_ : list of ndarray
        Columns each member was trained on (2-D ``X`` only).
    oob_score_ : float
        Accuracy of the out-of-bag predictions (when ``oob_score=True``).
    oob_decision_function_ : ndarray of shape (n_samples, n_classes) or (n_samples,)
        Out-of-bag class probabilities; NaN for rows every member saw. For
        members that output scores (no ``predict_proba``), the out-of-bag
        ``decision_function``: one score per row for two classes.

    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import load_iris
    >>> from sk_kerasbag import BaggedKerasClassifier
    >>> def build(input_shape, n_classes, hidden=16):
    ...     model = keras.Sequential([keras.Input(input_shape),
    ...                               keras.layers.Dense(hidden, activation="relu"),
    ...                               keras.layers.Dense(n_classes, activation="softmax")])
    ...     model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    ...     return model
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BaggedKerasClassifier(build, n_estimators=3, epochs=5, model__hidden=8,
    ...                             random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints = {
        **BaseKerasEnsemble._parameter_constraints,
        **_BAGGING_CONSTRAINTS,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _heldout_attribute = "oob_decision_function_"
    _heldout_score_attribute = "oob_score_"

    def __init__(
        self,
        model,
        *,
        n_estimators=5,
        max_samples=1.0,
        bootstrap=True,
        oob_score=False,
        max_features=1.0,
        bootstrap_features=False,
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
class BaggedKerasRegressor(KerasRegressorMixin, BaggingMixin, BaseKerasEnsemble):
    """Bagged ensemble of Keras regressors, predicting the members' mean.

    Parameters
    ----------
    {model}
    {bagging}
    {subspaces}
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
    estimators_samples_ : list of ndarray
        Rows each member was trained on.
    estimators_features_ : list of ndarray
        Columns each member was trained on (2-D ``X`` only).
    oob_score_ : float
        R^2 of the out-of-bag predictions (when ``oob_score=True``).
    oob_prediction_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Out-of-bag predictions; NaN for rows every member saw.
    """

    _parameter_constraints = {**BaseKerasEnsemble._parameter_constraints, **_BAGGING_CONSTRAINTS}
    _heldout_attribute = "oob_prediction_"
    _heldout_score_attribute = "oob_score_"

    def __init__(
        self,
        model,
        *,
        n_estimators=5,
        max_samples=1.0,
        bootstrap=True,
        oob_score=False,
        max_features=1.0,
        bootstrap_features=False,
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
