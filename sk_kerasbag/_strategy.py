"""How the members of one fit train: packed into one model, or one after another in workers.

:func:`choose_strategy` says what the ``strategy`` parameter comes to for a
fit; :func:`train_members` trains the members that way (or reloads those a run
folder holds finished) and returns them with the name ``fit_strategy_``
reports.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any, Callable

from joblib import Parallel, delayed

from ._artifacts import RunFolder
from ._keras import keras
from ._members import TrainedMember, Training, fit_member
from ._plans import MemberPlan
from ._packing import fit_packed, packing_obstacle
from ._processes import run_in_worker
from ._vectorised import data_obstacle
from .reporting import track_members

logger = logging.getLogger("sk_kerasbag")


def choose_strategy(
    strategy: str, X, *, callbacks, augmentation, columns: bool, quiet: bool = False
) -> str:
    """``"packed"`` or ``"sequential"``: what ``strategy`` comes to for this fit.

    ``"auto"`` packs when the data let members share one compiled step (see
    ``_vectorised``), else trains them one by one (in ``n_jobs`` processes).
    ``"packed"`` where packing is impossible logs why and trains them one by
    one, unless ``quiet``. ``columns``: whether members take column subsets.
    """
    obstacle = packing_obstacle(callbacks=callbacks, augmentation=augmentation, columns=columns)
    if strategy == "auto":
        shared = obstacle is None and data_obstacle(X, augmentation) is None
        return "packed" if shared else "sequential"
    if strategy == "packed" and obstacle is not None:
        if not quiet:
            logger.warning(
                "strategy='packed' is not possible here (%s); training the members one "
                "after another instead.",
                obstacle,
            )
        return "sequential"
    return strategy


def train_members(
    builder: Callable[[], keras.Model],
    X: Any,
    y,
    sample_weight,
    plans: list[MemberPlan],
    training: Training,
    *,
    strategy: str,
    n_jobs: int | None,
    verbose: int,
    run: RunFolder | None,
) -> tuple[list[TrainedMember], str]:
    """Train (or reload from the run folder) the members of ``plans``; return them and how.

    ``strategy`` is :func:`choose_strategy`'s answer. Packed members print one
    progress line per epoch from ``verbose=1``; members trained one by one
    print Keras's own lines from ``verbose=2`` and a progress bar from 1.
    """
    files = None if run is None else [run.member(plan.index) for plan in plans]
    if strategy == "packed":
        checkpoints = None if run is None else run.packed_checkpoints()
        training = replace(training, verbose=2 if verbose >= 1 else 0)
        return fit_packed(builder, X, y, sample_weight, plans, training, files, checkpoints)
    training = replace(training, verbose=2 if verbose >= 2 else 0)
    stores = files or [None] * len(plans)
    jobs = (
        delayed(run_in_worker)(
            os.getpid(), fit_member, builder, X, y, sample_weight, plan, training, store
        )
        for plan, store in zip(plans, stores)
    )
    # As a generator, so that progress shows as each member finishes.
    finished = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    return list(track_members(finished, len(plans), enabled=verbose >= 1)), "sequential"
