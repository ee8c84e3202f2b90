"""The hooks through which an estimator family, a task and a kind of rows shape the engine.

``BaseKerasEnsemble`` (``_base``) runs ``fit`` and ``predict`` the same way for
every estimator; what differs is supplied by three mixins, and
:class:`EnsembleHooks` is their whole contract in one place:

* the **family** (``BaggingMixin`` in ``bagging``, ``KFoldMixin`` in ``kfold``):
  how rows are split among members, what the held-out attributes are called,
  which parameter grows a fitted ensemble, and (bagging only) the columns each
  member takes;
* the **task** (``KerasClassifierMixin``, ``KerasRegressorMixin`` in ``_tasks``):
  the target's validation and encoding, what the model's output must look
  like, and how outputs become predictions and scores (each handed to the
  fitted target encoder of ``_targets``);
* the **rows** (arrays by default; image files in ``directory``): the engine's
  ``_validate_training_data`` and ``_validate_rows`` (of
  :class:`~sk_kerasbag._predicting.EnsemblePredictions`), overridden there. Rows
  are used through ``len(X)``, ``X.shape``, ``X.take(indices, axis=0)`` and
  ``X[rows]`` only, which :class:`~sk_kerasbag.folders.ImageFiles` offers
  without reading every file (column subsets, for tables only, take arrays).

A hook without a default raises ``NotImplementedError``: a new family or task
must give it.
"""

from __future__ import annotations

import numpy as np

from ._builder import OutputSpec


class EnsembleHooks:
    """What a family and a task supply to ``BaseKerasEnsemble`` (see the module docstring)."""

    # -- the family ------------------------------------------------------------

    # The fitted attributes of the held-out predictions and their score (read
    # through _heldout.heldout_of).
    _heldout_attribute: str
    _heldout_score_attribute: str
    # K-fold splits hold every row out (a splitter that does not is worth a
    # warning); random bagging draws leave some rows in every member's sample.
    _every_row_held_out: bool
    # The parameter whose increase grows a fitted ensemble (warm_start).
    _grown_by: str

    def _split_rows(self, X, y_codes, groups, rng) -> list:
        """Each member's ``(train_idx, heldout_idx)``, drawn from ``rng``."""
        raise NotImplementedError

    def _record_splits(self, splits: list) -> None:
        """Keep the splits as fitted attributes (``estimators_samples_``, ``folds_``)."""
        raise NotImplementedError

    def _fitted_splits(self, n_samples: int) -> list:
        """``(train_idx, heldout_idx)`` of every fitted member, from its fitted attributes."""
        raise NotImplementedError

    def _wants_heldout(self) -> bool:
        """Whether this fit computes held-out predictions (bagging's ``oob_score``)."""
        raise NotImplementedError

    # Random subspaces (bagging's max_features): by default every member takes
    # the whole row.

    def _draws_columns(self) -> bool:
        """Whether members train on column subsets of their own."""
        return False

    def _member_input_shape(self) -> tuple:
        """The row shape a member takes (the builder's ``input_shape``)."""
        return self.input_shape_

    def _draw_columns(self, seed: int) -> np.ndarray | None:
        """The columns the member seeded ``seed`` takes; None for the whole row."""
        return None

    def _record_columns(self, columns: list, n_kept: int) -> None:
        """Keep each member's columns as fitted attributes (the ``n_kept`` fitted ones' stay)."""

    def _member_columns(self, k: int) -> np.ndarray | None:
        """The columns fitted member ``k`` takes; None for the whole row."""
        return None

    def _check_family_state(self) -> None:
        """Raise ValueError when the family's own fitted attributes are malformed (at load).

        Nothing by default; bagging checks its ``estimators_features_`` here.
        """

    # -- the task --------------------------------------------------------------

    # Keyword arguments of scikit-learn's validate_data for the training target.
    _target_validation: dict

    def _validate_target(self, y, sample_weight) -> tuple:
        """Check ``y``, set the target's fitted attributes; return its codes and the weights."""
        raise NotImplementedError

    def _target_codes(self, y):
        """Codes of a target given after fit (``validation_data``'s), as ``fit`` codes them."""
        raise NotImplementedError

    def _check_target_state(self) -> None:
        """Raise ValueError when the target's fitted attributes are malformed (at load)."""
        raise NotImplementedError

    def _class_strata(self, y_codes) -> np.ndarray | None:
        """The labels stratified K-fold splits keep the proportions of (classifiers only).

        None when there are none (a multilabel ``y``); regressors' K-fold
        stratifies by quantile bins of ``y`` instead, and never asks.
        """
        raise NotImplementedError

    def _data_arguments(self) -> dict:
        """Arguments the builder may take besides ``input_shape`` (``n_classes``...)."""
        raise NotImplementedError

    def _check_output(self, spec: OutputSpec) -> None:
        """Raise when the model's output (``spec``) cannot serve this target."""
        raise NotImplementedError

    def _encode_target(self, y_codes):
        """The target in the form the model's loss takes."""
        raise NotImplementedError

    def _n_output_columns(self) -> int:
        """Columns of a member's output after ``_transform_output``."""
        raise NotImplementedError

    def _transform_output(self, raw: np.ndarray) -> np.ndarray:
        """Raw member outputs as probabilities (classifiers) or predictions (regressors)."""
        raise NotImplementedError

    def _format_output(self, output: np.ndarray) -> np.ndarray:
        """Mean outputs in the form the held-out attribute keeps them."""
        raise NotImplementedError

    def _score_output(self, y_codes, output: np.ndarray) -> float:
        """The held-out score: accuracy (classifiers) or R² (regressors) of mean outputs."""
        raise NotImplementedError
