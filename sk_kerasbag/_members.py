"""One ensemble member: training it (seeding, fresh callbacks, clean-up) and running it.

:func:`train_member` is the only place a Keras model is fitted. It runs the
same way in the main process and in joblib workers, so a member's result
depends only on its :class:`MemberPlan`, never on which process trained it or
on the members trained before it. :func:`predict_rows` is the only place a
member is run on new rows.
"""

from __future__ import annotations

import contextlib
import copy
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import keras
import numpy as np

from ._augmentation import NoAugmentation
from ._batches import release, replayable, start_at_epoch, validation_inputs
from ._builder import build_checked

if TYPE_CHECKING:
    from ._artifacts import MemberFiles


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
    """

    train_idx: np.ndarray
    heldout_idx: np.ndarray
    val_idx: np.ndarray | None
    seed: int


class TrainedMember(NamedTuple):
    """What training one member produces."""

    model: keras.Model
    history: dict[str, list[float]]
    preprocessing: Any
    seconds: float


_SEEDING_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed Keras (and the backend) while leaving Python's and NumPy's global RNGs as found.

    Python's, NumPy's and TensorFlow's generators are process-wide, so
    threads seed one at a time: members trained by threads of one process
    (joblib's threading backend, a Dask worker with several threads) train one
    after another, as reproducibly as in worker processes. Their ops already
    use every core.
    """
    with _SEEDING_LOCK:
        python_state, numpy_state = random.getstate(), np.random.get_state()
        keras.utils.set_random_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def build_member(builder: Callable[[], keras.Model], seed: int) -> keras.Model:
    """Build a member (checked) whose initial weights and dropout seeds come from ``seed`` alone.

    Call within ``seeded(seed)``. Keras draws each layer's default seeds from
    Python's global generator, which other threads draw from too (a Dask
    worker's, about twice a second; importing TensorFlow), so a build could
    take someone else's numbers. The build draws Keras's default seeds from a
    private generator seeded alike instead, and the global one then goes on
    from where that stopped.
    """
    private = random.Random(seed)
    with _keras_default_seeds_from(private):
        model = build_checked(builder)
    random.setstate(private.getstate())
    return model


@contextlib.contextmanager
def _keras_default_seeds_from(generator: random.Random) -> Iterator[None]:
    try:
        from keras.src.random import seed_generator  # private: where make_default_seed draws
    except ImportError:
        seed_generator = None
    if getattr(seed_generator, "python_random", None) is not random:
        yield  # another Keras version: nothing known to redirect
        return
    seed_generator.python_random = generator
    try:
        yield
    finally:
        seed_generator.python_random = random


def fresh_callbacks(callbacks: list | None) -> list:
    """Deep copies of the user's callbacks, detached from any model they saw.

    Each member must start with unused callbacks: an ``EarlyStopping`` that
    remembers the previous member's best loss would stop the next one early.
    """
    fresh = []
    for callback in callbacks or []:
        # Map the model a used callback still points to onto None, so copying
        # never drags a whole trained model along.
        memo = {id(getattr(callback, "_model", None)): None}
        fresh.append(copy.deepcopy(callback, memo))
    return fresh


def release_training_state(model: keras.Model) -> None:
    """Drop the traced train/eval functions a fitted member no longer needs.

    Each traced function holds a compiled graph; keeping them for every
    member makes memory grow with the ensemble size.
    """
    for name in ("train_function", "test_function", "predict_function"):
        if getattr(model, name, None) is not None:
            setattr(model, name, None)


def build_training_state(model: keras.Model, y: np.ndarray, n_outputs: int | None = None) -> None:
    """Create the optimizer's and compiled metrics' variables before ``fit`` traces its step.

    Under TensorFlow, Keras creates them inside the first trace of the train
    step, and ``tf.function`` then traces the whole step again (a function may
    create variables on its first trace only). Creating them first saves that
    second trace: about 0.2 s per digits CNN, a second for five packed ones.
    ``n_outputs`` is None for a single-output model, else the number of
    outputs, each fitted on targets like ``y``. Eager and multi-input models,
    or anything this cannot build, are left to Keras.
    """
    symbolic_build = getattr(model, "_symbolic_build", None)  # private, hence looked up
    if keras.backend.backend() != "tensorflow" or model.run_eagerly or symbolic_build is None:
        return
    try:
        (inputs,) = model.inputs
        target = keras.KerasTensor(
            (None, *y.shape[1:]), dtype=keras.backend.standardize_dtype(y.dtype)
        )
        targets = target if n_outputs is None else [target] * n_outputs
        symbolic_build(data_batch=(inputs, targets, None))
    except Exception:  # an optimisation only: Keras builds them in the trace instead
        return


