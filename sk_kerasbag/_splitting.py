"""How rows are shared out between ensemble members.

Every member gets a pair ``(train_idx, heldout_idx)`` of row indices. Bagging
draws the training rows at random and holds out the rows it never drew (the
out-of-bag rows); K-fold trains on all folds but one and holds that one out.
Everything downstream of the split is the same for both families.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.utils.random import sample_without_replacement

Split = tuple[np.ndarray, np.ndarray]


def bagging_splits(
    n_samples: int,
    n_estimators: int,
    max_samples: int | float,
    bootstrap: bool,
    rng: np.random.RandomState,
) -> list[Split]:
    """Draw each member's training rows; the rows not drawn are held out.

    Parameters
    ----------
    n_samples : int
        Number of rows in the training set.
    n_estimators : int
        Number of members.
    max_samples : int or float
        Rows drawn per member: a count, or a fraction of ``n_samples``.
    bootstrap : bool
        Draw with replacement (True) or a random subset without (False).
    rng : RandomState
        Source of randomness.

    Returns
    -------
    list of (ndarray, ndarray)
        ``(train_idx, heldout_idx)`` per member, ``heldout_idx`` sorted.
    """
    if isinstance(max_samples, Integral):
        n_draw = int(max_samples)
    else:
        n_draw = max(1, int(round(max_samples * n_samples)))
    if not bootstrap and n_draw > n_samples:
        raise ValueError(
            f"max_samples={max_samples} asks for {n_draw} rows without replacement, "
            f"but only {n_samples} rows are available."
        )
    splits = []
    for _ in range(n_estimators):
        if bootstrap:
            train_idx = rng.randint(0, n_samples, n_draw)
        else:
            train_idx = sample_without_replacement(n_samples, n_draw, random_state=rng)
        in_bag = np.zeros(n_samples, dtype=bool)
        in_bag[train_idx] = True
        splits.append((train_idx, np.flatnonzero(~in_bag)))
    return splits


def kfold_splits(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    *,
    cv,
    n_splits: int,
    shuffle: bool,
    stratify: bool,
    rng: np.random.RandomState,
) -> list[Split]:
    """One member per fold of ``cv``, or of a (Stratified)KFold built from the rest.

    Parameters
    ----------
    X, y, groups : array-like
        Passed to the splitter's ``split``.
    cv : int, cross-validation generator, iterable or None
        Any scikit-learn splitter; when given it overrides the next three.
    n_splits : int
        Number of folds of the default splitter.
    shuffle : bool
        Whether the default splitter shuffles rows before folding.
    stratify : bool
        Use :class:`~sklearn.model_selection.StratifiedKFold` (classifiers).
    rng : RandomState
        Seeds the default splitter's shuffling.

    Returns
    -------
    list of (ndarray, ndarray)
        ``(train_idx, heldout_idx)`` per fold.
    """
    if cv is None:
        splitter_class = StratifiedKFold if stratify else KFold
        seed = int(rng.randint(np.iinfo(np.int32).max)) if shuffle else None
        cv = splitter_class(n_splits=n_splits, shuffle=shuffle, random_state=seed)
    else:
        cv = check_cv(cv, y, classifier=stratify)
    return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y, groups)]


def carve_validation(
    train_idx: np.ndarray, fraction: float, rng: np.random.RandomState
) -> Split:
    """Hold out a share of a member's distinct training rows for validation.

    Validation rows are chosen among distinct rows and every copy of them is
    removed from training, so a bootstrap sample never validates on rows it
    also trains on.

    Parameters
    ----------
    train_idx : ndarray
        The member's training rows (may repeat).
    fraction : float
        Share of distinct rows to hold out, in (0, 1).
    rng : RandomState
        Source of randomness.

    Returns
    -------
    (ndarray, ndarray)
        Remaining training rows and validation rows.
    """
    distinct = np.unique(train_idx)
    n_val = int(np.ceil(fraction * len(distinct)))
    if n_val >= len(distinct):
        raise ValueError(
            f"validation_split={fraction} leaves no training rows for a member "
            f"with {len(distinct)} distinct rows."
        )
    val_idx = np.sort(rng.choice(distinct, size=n_val, replace=False))
    return train_idx[~np.isin(train_idx, val_idx)], val_idx
