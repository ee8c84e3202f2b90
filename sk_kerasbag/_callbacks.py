"""What happens to a member at the end of every epoch: best epoch, early stopping, checkpoints.

One mechanism serves every way of training (one by one, in worker
processes, on Dask, packed):

* :class:`Monitoring` holds the estimator's ``monitor``, ``patience`` and
  ``restore_best_weights``;
* :class:`MemberProgress` is one member's record, free of Keras: its
  history, its best epoch by the monitored value, whether it has stopped
  early, the weights it will hold at the end, and the state a checkpoint
  needs to continue it;
* :class:`TrackProgress` feeds a one-by-one member's epochs into its
  record (the packed fit feeds each member's record itself, see
  :mod:`~sk_kerasbag._packing`);
* :class:`Checkpointing` saves the training state (model, records, random
  generators, the user's callbacks) to a store after every epoch, and puts
  it back when a run resumes. It knows a store, not files.

:func:`member_callbacks` makes each member's own copy of the user's callbacks.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ._fixes import (
    callback_model,
    callback_state,
    early_stopping_restored_epoch,
    metric_direction,
    seed_states,
    set_callback_state,
)
from ._keras import keras
from ._random import numpy_state_arrays, set_numpy_state
from .exceptions import NotFiniteError

# Metric names (without "val_") for which a larger value is better; anything
# else (loss, mse, mae, crossentropy, ...) is better smaller.
_HIGHER_IS_BETTER = (
    "acc", "accuracy", "auc", "precision", "recall", "f1_score", "fbeta_score", "r2_score",
    "io_u", "cosine_similarity", "pearson_correlation", "concordance_correlation",
)  # fmt: skip


@dataclass(frozen=True)
class Monitoring:
    """When a member counts as improved, when it stops, and which weights it keeps.

    Attributes
    ----------
    monitor : str
        The history key to watch; a member without validation data watches
        the training value (``"val_loss"`` becomes ``"loss"``).
    patience : int or None
        Stop a member whose monitored value has not improved for this many
        epochs; None trains every epoch.
    restore_best_weights : bool
        A member with validation data ends with the weights of its best epoch.
    """

    monitor: str = "val_loss"
    patience: int | None = None
    restore_best_weights: bool = True


def higher_is_better(model: keras.Model, name: str) -> bool:
    """Whether a larger value of the metric ``name`` of ``model`` is better.

    As Keras's ``EarlyStopping`` decides: the direction the compiled metric
    declares, looked up by name; for a name it cannot find, larger is better
    for accuracy, AUC, precision, recall, F-scores, R^2, IoU and
    correlations, smaller for anything else (losses, errors).
    """
    base = name.removeprefix("val_")
    if base == "loss":
        return False
    metrics = []
    for metric in model.metrics:
        metrics.extend(getattr(metric, "metrics", None) or [metric])  # compiled metric lists
    for metric in metrics:
        direction = metric_direction(metric)
        if metric.name == base and direction in ("up", "down"):
            return direction == "up"
    base = base.rstrip("_0123456789")  # precision_1: a second metric of the kind
    return base in _HIGHER_IS_BETTER or base.endswith(_HIGHER_IS_BETTER)


class MemberProgress:
    """One member's training record: history, best epoch, early stopping and held weights.

    Parameters
    ----------
    monitoring : Monitoring
        The estimator's rule.
    validated : bool
        Whether the member has validation data (``val_`` metrics).
    index : int
        The member's place in the ensemble (from 0), to name it in errors.
    """

    def __init__(self, monitoring: Monitoring, validated: bool, index: int):
        self.index = index
        monitor = monitoring.monitor
        if not validated and monitor.startswith("val_"):
            monitor = monitor[len("val_") :]
        self.monitor, self.patience = monitor, monitoring.patience
        self.restores = monitoring.restore_best_weights and validated
        self.higher_is_better: bool | None = None  # known once the model's metrics are
        self.history: dict[str, list[float]] = {}
        self.best_epoch: int | None = None
        self.best_value: float | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.restored_epoch: int | None = None  # set when a user's callback restored one
        self.stopped = False
        self.seconds = 0.0

    @property
    def epochs(self) -> int:
        """Epochs run so far."""
        return len(next(iter(self.history.values()), []))

    @property
    def held_epoch(self) -> int:
        """The epoch (from 0) whose weights the member holds once training ends."""
        if self.restores and self.best_epoch is not None:
            return self.best_epoch
        if self.restored_epoch is not None:
            return self.restored_epoch
        return self.epochs - 1

    def end_epoch(self, model: keras.Model, logs: dict) -> bool:
        """Record an epoch of ``model``, with its ``logs``; return whether it should stop now."""
        if self.higher_is_better is None:
            self.higher_is_better = higher_is_better(model, self.monitor)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))
        self._check_finite(logs)
        if self.monitor not in logs:
            raise ValueError(
                f"monitor={self.monitor!r} is not in the member's history, which has "
                f"{sorted(logs)}; set monitor to one of them."
            )
        epoch, value = self.epochs - 1, float(logs[self.monitor])
        if self._improves(value):
            self.best_epoch, self.best_value = epoch, value
            if self.restores:
                self.best_weights = [np.array(w) for w in model.get_weights()]
        elif self.patience is not None and epoch > 0:
            # Keras's rule: patience 0 and 1 both stop at the first epoch without improvement.
            since = epoch - (-1 if self.best_epoch is None else self.best_epoch)
            self.stopped = since >= max(self.patience, 1)
        return self.stopped

    def _check_finite(self, logs: dict) -> None:
        # Once a loss is NaN or infinite the weights are too: every later
        # epoch, and every prediction of the member, would be NaN.
        for name in sorted(logs):
            value = float(logs[name])
            if (name == "loss" or name.endswith("_loss")) and not np.isfinite(value):
                raise NotFiniteError(
                    f"Member {self.index + 1} diverged in epoch {self.epochs}: its {name} is "
                    f"{value}. The usual causes are a learning rate too high for the model "
                    "(lower it, or clip gradients with the optimizer's clipnorm) and inputs "
                    "or targets that are not scaled (standardise them, for instance with "
                    "sklearn.preprocessing.StandardScaler, or divide pixel values by 255).",
                    member=self.index + 1,
                    epoch=self.epochs,
                )

    def _improves(self, value: float) -> bool:
        if np.isnan(value):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.higher_is_better else value < self.best_value

    def restore(self, model: keras.Model) -> bool:
        """Give ``model`` its best epoch's weights when restoring; return whether it did."""
        if self.restores and self.best_weights is not None:
            model.set_weights(self.best_weights)
            return True
        return False

    # -- checkpoints ---------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], list[np.ndarray]]:
        """JSON-ready scalars and the best weights, to continue this record after a kill."""
        scalars = {
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "restored_epoch": self.restored_epoch,
            "stopped": self.stopped,
            "seconds": self.seconds,
        }
        return scalars, list(self.best_weights or [])

    def set_state(self, scalars: dict[str, Any], best_weights: list[np.ndarray]) -> None:
        """Continue from a :meth:`state`."""
        self.history = {name: list(values) for name, values in scalars["history"].items()}
        self.best_epoch, self.best_value = scalars["best_epoch"], scalars["best_value"]
        self.restored_epoch, self.stopped = scalars["restored_epoch"], scalars["stopped"]
        self.seconds = scalars["seconds"]
        self.best_weights = best_weights or None


