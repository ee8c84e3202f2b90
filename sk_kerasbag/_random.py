"""The seeds drawn from ``random_state``, and every draw that follows from a member's seed.

``random_state``'s generator draws, in this order, a seed for all members'
rows (bagging) or the splitter's seed (K-fold with ``shuffle``), then one
seed per member (:func:`seed_from`, :func:`member_seeds`). Every later draw
of a member comes from its seed alone, so that it depends on nothing else:
not on the other members (a grown ensemble's first members keep their
draws), not on the order in which members train, not on the draws of
another purpose.

==================  ===============================================  ===========================
draw                derived as                                       for
==================  ===============================================  ===========================
bagging rows        ``RandomState([rows seed, member index])``       :func:`bagging_rows_rng`
columns             ``RandomState([seed, COLUMNS])``                 :func:`columns_rng`
validation rows     ``RandomState(seed)``                            :func:`validation_rng`
batch order         ``default_rng([seed, BATCHES, epoch])``          :func:`batch_order`
batch augmentation  ``default_rng([seed, BATCHES, epoch, batch])``   :func:`batch_rng`
packed batch order  ``default_rng([seed, epoch])``                   :func:`packed_batch_order`
TTA pass            ``SeedSequence([seed, TTA, pass])``, 31 bits      :func:`tta_seed`
==================  ===============================================  ===========================

Two draws stay with the code they belong to, from seeds made here: Keras's
default layer seeds while a member is built (``_members.build_member``, from
``random.Random(seed)``), and the per-image draws of a test-time pass of a
generator object (``_augmentation``, a keyed hash of each image under the
pass's :func:`tta_seed`).

Three families, kept as they are because what a given ``random_state``
draws is part of the compatibility promise (``compatibility.md``):
scikit-learn's samplers take a ``RandomState``, hence the legacy generator
for rows and columns (for validation rows seeded by the member's seed alone,
which no other draw uses); NumPy ``Generator`` objects for the batches; a
plain integer for the seed arguments of Keras's augmentation layers.
``COLUMNS`` and ``TTA`` share the number 1, in different families, so their
draws are unrelated. Unifying the families would change draws; and since a
run folder records each member's rows and seed but not its columns (a
resumed fit derives the finished members' columns from their seeds again),
changing the columns' derivation would first need run folders to record
them.

The process-wide generators (Python's ``random``, NumPy's legacy global
one) are seeded only inside :func:`kept_global_state`, which puts back what
it found; NumPy's, which Keras shuffles in-memory rows with, goes into a
member's checkpoints (:func:`numpy_state_arrays`).
"""

from __future__ import annotations

import contextlib
import random
from typing import Iterator

import numpy as np

# Stream ids under a member's seed.
BATCHES = 0
TTA = 1
COLUMNS = 1

# Seeds drawn from random_state's generator are below this bound.
_MAX_SEED = np.iinfo(np.int32).max


def seed_from(rng: np.random.RandomState) -> int:
    """One seed drawn from ``random_state``'s generator: all members' rows, or the splitter's."""
    return int(rng.randint(_MAX_SEED))


def member_seeds(rng: np.random.RandomState, n_members: int) -> np.ndarray:
    """The members' seeds, drawn from ``random_state``'s generator after the rows."""
    return rng.randint(_MAX_SEED, size=n_members)


def bagging_rows_rng(rows_seed: int, member: int) -> np.random.RandomState:
    """The generator of bagging member ``member``'s rows (``rows_seed`` is drawn once per fit)."""
    return np.random.RandomState([rows_seed, member])


def columns_rng(seed: int) -> np.random.RandomState:
    """The generator of a member's columns (``max_features``), apart from its rows."""
    return np.random.RandomState([seed, COLUMNS])


def validation_rng(seed: int) -> np.random.RandomState:
    """The generator of the rows ``validation_split`` carves from a member's training rows."""
    return np.random.RandomState(seed)


def batch_order(seed: int, epoch: int, n_rows: int) -> np.ndarray:
    """The order of a member's rows in ``epoch``, for rows fed in batches by sk_kerasbag."""
    return np.random.default_rng([seed, BATCHES, epoch]).permutation(n_rows)


def batch_rng(seed: int, epoch: int, batch: int) -> np.random.Generator:
    """The generator of batch ``batch``'s random augmentation in ``epoch``."""
    return np.random.default_rng([seed, BATCHES, epoch, batch])


def packed_batch_order(seed: int, epoch: int, n_rows: int) -> np.ndarray:
    """The order of a packed member's rows in ``epoch`` (``_vectorised``'s training steps).

    By ``(seed, epoch)`` alone, so a resumed fit replays an epoch exactly
    whatever came before it. Its own derivation, without a stream id, as
    packed members have drawn it since they were introduced.
    """
    return np.random.default_rng([seed, epoch]).permutation(n_rows)


def tta_seed(seed: int, test_pass: int) -> int:
    """The 31-bit seed of a member's test-time augmentation pass ``test_pass`` (from 0)."""
    return int(np.random.SeedSequence([int(seed), TTA, int(test_pass)]).generate_state(1)[0] >> 1)


@contextlib.contextmanager
def kept_global_state(python: bool = True) -> Iterator[None]:
    """NumPy's global generator, and Python's (``python``), put back as found when the block ends.

    For code that must seed them (Keras draws from both) or that draws from
    them (a user's ``ImageDataGenerator`` seeds NumPy's): the user's own draws
    after a fit are the ones they would have had without it.
    """
    python_state = random.getstate() if python else None
    numpy_state = np.random.get_state()
    try:
        yield
    finally:
        if python:
            random.setstate(python_state)
        np.random.set_state(numpy_state)


def numpy_state_arrays() -> dict[str, np.ndarray]:
    """NumPy's global generator's state as arrays, for a checkpoint (see :func:`set_numpy_state`).

    Keras shuffles rows in memory with that generator: a fit resumed from a
    checkpoint shuffles its next epoch as the uninterrupted fit would have.
    """
    _, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "numpy_keys": keys,
        "numpy_position": np.array([position, has_gauss]),
        "numpy_cached_gaussian": np.array(cached),
    }


def set_numpy_state(arrays: dict[str, np.ndarray]) -> None:
    """Restore NumPy's global generator from :func:`numpy_state_arrays`'s arrays."""
    position, has_gauss = (int(v) for v in arrays["numpy_position"])
    state = (arrays["numpy_keys"], position, has_gauss, float(arrays["numpy_cached_gaussian"]))
    np.random.set_state(("MT19937", *state))
