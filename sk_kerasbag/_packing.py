"""Packed training: every member trained at once, in one training loop.

``strategy="packed"`` builds each member with the user's builder (each with
its own seed, hence its own initial weights) and trains them together, in
one of two ways:

* **vectorised** or **interleaved** (:mod:`~sk_kerasbag._vectorised`),
  wherever the backend and the model allow it: one traced member step,
  mapped over the members' stacked states or taken by each member in turn,
  each member stepping on batches of its own rows;
* **multi-output**, otherwise (the reason is logged): the members are
  called on one shared input as the outputs of one Keras model, fitted
  once. A member's rows are then per-output sample weights: its bootstrap
  counts (or fold membership) times the row's own weight, zero for rows it
  must not see. One optimizer over all weights equals one optimizer per
  member, since Adam, RMSprop and SGD update each weight from its own
  gradient only (a global ``clipnorm`` would couple them).

Either way each member stays an ordinary ``keras.Model``: prediction,
``save`` and held-out predictions work as after a sequential fit. After
every epoch each member's epoch goes into its own record, as in a one-by-one
fit (:class:`PackedEpochs`, :class:`~sk_kerasbag._callbacks.MemberProgress`):
members with validation rows are scored on their own rows, each keeps its
best epoch and stops early on its own, and a stopped member no longer
changes. With ``save_dir`` the whole packed state is checkpointed after
every epoch (:class:`~sk_kerasbag._callbacks.Checkpointing`), so a killed
fit resumes.

Packing is refused (and the engine trains members one after another, with a
warning) when the members cannot share one training loop: user callbacks
(they would watch the packed model, not a member) and augmentations whose
preprocessing is fitted per member.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Callable

import numpy as np

from ._augmentation import ImageAugmentation, NoAugmentation
from ._batches import release, validation_inputs
from ._callbacks import Checkpointing, CheckpointStore, MemberProgress
from ._fixes import compile_arguments, fused_adam, per_output, score_one_batch
from ._keras import keras
from ._members import (
    MemberStore,
    TrainedMember,
    Training,
    build_member,
    build_training_state,
    fit_model,
    progress_result,
    release_training_state,
    seeded,
)
from ._plans import MemberPlan, validation_rows
from ._vectorised import (
    ONE_BATCH_VALUES,
    VectorisedMembers,
    data_obstacle,
    model_obstacle,
    train_vectorised,
)

logger = logging.getLogger("sk_kerasbag")


def packing_obstacle(*, callbacks, augmentation, columns: bool = False) -> str | None:
    """Why members cannot be trained as one packed model, or None when they can."""
    if callbacks:
        return "callbacks would watch the packed model, not each member"
    if columns:
        return "each member takes its own columns (max_features, bootstrap_features)"
    if isinstance(augmentation, ImageAugmentation):
        settings = augmentation.settings
        if settings["featurewise_center"] or settings["featurewise_std_normalization"]:
            return "featurewise statistics are fitted on each member's own rows"
    elif not isinstance(augmentation, NoAugmentation):
        return "a generator-object augmentation is fitted per member"
    return None


def fit_packed(
    builder: Callable[[], keras.Model],
    X: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    plans: list[MemberPlan],
    training: Training,
    files: list[MemberStore] | None = None,
    checkpoints: CheckpointStore | None = None,
) -> tuple[list[TrainedMember], str]:
    """Train all members at once, or reload them when their run folder holds them finished.

    Parameters are those of :func:`~sk_kerasbag._members.fit_member`, with
    every member's plan and files at once, and ``checkpoints``: where the
    packed training state is saved after every epoch. Also returns how the
    members trained: ``"vectorised"``, ``"interleaved"`` or ``"multi-output"``
    (``fit_strategy_``).

    With a run folder, its finished members are reloaded and the others
    train packed: first the members a killed fit was training together (its
    checkpoint's: a grown run's new members, say), continued from their
    checkpoint in the same pack so that they end as they would have, then
    any others.
    """
    if files is None:
        return train_packed(builder, X, y, sample_weight, plans, training)
    checkpointed = _checkpointed_pack(plans, checkpoints)
    if all(files[k].finished() for k in checkpointed):
        checkpointed = []
        checkpoints.drop()  # left behind if a kill came right after its last member finished
    unfinished = [k for k, store in enumerate(files) if not store.finished()]
    members: list[TrainedMember | None] = [None] * len(plans)
    strategy = None
    for pack in (checkpointed, unfinished):
        pack = [k for k in pack if members[k] is None]
        if not pack:
            continue
        trained, strategy = train_packed(
            builder, X, y, sample_weight, [plans[k] for k in pack], training, checkpoints
        )
        for k, member in zip(pack, trained):
            # A kill while finishing leaves some members written: they are not rewritten
            # (the resumed training ended with the same weights).
            if not files[k].finished():
                files[k].finish(member, strategy)
            members[k] = member
        checkpoints.drop()
    reloaded = [k for k, member in enumerate(members) if member is None]
    if reloaded:
        with seeded(plans[0].seed):
            preprocessing = _packed_preprocessing(X, sample_weight, plans, training)
            for k in reloaded:
                members[k] = files[k].reload(builder, preprocessing)
        strategy = strategy or files[reloaded[0]].trained_as()
    return members, strategy


def _checkpointed_pack(plans: list[MemberPlan], checkpoints: CheckpointStore) -> list[int]:
    """The members (places in ``plans``) whose packed training the run holds a checkpoint of."""
    held = checkpoints.members()
    if held is None:
        return []
    places = {plan.index: k for k, plan in enumerate(plans)}
    if not set(held) <= places.keys():
        raise ValueError(
            f"The run folder holds the checkpoint of members {_numbers(held)}, trained "
            f"together, but this fit trains members {_numbers(places)}; resume the run with "
            "resume=True and the parameters it records first."
        )
    return [places[index] for index in held]


def _numbers(indices) -> str:
    return ", ".join(str(index + 1) for index in indices)


def train_packed(
    builder: Callable[[], keras.Model],
    X: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    plans: list[MemberPlan],
    training: Training,
    checkpoints: CheckpointStore | None = None,
) -> tuple[list[TrainedMember], str]:
    """Train all members at once; return them one by one, and how they trained.

    Vectorised (:mod:`~sk_kerasbag._vectorised`) where the backend and the
    model allow it, else as one multi-output model, with a log line naming
    the reason. Each member has its own record
    (:class:`~sk_kerasbag._callbacks.MemberProgress`): its validation, best
    epoch and early stopping, as in a one-by-one fit.
    """
    members = []
    for plan in plans:
        with seeded(plan.seed):
            members.append(build_member(builder, plan.seed))
        # Each member's own optimizer is built: a vectorised fit steps it, and
        # checkpoints and member files always hold one.
        members[-1].optimizer.build(members[-1].trainable_variables)
    weights, rows = _training_rows(X, sample_weight, plans)
    preprocessing = training.augmentation.fit(X.take(rows, axis=0))
    validation = _validation_rows(X, y, sample_weight, plans, training, preprocessing)
    progress = [
        MemberProgress(training.monitoring, data is not None, plan.index)
        for plan, data in zip(plans, validation)
    ]
    try:
        vectorised, obstacle = _vectorised_members(members, X, y, plans, training, preprocessing)
        if vectorised is not None:
            epochs = PackedEpochs(members, progress, vectorised.validate, validation)
            checkpointing = None
            if checkpoints is not None:
                checkpointing = Checkpointing(
                    checkpoints, progress, [], [m.optimizer for m in members]
                )
                checkpointing.set_model(_container(members, X.shape[1:]))
            train_vectorised(
                vectorised, plans, sample_weight, training.epochs, epochs, checkpointing,
                training.verbose,
            )  # fmt: skip
            strategy = vectorised.mode
        else:
            logger.info("Packed members train as one multi-output model: %s.", obstacle)
            _train_multi_output(members, X, y, weights, rows, plans, training, preprocessing,
                                validation, progress, checkpoints)  # fmt: skip
            strategy = "multi-output"
    finally:
        for prepared in validation:
            release(prepared)
    for member in members:
        release_training_state(member)
    trained = [
        progress_result(member, record, preprocessing)
        for member, record in zip(members, progress)
    ]
    return trained, strategy


def _vectorised_members(members, X, y, plans, training, preprocessing):
    """The members' compiled step and None, or None and why there is none."""
    obstacle = data_obstacle(X, training.augmentation) or model_obstacle(members)
    if obstacle is not None:
        return None, obstacle
    vectorised = VectorisedMembers(members, preprocessing.transform(X), y, training.batch_size)
    obstacle = vectorised.check(plans[0].train_idx)
    if obstacle is not None:
        return None, obstacle
    if vectorised.fallback is not None:
        logger.info("Packed members step one by one: %s.", vectorised.fallback)
    return vectorised, None


