"""Held-out predictions: each training row's prediction by the members that never trained on it.

Bagging calls them out-of-bag (``oob_decision_function_``, ``oob_prediction_``,
``oob_score_``), K-fold out-of-fold (``oof_proba_``, ``oof_prediction_``,
``oof_score_``); each family declares its attribute names
(``_heldout_attribute``, ``_heldout_score_attribute``), ``fit`` records the
test-time passes they were made with (``_heldout_passes``), and the modules
that read them (stacking, plotting, the experiment runner) ask
:func:`heldout_of` rather than the estimator's private names.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np

logger = logging.getLogger("sk_kerasbag")

# Above this share of rows without a held-out prediction, the held-out score
# is worth a warning (random draws leave some rows in every member's sample).
_MOST_ROWS_UNSCORED = 1 / 3


class Heldout(NamedTuple):
    """A fitted ensemble's held-out predictions, their score, and how they were made."""

    kind: str  # "out-of-bag" or "out-of-fold"
    predictions: np.ndarray
    score: float  # NaN when no row was held out
    n_passes: int  # the test-time passes averaged into each prediction
    augmentation: Any  # the augmentation setting the passes were drawn from


def heldout_of(estimator: Any) -> Heldout | None:
    """``estimator``'s held-out predictions; None when it has none.

    None for an estimator of another library, an unfitted one, or one fitted
    without them (``oob_score=False``).
    """
    predictions = getattr(type(estimator), "_heldout_attribute", None)
    score = getattr(type(estimator), "_heldout_score_attribute", None)
    if predictions is None or not hasattr(estimator, predictions):
        return None
    n_passes, augmentation = getattr(estimator, "_heldout_passes", (0, None))
    return Heldout(
        "out-of-bag" if predictions.startswith("oob") else "out-of-fold",
        getattr(estimator, predictions),
        getattr(estimator, score),
        n_passes,
        augmentation,
    )


def average_heldout(
    outputs: list[np.ndarray], heldout_rows: list[np.ndarray], n_rows: int, n_columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average each row's outputs over the members that held it out; NaN where none did.

    ``outputs[i]`` is a member's output on its held-out rows ``heldout_rows[i]``
    (indices into the ``n_rows`` training rows). Also returns which rows some
    member held out (the rows the held-out score can use).
    """
    totals = np.zeros((n_rows, n_columns))
    counts = np.zeros(n_rows)
    for output, rows in zip(outputs, heldout_rows):
        totals[rows] += output
        counts[rows] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals / counts[:, None], counts > 0


def warn_uncovered(covered: np.ndarray, every_row_held_out: bool, grown_by: str) -> None:
    """Say when rows have no held-out prediction: a warning where it matters, else a log line.

    ``every_row_held_out`` is the family's promise (K-fold splits hold every
    row out; a splitter that does not is worth a warning); random bagging
    draws leave some rows in every member's sample, worth a warning only when
    they leave most of the score out. ``grown_by`` names the parameter that
    adds members.
    """
    if covered.all():
        return
    message = (
        f"{(~covered).sum()} of {len(covered)} rows were never held out by any member; "
        "their held-out predictions are NaN and they are left out of the held-out score."
    )
    if every_row_held_out:
        reason = " The splitter does not hold every row out once."
    elif not covered.any():  # no held-out score at all: say so, as scikit-learn does
        reason = (
            " No member held out any row (bootstrap=False with "
            "max_samples=1.0 trains every member on all rows)."
        )
    elif (~covered).mean() > _MOST_ROWS_UNSCORED:
        # As scikit-learn's "Some inputs do not have OOB scores": one or two
        # bootstrap members leave 40% or more of the rows unscored.
        reason = (
            f" The held-out score rests on the other {covered.sum()} rows only; "
            f"more members ({grown_by}) hold more rows out."
        )
    else:  # random draws: 5 bootstrap members leave about 10% of rows in every sample
        logger.info(message)
        return
    from ._fixes import warn_at_caller  # a layer up (it imports Keras), and only when warning

    warn_at_caller(message + reason)
