"""Running a fitted ensemble's members on rows: the one path of predictions, held-out ones too.

:class:`EnsemblePredictions` is the estimators' side of it (``member_predictions``,
the mean output their task turns into predictions, rows checked after fit).

A fitted ensemble hands its members over as :class:`FittedMembers` (read from
its fitted attributes); :func:`outputs_of` and :func:`mean_output` run them a
chunk of rows at a time. Each member gets its own columns (random subspaces)
and fitted preprocessing, and with test-time augmentation one augmented input
per pass, seeded from the member's seed (``_random.tta_seed``); each pass is
turned into probabilities (or predictions) before the passes are averaged. A
chunk is read once (from files, for image folders) for every member given the
same rows, and members built alike run through one compiled forward pass
(``_inference.shared_forward``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ._augmentation import NoAugmentation, make_augmentation
from ._fixes import validate_parameter_constraints
from ._inference import predict_members, shared_forward
from ._parameters import PREDICTION_CONSTRAINTS
from ._random import tta_seed
from .exceptions import NotFiniteError

# Input values per prediction batch, at most (see chunk_rows).
_PREDICTION_BATCH_VALUES = 2**16


@dataclass(frozen=True)
class FittedMembers:
    """What predicting needs of a fitted ensemble, one item per member in each list."""

    models: list
    preprocessing: list
    columns: list  # each member's column indices, or None for the whole row
    seeds: list[int]
    # A batch of raw member outputs -> probabilities (classifiers) or predictions.
    transform: Callable[[np.ndarray], np.ndarray]
    chunk_rows: int


@dataclass(frozen=True)
class Passes:
    """The augmentation test-time passes are drawn from, and how many passes."""

    augmentation: Any
    n_passes: int


def chunk_rows(input_shape: tuple, batch_size: int | None) -> int:
    """Rows per forward pass: at least 256 (or ``batch_size``), more for small rows.

    Big batches cost fewer calls per row and let the backends spread a
    convolution over the cores: 10,000 digits rows through 5 CNNs took
    0.33 s (TensorFlow) and 0.31 s (JAX) in batches of 256, 0.22 s and
    0.28 s in batches of 1,024. Up to ``_PREDICTION_BATCH_VALUES``
    input values and 1,024 rows per batch (1,024 rows of 8x8 images, 256
    of 32x32x3), a power of two (see ``_inference.padded_rows``).
    """
    row_values = max(int(np.prod(input_shape)), 1)
    rows = 1 << max((_PREDICTION_BATCH_VALUES // row_values).bit_length() - 1, 0)
    return max(batch_size or 32, 256, min(rows, 1024))


def prediction_passes(augmentation: Any, tta: int, X, caller: str) -> Passes:
    """Check an estimator's ``augmentation`` and ``tta`` against ``X``; the passes they ask for.

    They are read at every prediction, not only at fit, so they can be
    changed on a fitted estimator. ``caller`` names the estimator in errors.
    """
    validate_parameter_constraints(
        PREDICTION_CONSTRAINTS, {"augmentation": augmentation, "tta": tta}, caller_name=caller
    )
    made = make_augmentation(augmentation)
    made.check_input(X)
    if tta and isinstance(made, NoAugmentation):
        raise ValueError(
            f"tta={tta} needs an augmentation to draw test-time transforms from; "
            "set augmentation, or tta=0."
        )
    # Passes of an augmentation that moves nothing would equal the clean pass.
    return Passes(made, tta if made.has_random_transforms else 0)


def mean_output(fitted: FittedMembers, X, passes: Passes) -> np.ndarray:
    """Soft vote: the mean of every member's output on ``X``, summed a chunk of rows at a time."""
    members = list(range(len(fitted.models)))
    chunks = chunked_outputs(fitted, members, [X] * len(members), passes)
    return np.concatenate([sum(outputs) / len(members) for _, outputs in chunks])


def outputs_of(
    fitted: FittedMembers, members: list[int], rows: list, passes: Passes
) -> list[np.ndarray]:
    """The output of each member in ``members`` on its own ``rows``."""
    outputs = [[] for _ in members]
    for due, results in chunked_outputs(fitted, members, rows, passes):
        for i, result in zip(due, results):
            outputs[i].append(result)
    return [np.concatenate(output) for output in outputs]


