"""What each member trains on: its rows, held-out rows, validation rows and seed.

``fit`` draws the rows (the family's splits) and a seed per member, then
:func:`plan_members` turns them into one :class:`MemberPlan` per member,
carving validation rows where asked. With the training settings, a plan is
all a member's training depends on (see ``_members``); a run folder records
the plans to resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._random import validation_rng
from ._splitting import carve_validation


@dataclass(frozen=True)
class MemberPlan:
    """Rows and seed of one member.

    Attributes
    ----------
    train_idx : ndarray
        Rows the member trains on (may repeat, for bootstrap samples).
    heldout_idx : ndarray
        Rows the member never sees (out-of-bag or out-of-fold).
    val_idx : ndarray or None
        Rows used as the member's validation data, if any.
    seed : int
        Seeds weight initialisation, dropout and shuffling.
    index : int
        The member's place in the ensemble (from 0).
    features : ndarray or None
        Columns the member takes (bagging's ``max_features``); None for the
        whole row.
    """

    train_idx: np.ndarray
    heldout_idx: np.ndarray
    val_idx: np.ndarray | None
    seed: int
    index: int
    features: np.ndarray | None = None


def plan_members(
    splits: list, seeds, *, validate_on_heldout: bool, validation_split: float
) -> list[MemberPlan]:
    """One plan per ``(train_idx, heldout_idx)`` split and seed.

    A member validates on its held-out rows with ``validate_on_heldout`` (when
    it has any), else on ``validation_split`` of its training rows, carved
    from them by a draw of its own seed, else on nothing.
    """
    plans = []
    for (train_idx, heldout_idx), seed in zip(splits, seeds):
        val_idx = None
        if validate_on_heldout and len(heldout_idx):
            val_idx = heldout_idx
        elif validation_split > 0:
            train_idx, val_idx = carve_validation(train_idx, validation_split, validation_rng(seed))
        plans.append(MemberPlan(train_idx, heldout_idx, val_idx, int(seed), len(plans)))
    return plans


def fitted_plans(splits: list, seeds: list[int]) -> list[MemberPlan]:
    """Fitted members' plans from their splits and seeds (as far as held-out predictions need)."""
    return [
        MemberPlan(train, heldout, None, seed, k)
        for k, ((train, heldout), seed) in enumerate(zip(splits, seeds))
    ]


def validation_rows(X, y, sample_weight, plan: MemberPlan, validation_data) -> tuple | None:
    """A member's validation data: the user's ``validation_data``, else its plan's rows.

    ``(X, y, sample_weight)`` at the plan's ``val_idx`` (carved from its
    training rows by ``validation_split``); None when it validates on nothing.
    """
    if validation_data is not None:
        return validation_data
    if plan.val_idx is None:
        return None
    return rows_of(X, y, sample_weight, plan.val_idx)


def rows_of(X, y, sample_weight, idx) -> tuple[Any, Any, Any]:
    """``(X, y, sample_weight)`` at the rows ``idx``."""
    weights = None if sample_weight is None else sample_weight[idx]
    # take() keeps rows read from files lazy; for arrays it is X[idx].
    return X.take(idx, axis=0), y[idx], weights
