"""Warm start: growing a fitted ensemble by the members a larger parameter adds.

As scikit-learn's ``BaggingClassifier``: a warm fit keeps the fitted members,
trains only those beyond them, refuses to drop members or to keep members
this fit would have split otherwise, and warns when there is nothing to add.
The family names the parameter that grows it (``n_estimators``, ``n_repeats``).
"""

from __future__ import annotations

import numpy as np


def members_kept(n_fitted: int | None, n_members: int, grown_by: str, value) -> int:
    """How many fitted members a warm fit of ``n_members`` keeps (all of them).

    ``n_fitted`` is None for an estimator not fitted yet or not warm-starting:
    then no member is kept. ``value`` is the growing parameter's value, for
    the messages.
    """
    if n_fitted is None:
        return 0
    if n_members < n_fitted:
        raise ValueError(
            f"warm_start=True can only add members: {grown_by}={value} gives "
            f"{n_members} members, fewer than the {n_fitted} fitted. Fit with "
            "warm_start=False to start again."
        )
    if n_members == n_fitted:
        from ._fixes import warn_at_caller  # a layer up (it imports Keras), and only when warning

        warn_at_caller(f"Warm-start fitting without increasing {grown_by} trains no new member.")
    return n_fitted


def check_same_splits(splits: list, fitted: list, grown_by: str) -> None:
    """Refuse to grow members whose rows this fit would have split otherwise.

    ``splits`` and ``fitted`` are ``(train_idx, heldout_idx)`` pairs: this
    fit's draw for the fitted members, and theirs.
    """
    if any(
        not (np.array_equal(a, c) and np.array_equal(b, d))
        for (a, b), (c, d) in zip(splits, fitted)
    ):
        raise ValueError(
            f"warm_start=True grows the fitted ensemble, but this fit would split the rows "
            f"of its {len(fitted)} members otherwise (other data, or a parameter besides "
            f"{grown_by} changed). Change only {grown_by}, or fit with warm_start=False."
        )


def kept_statistics(table: dict, n_kept: int) -> list[dict[str, float]]:
    """The rows of ``fit_statistics_`` for its first ``n_kept`` members, columns in order."""
    names = [name for name in table if name != "member"]
    return [{name: table[name][k] for name in names} for k in range(n_kept)]
