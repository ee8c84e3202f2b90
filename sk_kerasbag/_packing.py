"""Packed training: every member trained at once, as the outputs of one Keras model.

``strategy="packed"`` builds each member with the user's builder (each with
its own seed, hence its own initial weights), calls them all on one shared
input, and fits the resulting multi-output model once. A member's rows are
expressed as per-output sample weights: its bootstrap counts (or fold
membership) times the row's own weight, zero for rows it must not see. One
optimizer over all weights equals one optimizer per member, since Adam,
RMSprop and SGD update each weight from its own gradient only (a global
``clipnorm`` would couple them).

Each member then *is* one of the sub-models: nothing needs to be split back,
and prediction, ``save`` and held-out predictions work as after a sequential
fit. Members with validation rows are evaluated on their own rows after
every epoch and keep the weights of their best epoch.

Packing is refused (and the engine trains members one after another, with a
warning) when the members cannot share one training loop: user callbacks
(they would watch the packed model, not a member), ``save_dir`` (per-member
checkpoints) and augmentations whose preprocessing is fitted per member.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import keras
import numpy as np

from ._augmentation import ImageAugmentation, NoAugmentation
from ._batches import release, validation_inputs
from ._members import (
    MemberPlan,
    TrainedMember,
    build_member,
    build_training_state,
    release_training_state,
    seeded,
)


def packing_obstacle(*, callbacks, save_dir, augmentation) -> str | None:
    """Why members cannot be trained as one packed model, or None when they can."""
    if callbacks:
        return "callbacks would watch the packed model, not each member"
    if save_dir is not None:
        return "save_dir checkpoints each member on its own"
    if isinstance(augmentation, ImageAugmentation):
        settings = augmentation.settings
        if settings["featurewise_center"] or settings["featurewise_std_normalization"]:
            return "featurewise statistics are fitted on each member's own rows"
    elif not isinstance(augmentation, NoAugmentation):
        return "a generator-object augmentation is fitted per member"
    return None


def train_packed(
    builder: Callable[[], keras.Model],
    X: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    plans: list[MemberPlan],
    *,
    augmentation,
    validation_data: tuple | None,
    epochs: int,
    batch_size: int | None,
    verbose: int,
) -> list[TrainedMember]:
    """Train all members at once as one multi-output model; return them one by one.

    Parameters are those of :func:`~sk_kerasbag._members.train_member`, with
    every member's plan at once.
    """
    started = time.perf_counter()
    members = []
    for plan in plans:
        with seeded(plan.seed):
            members.append(build_member(builder, plan.seed))
    weights = [_row_counts(plan.train_idx, len(X), sample_weight) for plan in plans]
    rows = np.flatnonzero(np.sum(weights, axis=0))  # rows some member trains on
    X_train = X.take(rows, axis=0)
    # Deterministic preprocessing without featurewise statistics is the same
    # for every member, so it is fitted once.
    preprocessing = augmentation.fit(X_train)
    validation = _MemberValidation(
        members, X, y, sample_weight, plans, validation_data, preprocessing, batch_size
    )
    packed = _pack(members)
    build_training_state(packed, y, n_outputs=len(members))
    with seeded(plans[0].seed):
        training_data = augmentation.training_data(
            X_train,
            [y[rows]] * len(members),
            [w[rows] for w in weights],
            batch_size=batch_size,
            seed=plans[0].seed,
            preprocessing=preprocessing,
        )
        try:
            history = packed.fit(
                **training_data,
                epochs=epochs,
                callbacks=[validation] if validation.wanted else [],
                verbose=verbose,
            )
        finally:
            release(training_data["x"])
    validation.keep_best_weights()
    release_training_state(packed)
    seconds = (time.perf_counter() - started) / len(members)
    trained = []
    for k, member in enumerate(members):
        release_training_state(member)
        member_history = _member_history(history.history, k, len(members))
        member_history.update(validation.history[k])
        trained.append(TrainedMember(member, member_history, preprocessing, seconds))
    return trained


def _row_counts(train_idx: np.ndarray, n_rows: int, sample_weight) -> np.ndarray:
    """How often a member trains on each row (bootstrap counts), times the row's weight."""
    counts = np.bincount(train_idx, minlength=n_rows).astype(np.float32)
    return counts if sample_weight is None else counts * sample_weight