def chunked_outputs(
    fitted: FittedMembers, members: list[int], rows: list, passes: Passes
) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """Per chunk of rows: which of ``members`` have rows in it (positions), and their outputs."""
    if not members:
        return
    forward = shared_forward([fitted.models[k] for k in members])
    size = fitted.chunk_rows
    for start in range(0, max(len(x) for x in rows), size):
        due = [i for i, x in enumerate(rows) if start < len(x)]
        read = {}  # rows shared by several members are read once
        parts = [read.setdefault(id(rows[i]), rows[i][start : start + size]) for i in due]
        every = len(due) == len(rows)
        yield due, _members_output(
            fitted, [members[i] for i in due], parts, passes, forward if every else None
        )


def _members_output(
    fitted: FittedMembers, members: list[int], rows: list, passes: Passes, forward
) -> list[np.ndarray]:
    """Each member's output on its rows: the clean pass averaged with the augmented ones.

    The clean pass gets the member's fitted preprocessing only. Each pass is
    turned into probabilities (or predictions) before averaging, so
    probabilities still sum to 1. ``forward`` runs every member at once.
    """
    models = [fitted.models[k] for k in members]
    totals = [0.0] * len(members)
    for p in range(1 + passes.n_passes):
        # One pass at a time, so TTA holds one augmented copy of the rows, not tta.
        inputs = []
        for k, X in zip(members, rows):
            columns = fitted.columns[k]
            if columns is not None:
                X = np.asarray(X)[:, columns]
            preprocessing = fitted.preprocessing[k]
            if p == 0:
                inputs.append(preprocessing.transform(X))
            else:
                seed = tta_seed(fitted.seeds[k], p - 1)
                inputs.append(passes.augmentation.augment(X, preprocessing, seed))
        raw = predict_members(models, inputs, fitted.chunk_rows, forward)
        totals = [total + fitted.transform(r) for total, r in zip(totals, raw)]
    for k, total, X in zip(members, totals, rows):
        broken = ~np.isfinite(total).all(axis=1)
        if broken.any():
            raise NotFiniteError(
                f"Member {k + 1} gives NaN or infinite outputs for {broken.sum()} of "
                f"{len(X)} rows. Rows with values far outside the training data's range "
                "cause this; so do weights that diverged without showing it in the loss.",
                member=k + 1,
            )
    return [total / (1 + passes.n_passes) for total in totals]


class EnsemblePredictions:
    """The prediction side of an estimator: its members run on rows given after fit.

    ``member_predictions`` and the mean output its task turns into
    ``predict``, ``predict_proba`` or ``decision_function``, from the fitted
    attributes (``estimators_``, ``preprocessing_``, ``input_shape_``) and
    the hooks ``_member_columns`` and ``_transform_output``
    (:class:`~sk_kerasbag._hooks.EnsembleHooks`).
    """

    def _validate_rows(self, X):
        """Check rows given after the training data (validation or prediction rows)."""
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        self._check_input_shape(X)
        return X

    def _check_input_shape(self, X):
        if X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has rows of shape {X.shape[1:]}, but {type(self).__name__} was "
                f"fitted on rows of shape {self.input_shape_}."
            )

    def member_predictions(self, X) -> np.ndarray:
        """Each member's output for ``X`` (averaged over TTA passes when ``tta > 0``).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input rows, shaped like the training data.

        Returns
        -------
        ndarray of shape (n_members, n_samples, n_columns)
            Class probabilities (classifiers, in ``classes_`` order) or
            predictions (regressors, one column per target).
        """
        X = self._validate_predict_input(X)
        members = list(range(len(self.estimators_)))
        rows = [X] * len(members)
        return np.stack(outputs_of(self._fitted_members(), members, rows, self._passes(X)))

    def _mean_member_output(self, X) -> np.ndarray:
        """Soft vote: the mean of the members' outputs."""
        X = self._validate_predict_input(X)
        return mean_output(self._fitted_members(), X, self._passes(X))

    def _validate_predict_input(self, X):
        check_is_fitted(self)
        return self._validate_rows(X)

    def _passes(self, X) -> Passes:
        """The test-time passes ``augmentation`` and ``tta`` ask for on rows like ``X``."""
        return prediction_passes(self.augmentation, self.tta, X, type(self).__name__)

    def _fitted_members(self) -> FittedMembers:
        """The fitted members, as :mod:`._predicting` runs them."""
        return FittedMembers(
            models=self.estimators_,
            preprocessing=self.preprocessing_,
            columns=[self._member_columns(k) for k in range(len(self.estimators_))],
            seeds=self._seeds,
            transform=self._transform_output,
            chunk_rows=chunk_rows(self.input_shape_, self.batch_size),
        )
