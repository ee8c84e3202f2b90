"""Feeding rows to Keras: whole arrays when they are in memory, batches otherwise.

Rows are either a NumPy array or an :class:`~sk_kerasbag.folders.ImageFiles`
(image files read on demand); both support ``len``, ``take(indices, axis=0)``
(a subset, lazy for files) and ``rows[index]`` (an array, read for files).
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import numpy as np

from ._backend import start_generator_datasets
from ._keras import keras
from ._random import batch_order, batch_rng

__all__ = ["RowBatches", "SequenceBatches", "chunks", "fit_inputs", "in_memory"]


def in_memory(X) -> bool:
    """Whether ``X`` is an array, rather than rows read on demand."""
    return isinstance(X, np.ndarray)


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows covering ``range(n)``."""
    return (slice(start, start + size) for start in range(0, n, size))


def fit_inputs(
    X,
    y,
    sample_weight,
    *,
    prepare: Callable[[np.ndarray, np.random.Generator | None], np.ndarray],
    random: bool,
    batch_size: int | None,
    seed: int | None,
) -> dict:
    """Keyword arguments for ``keras.Model.fit`` (``x`` and what goes with it).

    In-memory rows without random transforms are prepared once and passed as
    arrays, the fastest path; otherwise batches are prepared as Keras asks for
    them, shuffled when a ``seed`` is given.
    """
    if in_memory(X) and not random:
        return {
            "x": prepare(X, None),
            "y": y,
            "sample_weight": sample_weight,
            "batch_size": batch_size,
        }
    batches = RowBatches(prepare, X, y, sample_weight, batch_size=batch_size or 32, seed=seed)
    return {"x": batches, "shuffle": False}


def validation_inputs(validation_data: tuple, prepare, batch_size: int | None):
    """``validation_data`` for ``keras.Model.fit``, prepared like the training rows."""
    X, y, *weights = validation_data
    if in_memory(X):
        return (prepare(X, None), y, *weights)
    weights = weights[0] if weights else None
    return RowBatches(prepare, X, y, weights, batch_size=batch_size or 32, seed=None)


class RowBatches(keras.utils.PyDataset):
    """Batches of rows, prepared (read, augmented, preprocessed) on demand.

    With a ``seed``, rows are shuffled per epoch and batch ``index`` of epoch
    ``e`` is a pure function of ``(seed, e, index)``, so it does not matter in
    which order, or how often, Keras asks for it. Without one, rows keep
    their order (validation data).
    """

    def __init__(self, prepare, X, y, sample_weight, *, batch_size: int, seed: int | None):
        # No enqueuer threads: measured, they slow training down on every
        # backend (they compete with the training step for the GIL and the
        # cores); TensorFlow prefetches batches on its own.
        super().__init__()
        start_generator_datasets()  # so that Keras's first use of them writes nothing
        self.prepare, self.X, self.y, self.sample_weight = prepare, X, y, sample_weight
        self.batch_size, self.seed = batch_size, seed
        self.epoch = 0
        self._cached_order = (None, None)

    def __len__(self) -> int:
        return math.ceil(len(self.X) / self.batch_size)

    def _order(self) -> np.ndarray:
        epoch, order = self._cached_order
        if epoch != self.epoch:
            if self.seed is None:
                order = np.arange(len(self.X))
            else:
                order = batch_order(self.seed, self.epoch, len(self.X))
            self._cached_order = (self.epoch, order)
        return order

    def __getitem__(self, index: int):
        rows = np.sort(self._order()[index * self.batch_size : (index + 1) * self.batch_size])
        rng = None if self.seed is None else batch_rng(self.seed, self.epoch, index)
        batch = (self.prepare(self.X[rows], rng), _take(self.y, rows))
        if self.sample_weight is not None:
            batch += (_take(self.sample_weight, rows),)
        return batch

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def release(self) -> None:
        """Drop the rows: TensorFlow keeps a finished fit's dataset alive."""
        self.prepare = self.X = self.y = self.sample_weight = None


def _take(values, rows):
    # A list holds one array per output of a packed model (targets or weights);
    # Keras's dataset signatures take tuples, not lists.
    if isinstance(values, list):
        return tuple(v[rows] for v in values)
    return values[rows]


def replayable(fit_data: dict, batch_size: int | None, seed: int) -> dict:
    """``fit`` data whose epoch ``e`` depends only on ``(seed, e)``, so it can restart at any epoch.

    Keras shuffles in-memory arrays itself, with a state that cannot be saved
    on every backend; these arrays are served as :class:`RowBatches` instead.
    """
    if not in_memory(fit_data["x"]):
        return fit_data
    batches = RowBatches(
        lambda x, rng: x,
        fit_data["x"],
        fit_data["y"],
        fit_data["sample_weight"],
        batch_size=batch_size or 32,
        seed=seed,
    )
    return {"x": batches, "shuffle": False}


def start_at_epoch(fit_data, epoch: int) -> None:
    """Make ``fit`` data resumed at ``epoch`` give that epoch's batches, not the first's."""
    if isinstance(fit_data, RowBatches):
        fit_data.epoch = epoch


def release(fit_data) -> None:
    """Let go of the rows behind ``fit`` data once training is over."""
    if isinstance(fit_data, RowBatches):
        fit_data.release()


class SequenceBatches(keras.utils.PyDataset):
    """A Keras 3 dataset over any sequence of batches (such as a ``tf_keras`` iterator)."""

    def __init__(self, sequence):
        super().__init__()
        self.sequence = sequence

    def __len__(self) -> int:
        return len(self.sequence)

    def __getitem__(self, index: int):
        return self.sequence[index]

    def on_epoch_end(self) -> None:
        if callable(getattr(self.sequence, "on_epoch_end", None)):
            self.sequence.on_epoch_end()
