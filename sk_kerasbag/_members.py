"""One ensemble member: building it, training it (seeding, callbacks, clean-up), reloading it.

:func:`train_member` is the only place a single member is fitted: build ->
``fit`` with callbacks -> release. Best epoch, early stopping and
checkpoints are callbacks (:mod:`~sk_kerasbag._callbacks`), which write
through a store they are given; the member's finished files are read
(reload) and written only before and after training, in :func:`fit_member`.
It runs the same way in the main process and in joblib workers, so a
member's result depends only on its :class:`MemberPlan`, never on which
process trained it or on the members trained before it.
Running fitted members on new rows is :mod:`~sk_kerasbag._inference`'s.
"""

from __future__ import annotations

import contextlib
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator, NamedTuple, Protocol

import numpy as np

from ._batches import release, replayable, start_at_epoch, validation_inputs
from ._builder import build_checked
from ._callbacks import (
    Checkpointing,
    CheckpointStore,
    MemberProgress,
    Monitoring,
    TrackProgress,
    member_callbacks,
)
from ._fixes import keras_default_seeds_from, no_retracing_warning, symbolic_build
from ._keras import keras
from ._pickling import portable
from ._plans import MemberPlan, rows_of, validation_rows
from ._random import kept_global_state


class TrainedMember(NamedTuple):
    """What training one member produces.

    ``best_epoch`` (by the monitored value; None if it never had a value)
    and ``held_epoch`` (whose weights ``model`` holds) count from 0.
    """

    model: keras.Model
    history: dict[str, list[float]]
    preprocessing: Any
    seconds: float
    best_epoch: int | None
    held_epoch: int

    def __reduce__(self):
        # From a worker process to the parent, with the builder's custom objects.
        return type(self), (portable(self.model), *self[1:])


class MemberStore(Protocol):
    """Where a member of a run is kept (see ``_artifacts.MemberFiles``)."""

    checkpoints: CheckpointStore

    def lock(self) -> ContextManager: ...

    def finished(self) -> bool: ...

    def reload(self, builder: Callable[[], keras.Model], preprocessing) -> TrainedMember | None: ...

    def trained_as(self) -> str: ...

    def finish(self, member: TrainedMember, trained_as: str = "sequential") -> None: ...


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
    with _SEEDING_LOCK, kept_global_state():
        keras.utils.set_random_seed(seed)
        # Keras shuffles in-memory rows with NumPy's global generator, and
        # set_random_seed can draw from it after seeding it (under JAX, its
        # first call imports TensorFlow, which draws): seed both again, so a
        # member's batches follow from its seed alone.
        random.seed(seed)
        np.random.seed(seed)
        yield


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
    with keras_default_seeds_from(private):
        model = build_checked(builder)
    random.setstate(private.getstate())
    return model


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
    build = symbolic_build(model)
    if keras.backend.backend() != "tensorflow" or model.run_eagerly or build is None:
        return
    try:
        (inputs,) = model.inputs
        target = keras.KerasTensor(
            (None, *y.shape[1:]), dtype=keras.backend.standardize_dtype(y.dtype)
        )
        targets = target if n_outputs is None else [target] * n_outputs
        build(data_batch=(inputs, targets, None))
    except Exception:  # an optimisation only: Keras builds them in the trace instead
        return


@dataclass(frozen=True)
class Training:
    """How every member trains: the estimator's training parameters, resolved at fit.

    Attributes
    ----------
    augmentation : augmentation object
        From :func:`~sk_kerasbag._augmentation.make_augmentation`. Its
        preprocessing is fitted on a member's training rows and applied to
        its validation rows too; its random transforms to training batches only.
    validation_data : tuple or None
        User-given ``(X_val, y_val[, sample_weight_val])``; overrides a plan's ``val_idx``.
    epochs, batch_size : int
        As given to ``keras.Model.fit``.
    monitoring : Monitoring
        Best epoch, early stopping and the weights a member keeps.
    callbacks : list or None
        The user's callbacks (or factories of them), made anew for each member.
    verbose : int
        Keras's ``verbose``.
    """

    augmentation: Any
    validation_data: tuple | None
    epochs: int
    batch_size: int | None
    monitoring: Monitoring
    callbacks: list | None = None
    verbose: int = 0