def _train_multi_output(
    members, X, y, weights, rows, plans, training, preprocessing, validation, progress, checkpoints
) -> None:
    """Train the members as the outputs of one Keras model on a shared input."""
    packed = _pack(members, X.shape[1:])
    build_training_state(packed, y, n_outputs=len(members))
    validate = functools.partial(_score, members, training.batch_size)
    callbacks = [_MemberEpochs(PackedEpochs(members, progress, validate, validation))]
    with seeded(plans[0].seed):
        data = training.augmentation.training_data(
            X.take(rows, axis=0),
            [y[rows]] * len(members),
            [w[rows] for w in weights],
            batch_size=training.batch_size,
            seed=plans[0].seed,
            preprocessing=preprocessing,
        )
        checkpointing = None
        if checkpoints is not None:
            checkpointing = Checkpointing(checkpoints, progress, [])
        fit_model(packed, data, training, callbacks, plans[0].seed, checkpointing)
    release_training_state(packed)


def _container(members: list[keras.Model], input_shape: tuple) -> keras.Model:
    """The members as one model, for a checkpoint to save them in and load them from.

    Its optimizer (plain SGD: no slot variables) never steps; the members'
    own optimizers are checkpointed beside it.
    """
    container = _members_model(members, input_shape)
    container.compile(optimizer=keras.optimizers.SGD())
    return container