def train_member(
    builder: Callable[[], keras.Model],
    X: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    plan: MemberPlan,
    *,
    augmentation=None,
    validation_data: tuple | None,
    epochs: int,
    batch_size: int | None,
    callbacks: list | None,
    verbose: int,
    files: MemberFiles | None = None,
) -> TrainedMember:
    """Build and fit one member.

    Parameters
    ----------
    builder : callable
        Zero-argument function returning a fresh compiled model.
    X : ndarray or ImageFiles
        The full training rows (in memory, or image files read on demand);
        the plan selects rows.
    y : ndarray
        The full encoded targets.
    sample_weight : ndarray or None
        Per-row weights for the full data.
    plan : MemberPlan
        The member's rows and seed.
    augmentation : augmentation object, default=None
        From :func:`~sk_kerasbag._augmentation.make_augmentation`. Its
        preprocessing is fitted on the member's training rows and applied to
        the validation rows too; its random transforms to training batches only.
    validation_data : tuple or None
        User-given ``(X_val, y_val[, sample_weight_val])``; overrides ``plan.val_idx``.
    epochs, batch_size, callbacks, verbose
        Passed to ``keras.Model.fit`` (callbacks copied fresh first).
    files : MemberFiles, optional
        The member's files in a run folder (``save_dir``): a member finished
        there is reloaded, one interrupted there continues from its last
        finished epoch, and training is checkpointed after every epoch.

    Returns
    -------
    TrainedMember
        The fitted model, its per-epoch history and the deterministic
        preprocessing fitted on its rows.
    """
    if augmentation is None:
        augmentation = NoAugmentation()
    if validation_data is None and plan.val_idx is not None:
        validation_data = _rows(X, y, sample_weight, plan.val_idx)
    X_train, y_train, w_train = _rows(X, y, sample_weight, plan.train_idx)
    preprocessing = augmentation.fit(X_train)
    with files.lock() if files is not None else contextlib.nullcontext():
        if files is not None and files.finished():
            with seeded(plan.seed):
                model, history, seconds = files.reload(builder)
            return TrainedMember(model, history, preprocessing, seconds)
        if validation_data is not None:
            validation_data = validation_inputs(
                validation_data, lambda x, rng: preprocessing.transform(x), batch_size
            )
        started = time.perf_counter()
        with seeded(plan.seed):
            model = build_member(builder, plan.seed)
            build_training_state(model, y_train)
            training_data = augmentation.training_data(
                X_train,
                y_train,
                w_train,
                batch_size=batch_size,
                seed=plan.seed,
                preprocessing=preprocessing,
            )
            callbacks = fresh_callbacks(callbacks)
            initial_epoch = 0
            if files is not None:
                training_data = replayable(training_data, batch_size, plan.seed)
                start = files.checkpoint()
                tracker = files.tracker(start, list(callbacks))
                callbacks.append(tracker)  # last, so it sees the others' end-of-epoch state
                if start is not None:
                    files.restore(model, start)
                    # A fit stopped by a callback (EarlyStopping) stays stopped.
                    initial_epoch = epochs if start.stopped else start.epochs_done
                    start_at_epoch(training_data["x"], initial_epoch)
            try:
                history = model.fit(
                    **training_data,
                    validation_data=validation_data,
                    epochs=epochs,
                    initial_epoch=initial_epoch,
                    callbacks=callbacks,
                    verbose=verbose,
                )
            finally:
                release(training_data["x"])
                release(validation_data)
        release_training_state(model)
        if files is None:
            seconds = time.perf_counter() - started
            return TrainedMember(model, _plain_history(history.history), preprocessing, seconds)
        files.finish(model, tracker)
        return TrainedMember(model, tracker.history, preprocessing, tracker.seconds)


def _rows(X, y, sample_weight, idx) -> tuple[Any, Any, Any]:
    weights = None if sample_weight is None else sample_weight[idx]
    # take() keeps rows read from files lazy; for arrays it is X[idx].
    return X.take(idx, axis=0), y[idx], weights


def _plain_history(history: dict) -> dict[str, list[float]]:
    return {name: [float(v) for v in values] for name, values in history.items()}


def predict_rows(model: keras.Model, X: np.ndarray, batch_size: int) -> np.ndarray:
    """Run ``model`` on ``X`` in inference mode, batch by batch.

    Uses ``predict_on_batch``: the model's compiled inference function,
    built on the first call and reused after, without the data pipeline that
    ``model.predict`` sets up on every call. Measured on the digits CNN, it is
    faster than both ``predict`` and calling the model eagerly, for one row
    (no pipeline) and for 10,000 (compiled).

    Parameters
    ----------
    model : keras.Model
        A fitted member.
    X : ndarray
        Input rows.
    batch_size : int
        Rows per forward pass.

    Returns
    -------
    ndarray of shape (n_samples, n_units), float64
    """
    outputs = [
        np.asarray(model.predict_on_batch(X[start : start + batch_size]))
        for start in range(0, len(X), batch_size)
    ]
    return np.concatenate(outputs).astype(np.float64, copy=False)