def _pack(members: list[keras.Model]) -> keras.Model:
    """One model computing every member on a shared input, compiled like the members."""
    inputs = keras.Input(members[0].inputs[0].shape[1:])
    outputs = [
        keras.layers.Identity(name=f"member_{k}")(member(inputs))
        for k, member in enumerate(members, start=1)
    ]
    packed = keras.Model(inputs, outputs)
    config = members[0]._compile_config.config  # what the builder compiled with
    packed.compile(
        optimizer=packed_optimizer(members[0].optimizer),
        loss=[member.loss for member in members],
        metrics=[config.get("metrics") or []] * len(members),
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
        return _FusedAdam.from_config(config)
    return type(optimizer).from_config(config)


class _FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, each variable updated by TensorFlow's ``ResourceApplyAdam`` kernel."""

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf  # only ever built under the TensorFlow backend

        index = self._get_variable_index(variable)
        dtype = variable.dtype
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(tf.convert_to_tensor(gradient), dtype),
        )


def _member_history(history: dict[str, list], k: int, n_members: int) -> dict[str, list[float]]:
    """Member ``k``'s training metrics, named as in a sequential fit (``loss``, ``accuracy``)."""
    # Keras prefixes metrics with the output's name only when there are several outputs.
    prefix = f"member_{k + 1}_" if n_members > 1 else ""
    return {
        name[len(prefix) :]: [float(v) for v in values]
        for name, values in history.items()
        if name.startswith(prefix)
    }


class _MemberValidation(keras.callbacks.Callback):
    """Evaluates each member on its own validation rows after every epoch; tracks its best epoch.

    A member's validation rows are the user's ``validation_data``, else its
    plan's (a share of its rows, or its held-out rows).
    """

    def __init__(self, members, X, y, sample_weight, plans, validation_data, preprocessing, bs):
        super().__init__()
        self.members, self.batch_size = members, bs

        def prepared(data):
            return validation_inputs(data, lambda x, rng: preprocessing.transform(x), bs)

        if validation_data is not None:
            # The same rows for every member: prepared once.
            self.data = [prepared(validation_data)] * len(members)
        else:
            self.data = []
            for plan in plans:
                data = None
                if plan.val_idx is not None:
                    weights = None if sample_weight is None else sample_weight[plan.val_idx]
                    data = prepared((X.take(plan.val_idx, axis=0), y[plan.val_idx], weights))
                self.data.append(data)
        self.wanted = any(data is not None for data in self.data)
        self.history = [{} for _ in members]
        self.best = [(np.inf, None) for _ in members]

    def on_epoch_end(self, epoch, logs=None):
        for k, (member, data) in enumerate(zip(self.members, self.data)):
            if data is None:
                continue
            # (x, y[, weights]) in memory, or a dataset of batches read from files.
            x, y, *weights = data if isinstance(data, tuple) else (data, None)
            scores = member.evaluate(
                x, y, sample_weight=weights[0] if weights else None, batch_size=self.batch_size,
                verbose=0,
                return_dict=True,
            )  # fmt: skip
            for name, value in scores.items():
                self.history[k].setdefault(f"val_{name}", []).append(float(value))
            if scores["loss"] < self.best[k][0]:
                self.best[k] = (scores["loss"], [np.array(w) for w in member.get_weights()])

    def keep_best_weights(self) -> None:
        """Give each validated member the weights of its best epoch."""
        for member, (_, weights) in zip(self.members, self.best):
            if weights is not None:
                member.set_weights(weights)
        for data in self.data:
            release(data)