def _packed_preprocessing(X, sample_weight, plans, training):
    """The deterministic preprocessing of a packed fit, fitted on every member's rows at once.

    Without featurewise statistics (which packing refuses) it is the same
    for every member, so it is fitted once.
    """
    _, rows = _training_rows(X, sample_weight, plans)
    return training.augmentation.fit(X.take(rows, axis=0))


def _training_rows(X, sample_weight, plans) -> tuple[list[np.ndarray], np.ndarray]:
    """Each member's weight of every row, and the rows some member trains on."""
    weights = [_row_counts(plan.train_idx, len(X), sample_weight) for plan in plans]
    return weights, np.flatnonzero(np.sum(weights, axis=0))


def _row_counts(train_idx: np.ndarray, n_rows: int, sample_weight) -> np.ndarray:
    """How often a member trains on each row (bootstrap counts), times the row's weight."""
    counts = np.bincount(train_idx, minlength=n_rows).astype(np.float32)
    return counts if sample_weight is None else counts * sample_weight


def _members_model(members: list[keras.Model], input_shape: tuple) -> keras.Model:
    """One (uncompiled) model computing every member on a shared input, output k named member_k."""
    inputs = keras.Input(input_shape)
    outputs = [
        keras.layers.Identity(name=f"member_{k}")(member(inputs))
        for k, member in enumerate(members, start=1)
    ]
    return keras.Model(inputs, outputs)


def _pack(members: list[keras.Model], input_shape: tuple) -> keras.Model:
    """One model computing every member on a shared input, compiled like the members."""
    packed = _members_model(members, input_shape)
    metrics = compile_arguments(members[0]).get("metrics") or []  # the builder's
    packed.compile(
        optimizer=packed_optimizer(members[0].optimizer),
        loss=[member.loss for member in members],
        metrics=per_output(metrics, len(members)),
    )
    return packed


def packed_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """A fresh optimizer configured like ``optimizer``, to train the packed model.

    Under TensorFlow, Keras's Adam emits a dozen graph ops per variable;
    tracing them for every member's variables took 0.6 s for five digits
    CNNs, a quarter of their packed fit. Plain Adam is then applied by
    TensorFlow's fused kernel instead: the same update, equal up to float
    rounding.
    """
    config = optimizer.get_config()
    if (
        keras.backend.backend() == "tensorflow"
        and type(optimizer) is keras.optimizers.Adam
        and not optimizer.amsgrad
    ):
        return fused_adam(config)
    return type(optimizer).from_config(config)