class TrackProgress(keras.callbacks.Callback):
    """Feeds a one-by-one member's epochs into its :class:`MemberProgress`.

    Listed after the user's callbacks, so it sees the epoch as they left it
    and, at the end of training, decides which weights the member keeps: its
    best epoch's when restoring, else what the user's callbacks left (a
    ``keras.callbacks.EarlyStopping(restore_best_weights=True)`` restores its
    own best epoch, and the record says so).
    """

    def __init__(self, progress: MemberProgress, user_callbacks: list):
        super().__init__()
        self.progress, self.user_callbacks = progress, user_callbacks

    def on_train_begin(self, logs=None):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.progress.seconds += now - self._last
        self._last = now
        if self.progress.end_epoch(self.model, logs or {}):
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.progress.restore(self.model):
            return
        for callback in self.user_callbacks:
            restored = early_stopping_restored_epoch(callback)
            if restored is not None:
                self.progress.restored_epoch = restored


class CheckpointStore(Protocol):
    """Where :class:`Checkpointing` keeps a training state (see ``_artifacts.CheckpointFiles``)."""

    def save(self, epochs_done: int, model: keras.Model, scalars: dict, arrays: dict) -> None: ...

    def load(self, model: keras.Model) -> tuple[dict, dict] | None: ...

    def members(self) -> list[int] | None: ...

    def drop(self) -> None: ...


