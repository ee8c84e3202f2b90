"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records epoch durations in a class-level list (members get deep copies of callbacks)."""

    durations: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        EpochTimer.durations.append(time.perf_counter() - self._started)