def _validation_rows(X, y, sample_weight, plans, training, preprocessing) -> list:
    """Each member's validation data, prepared: the user's ``validation_data``, else its plan's."""

    def prepared(data):
        return validation_inputs(
            data, lambda x, rng: preprocessing.transform(x), training.batch_size
        )

    if training.validation_data is not None:
        # The same rows for every member: prepared once.
        return [prepared(training.validation_data)] * len(plans)
    rows = [validation_rows(X, y, sample_weight, plan, None) for plan in plans]
    return [None if data is None else prepared(data) for data in rows]


class PackedEpochs:
    """After every packed epoch, each training member's epoch goes into its record.

    A member's logs are its training metrics, named as in a one-by-one fit,
    and its validation metrics, from scoring it on its own validation rows
    (``validate(k, data)``). A member that stops no longer changes: it takes
    its held weights at once and gets them back after every later epoch
    (a multi-output fit still runs its outputs, but nothing it learns is
    kept). :meth:`end` says when every member has stopped.
    """

    def __init__(self, members, progress, validate, validation):
        self.members, self.progress = members, progress
        self.validate, self.validation = validate, validation

    def begin(self) -> None:
        self._last = time.perf_counter()
        # Members stopped before a resume hold their weights already.
        self._frozen = {
            k: member.get_weights()
            for k, (member, record) in enumerate(zip(self.members, self.progress))
            if record.stopped
        }

    def end(self, member_logs: Callable[[int], dict]) -> bool:
        """Record the epoch of every training member (``member_logs(k)``); return if all stopped."""
        training = [k for k, record in enumerate(self.progress) if not record.stopped]
        share = (time.perf_counter() - self._last) / len(training)  # of the packed epoch
        for k in training:
            member, record = self.members[k], self.progress[k]
            started = time.perf_counter()
            logs = {**member_logs(k), **self.validate(k, self.validation[k])}
            record.seconds += share + time.perf_counter() - started  # and its own validation
            if record.end_epoch(member, logs):
                record.restore(member)
                self._frozen[k] = member.get_weights()
        for k, weights in self._frozen.items():
            self.members[k].set_weights(weights)
        self._last = time.perf_counter()
        return all(record.stopped for record in self.progress)

    def finish(self) -> None:
        for member, record in zip(self.members, self.progress):
            record.restore(member)


class _MemberEpochs(keras.callbacks.Callback):
    """:class:`PackedEpochs` as a callback of the multi-output model's ``fit``."""

    def __init__(self, epochs: PackedEpochs):
        super().__init__()
        self.epochs = epochs

    def on_train_begin(self, logs=None):
        self.epochs.begin()

    def on_epoch_end(self, epoch, logs=None):
        n_members = len(self.epochs.members)
        if self.epochs.end(lambda k: _member_logs(logs or {}, k, n_members)):
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.epochs.finish()


def _score(members, batch_size, k: int, data) -> dict[str, float]:
    """Member ``k``'s validation scores on ``data`` (a multi-output fit's members)."""
    if data is None:
        return {}
    member = members[k]
    # (x, y[, weights]) in memory, or a dataset of batches read from files.
    x, y, *weights = data if isinstance(data, tuple) else (data, None)
    weights = weights[0] if weights else None
    if isinstance(data, tuple) and x.size <= ONE_BATCH_VALUES:
        # One compiled step: measured 25x quicker than evaluate() on TensorFlow
        # (its per-call set-up dominates), the same values up to float rounding.
        scores = score_one_batch(member, x, y, sample_weight=weights)
    else:
        scores = member.evaluate(
            x, y, sample_weight=weights, batch_size=batch_size, verbose=0, return_dict=True
        )
    return {f"val_{name}": float(value) for name, value in scores.items()}


def _member_logs(logs: dict, k: int, n_members: int) -> dict[str, float]:
    """Member ``k``'s training metrics, named as in a one-by-one fit (``loss``, ``accuracy``)."""
    # Keras prefixes metrics with the output's name only when there are several outputs.
    prefix = f"member_{k + 1}_" if n_members > 1 else ""
    return {
        name[len(prefix) :]: float(value)
        for name, value in logs.items()
        if name.startswith(prefix) and not name.startswith("val_")
    }