def fit_member(
    builder: Callable[[], keras.Model],
    X: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    plan: MemberPlan,
    training: Training,
    files: MemberStore | None = None,
) -> TrainedMember:
    """Train member ``plan.index``, or reload it when its run folder holds it finished.

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
    training : Training
        How members train.
    files : MemberStore, optional
        The member's files in a run folder (``save_dir``): a member finished
        there is reloaded, one interrupted there continues from its last
        finished epoch, and training is checkpointed after every epoch.

    Returns
    -------
    TrainedMember
    """
    rows = rows_of(X, y, sample_weight, plan.train_idx)
    validation = validation_rows(X, y, sample_weight, plan, training.validation_data)
    if plan.features is not None:  # the member sees its own columns, in training and validation
        rows = _take_columns(rows, plan.features)
        validation = None if validation is None else _take_columns(validation, plan.features)
    preprocessing = training.augmentation.fit(rows[0])
    if files is None:
        return train_member(builder, rows, validation, preprocessing, plan, training)
    with files.lock():
        with seeded(plan.seed):
            finished = files.reload(builder, preprocessing)
        if finished is not None:
            return finished
        member = train_member(
            builder, rows, validation, preprocessing, plan, training, files.checkpoints
        )
        files.finish(member)
        return member


def _take_columns(rows: tuple, features: np.ndarray) -> tuple:
    """``(X, y[, sample_weight])`` with only the ``features`` columns of ``X``."""
    return (np.asarray(rows[0])[:, features], *rows[1:])


def train_member(
    builder: Callable[[], keras.Model],
    rows: tuple,
    validation: tuple | None,
    preprocessing: Any,
    plan: MemberPlan,
    training: Training,
    checkpoints: CheckpointStore | None = None,
) -> TrainedMember:
    """Build one member, fit it with its callbacks, and release what training held.

    ``rows`` and ``validation`` are ``(X, y, sample_weight)`` of the member;
    ``checkpoints``, when given, saves the state after every epoch, and a
    saved state there is continued.
    """
    batch_size = training.batch_size
    if validation is not None:
        validation = validation_inputs(
            validation, lambda x, rng: preprocessing.transform(x), batch_size
        )
    with seeded(plan.seed):
        model = build_member(builder, plan.seed)
        build_training_state(model, rows[1])
        data = training.augmentation.training_data(
            *rows, batch_size=batch_size, seed=plan.seed, preprocessing=preprocessing
        )
        progress = MemberProgress(training.monitoring, validation is not None, plan.index)
        user_callbacks = member_callbacks(training.callbacks, plan.index)
        # Ours last, so they see each epoch as the user's callbacks left it.
        callbacks = [*user_callbacks, TrackProgress(progress, user_callbacks)]
        checkpointing = None
        if checkpoints is not None:
            checkpointing = Checkpointing(checkpoints, [progress], user_callbacks)
        try:
            fit_model(model, data, training, callbacks, plan.seed, checkpointing, validation)
        finally:
            release(validation)
    release_training_state(model)
    return progress_result(model, progress, preprocessing)


def fit_model(
    model: keras.Model,
    data: dict,
    training: Training,
    callbacks: list,
    seed: int,
    checkpointing: Checkpointing | None = None,
    validation_data=None,
) -> None:
    """``model.fit`` on ``data`` for ``training.epochs``, continuing a checkpointed state if any.

    The batches depend on ``(seed, epoch)`` only (``replayable``), with or
    without ``checkpointing``: a resumed fit replays its remaining epochs
    exactly, and a fit that writes checkpoints (``save_dir``) trains the very
    members a fit without them trains. ``checkpointing`` is listed last, so it
    saves each epoch as the other callbacks left it.
    """
    initial_epoch = 0
    data = replayable(data, training.batch_size, seed)
    if checkpointing is not None:
        callbacks = [*callbacks, checkpointing]
        initial_epoch = checkpointing.resume(model, training.epochs)
        start_at_epoch(data["x"], initial_epoch)
    try:
        with no_retracing_warning():
            model.fit(
                **data,
                validation_data=validation_data,
                epochs=training.epochs,
                initial_epoch=initial_epoch,
                callbacks=callbacks,
                verbose=training.verbose,
            )
    finally:
        release(data["x"])


def progress_result(model: keras.Model, progress: MemberProgress, preprocessing) -> TrainedMember:
    """The trained member its record describes."""
    return TrainedMember(
        model,
        progress.history,
        preprocessing,
        progress.seconds,
        progress.best_epoch,
        progress.held_epoch,
    )
