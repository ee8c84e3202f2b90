"""How rows are shared out between ensemble members.

Every member gets a pair ``(train_idx, heldout_idx)`` of row indices. Bagging
draws the training rows at random and holds out the rows it never drew (the
out-of-bag rows); K-fold trains on all folds but one and holds that one out.
Everything downstream of the split is the same for both families.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.model_selection import (
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    check_cv,
)
from sklearn.utils.random import sample_without_replacement

from ._random import bagging_rows_rng, columns_rng, seed_from

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
        Source of randomness: one number is drawn from it, which seeds every
        member's own draw, so member ``k``'s rows do not depend on
        ``n_estimators`` (a grown ensemble's first members keep theirs).

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
    base_seed = seed_from(rng)
    splits = []
    for k in range(n_estimators):
        member_rng = bagging_rows_rng(base_seed, k)
        if bootstrap:
            train_idx = member_rng.randint(0, n_samples, n_draw)
        else:
            train_idx = sample_without_replacement(n_samples, n_draw, random_state=member_rng)
        splits.append((train_idx, out_of_bag(train_idx, n_samples)))
    return splits


def columns_drawn(n_features: int, max_features: int | float) -> int:
    """How many columns ``max_features`` draws per member (as scikit-learn's Bagging counts)."""
    if isinstance(max_features, Integral):
        n_draw = int(max_features)
    else:
        n_draw = max(1, int(max_features * n_features))
    if n_draw > n_features:
        raise ValueError(
            f"max_features={max_features} asks for {n_draw} columns, but X has {n_features}."
        )
    return n_draw


def feature_subset(
    n_features: int, max_features: int | float, bootstrap_features: bool, seed: int
) -> np.ndarray | None:
    """The columns one member trains on (random subspaces); None for every column in order.

    Parameters
    ----------
    n_features : int
        Number of columns of the training rows.
    max_features : int or float
        Columns drawn per member: a count, or a fraction of ``n_features``.
    bootstrap_features : bool
        Draw with replacement (True) or a random subset without (False).
    seed : int
        The member's seed. The columns come from a stream of their own under
        it, so they do not depend on other members (a grown ensemble's first
        members keep theirs) and the member's rows do not depend on them.

    Returns
    -------
    ndarray or None
        Column indices in the order drawn, as scikit-learn's
        ``estimators_features_``; None when the member takes the whole row.
    """
    n_draw = columns_drawn(n_features, max_features)
    if n_draw == n_features and not bootstrap_features:
        return None
    rng = columns_rng(seed)
    if bootstrap_features:
        return rng.randint(0, n_features, n_draw)
    return sample_without_replacement(n_features, n_draw, random_state=rng)


def out_of_bag(train_idx: np.ndarray, n_samples: int) -> np.ndarray:
    """The rows (sorted) a member drawing ``train_idx`` never trains on."""
    in_bag = np.zeros(n_samples, dtype=bool)
    in_bag[train_idx] = True
    return np.flatnonzero(~in_bag)


def kfold_splits(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    *,
    cv,
    n_splits: int,
    n_repeats: int,
    shuffle: bool,
    strata: np.ndarray | None,
    rng: np.random.RandomState,
) -> list[Split]:
    """One member per fold of ``cv``, or of a (repeated, stratified) K-fold built from the rest.

    Parameters
    ----------
    X, y, groups : array-like
        Passed to the splitter's ``split``.
    cv : int, cross-validation generator, iterable or None
        Any scikit-learn splitter; when given it overrides the next four.
    n_splits : int
        Number of folds of the default splitter.
    n_repeats : int
        Rounds of ``n_splits`` folds, each with its own shuffle, as
        :class:`~sklearn.model_selection.RepeatedStratifiedKFold` makes them:
        round ``r``'s folds are the same whatever ``n_repeats``, so a fit
        with more repeats extends one with fewer.
    shuffle : bool
        Whether the default splitter shuffles rows before folding.
    strata : ndarray or None
        Labels whose proportions every default fold keeps (class codes, a
        regression target's quantile bins); None folds without regard to ``y``.
        With ``cv``, whether an int ``cv`` stratifies classes.
    rng : RandomState
        Seeds the default splitter's shuffling.

    Returns
    -------
    list of (ndarray, ndarray)
        ``(train_idx, heldout_idx)`` per fold, round after round.
    """
    if cv is not None:
        if n_repeats != 1:
            # cv described, not echoed: a list of folds would print every index of every fold.
            if isinstance(cv, Integral):
                given = f"cv={cv}"
            elif hasattr(cv, "split"):
                given = f"cv (a {type(cv).__name__} splitter)"
            elif hasattr(cv, "__len__"):
                given = f"cv (a list of {len(cv)} given folds)"
            else:
                given = "cv (an iterable of given folds)"
            raise ValueError(
                f"n_repeats={n_repeats} repeats the default folds, but {given} replaces "
                "them. With cv, leave n_repeats=1 and put every round in cv: a repeated "
                "splitter (such as RepeatedStratifiedKFold), or all the rounds' folds."
            )
        cv = check_cv(cv, y, classifier=strata is not None)
        return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y, groups)]
    if n_repeats > 1 and not shuffle:
        raise ValueError(
            f"n_repeats={n_repeats} needs shuffle=True: without shuffling, every repeat "
            "would hold out the same folds."
        )
    # Drawn whatever n_repeats is, so one round of folds is the plain (Stratified)KFold.
    seed = seed_from(rng) if shuffle else None
    if n_repeats == 1:
        splitter_class = KFold if strata is None else StratifiedKFold
        cv = splitter_class(n_splits=n_splits, shuffle=shuffle, random_state=seed)
    else:  # its first round is the KFold above: one generator shuffles every round in turn
        splitter_class = RepeatedKFold if strata is None else RepeatedStratifiedKFold
        cv = splitter_class(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    labels = y if strata is None else strata
    return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, labels, groups)]


def quantile_bins(y: np.ndarray, n_splits: int) -> np.ndarray:
    """A regression target's rows labelled by quantile bin, for stratified folds.

    ``n_samples // n_splits`` bins (AutoGluon's count for its quantile
    bins), of equal sizes by rank (ties split in row order, where AutoGluon's
    ``KBinsDiscretizer`` keeps them in one bin), so that every bin has at least
    ``n_splits`` rows and every fold gets at least one row of each, hence the
    whole range of the target.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_samples, 1)
        The target.
    n_splits : int
        Number of folds.

    Returns
    -------
    ndarray of shape (n_samples,)
        Each row's bin, 0 for the smallest targets.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"stratify=True bins a single target column into quantiles; y has {y.shape[1]} "
            "columns. Pass stratify=False, or a cv splitter that folds them as you need."
        )
    n_bins = max(1, len(y) // n_splits)
    bins = np.empty(len(y), dtype=np.intp)
    bins[np.argsort(y, kind="stable")] = np.arange(len(y)) * n_bins // len(y)
    return bins


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