class Checkpointing(keras.callbacks.Callback):
    """Saves the training state to ``store`` after every epoch; continues a saved one.

    The state is the model with its optimizer, the members' records, what
    Keras does not save (dropout seed generators, NumPy's global generator,
    which Keras's array iterators shuffle with) and the public state of the
    user's callbacks (``EarlyStopping``'s patience count and best weights,
    any counter). Listed last, so it saves the epoch as every other callback
    left it.

    Parameters
    ----------
    store : CheckpointStore
        Keeps the last saved state.
    progress : list of MemberProgress
        The records of the members the model trains (one, or all when packed).
    user_callbacks : list
        The user's callbacks of this member.
    optimizers : list, optional
        Optimizers stepped beside the model, saved with it: each vectorised
        member's own (the model is then only the members' container).
    """

    def __init__(
        self,
        store: CheckpointStore,
        progress: list[MemberProgress],
        user_callbacks,
        optimizers: list | tuple = (),
    ):
        super().__init__()
        self.store, self.progress, self.user_callbacks = store, progress, user_callbacks
        self.optimizers = optimizers
        self._pending: tuple[dict, dict] | None = None

    def resume(self, model: keras.Model, epochs: int) -> int:
        """Load the saved state into ``model`` and the records; return the epoch to start at."""
        saved = self.store.load(model)
        if saved is None:
            return 0
        scalars, arrays = saved
        for k, (record, progress) in enumerate(zip(scalars["progress"], self.progress)):
            n_best = record.pop("best_weights")
            progress.set_state(record, [arrays[f"progress{k}.{j}"] for j in range(n_best)])
        for k, optimizer in enumerate(self.optimizers):
            for j, variable in enumerate(optimizer.variables):
                variable.assign(arrays[f"optimizer{k}.{j}"])
        # Keras resets callbacks and generators as fit starts: put them back after.
        self._pending = saved
        return epochs if scalars["stopped"] else scalars["epochs_done"]

    def on_train_begin(self, logs=None):
        if self._pending is not None:
            scalars, arrays = self._pending
            _set_random_state(self.model, arrays)
            set_callback_state(self.user_callbacks, scalars["callbacks"], arrays)
            self._pending = None

    def on_epoch_end(self, epoch, logs=None):
        callback_scalars, arrays = callback_state(self.user_callbacks)
        arrays.update(_random_state(self.model))
        for k, optimizer in enumerate(self.optimizers):
            arrays.update(
                (f"optimizer{k}.{j}", keras.ops.convert_to_numpy(v))
                for j, v in enumerate(optimizer.variables)
            )
        records = []
        for k, progress in enumerate(self.progress):
            record, best_weights = progress.state()
            records.append({**record, "best_weights": len(best_weights)})
            arrays.update((f"progress{k}.{j}", w) for j, w in enumerate(best_weights))
        scalars = {
            "epochs_done": epoch + 1,
            "stopped": bool(self.model.stop_training),
            # Which members the state is of: a packed one continues only with them.
            "members": [progress.index for progress in self.progress],
            "progress": records,
            "callbacks": callback_scalars,
        }
        self.store.save(epoch + 1, self.model, scalars, arrays)


def member_callbacks(callbacks: list | None, k: int) -> list:
    """Member ``k``'s own callbacks: fresh copies of the user's, and those their factories make.

    Each member must start with unused callbacks: an ``EarlyStopping`` that
    remembers the previous member's best loss would stop the next one early.
    A callable in ``callbacks`` is a factory, called with ``k`` (counted
    from 0), whose callbacks are used as they are: that is how a user's
    logger, queue or progress bar observes every member.
    """
    fresh = []
    for callback in callbacks or []:
        if isinstance(callback, keras.callbacks.Callback):
            fresh.append(_fresh_copy(callback))
            continue
        made = callback(k)
        made = made if isinstance(made, (list, tuple)) else [made]
        for item in made:
            if not isinstance(item, keras.callbacks.Callback):
                raise TypeError(
                    f"The callback factory {callback!r} returned {type(item).__name__} for "
                    f"member {k}; it must return a keras.callbacks.Callback (or a list of them)."
                )
        fresh.extend(made)
    return fresh


def check_callbacks(callbacks: list | None) -> None:
    """Refuse, before any member trains, callbacks that cannot serve every member."""
    for i, callback in enumerate(callbacks or []):
        if isinstance(callback, keras.callbacks.Callback):
            try:
                _fresh_copy(callback)
            except Exception as error:
                raise TypeError(
                    f"callbacks[{i}] ({type(callback).__name__}) cannot be copied for each "
                    f"member ({error}). Pass a function instead, which makes member k's "
                    "callback and may share your logger, queue or lock: "
                    "callbacks=[lambda k: MyCallback(...)]."
                ) from None
        elif not callable(callback):
            raise TypeError(
                f"callbacks[{i}] is {type(callback).__name__}; each item must be a "
                "keras.callbacks.Callback, or a function of the member index returning one."
            )


def _fresh_copy(callback: keras.callbacks.Callback) -> keras.callbacks.Callback:
    # Map the model a used callback still points to onto None, so copying
    # never drags a whole trained model along.
    return copy.deepcopy(callback, {id(callback_model(callback)): None})


# -- what Keras does not checkpoint --------------------------------------------


def _random_state(model: keras.Model) -> dict[str, np.ndarray]:
    """NumPy's global generator and the model's dropout streams, for a checkpoint."""
    arrays = numpy_state_arrays()
    for i, variable in enumerate(seed_states(model)):
        arrays[f"seed_state_{i}"] = keras.ops.convert_to_numpy(variable)
    return arrays


def _set_random_state(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    set_numpy_state(state)
    for i, variable in enumerate(seed_states(model)):
        variable.assign(state[f"seed_state_{i}"])
