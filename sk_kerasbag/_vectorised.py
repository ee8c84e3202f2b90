"""Vectorised members: one traced step for the whole ensemble, mapped over a member axis.

Under JAX, Keras's train step is a pure function of a model's state
(``train_step(state, data)``: its weights, optimizer and metric variables).
The members of a packed fit share their architecture and compilation and
differ only in their values, so their states are stacked on a leading
member axis and one member step is mapped over it with ``jax.vmap`` and
compiled once. Tracing no longer grows with the member count, and each layer
runs as one batched kernel for all members instead of one per member: the
recipe of JAX's and PyTorch's (``torch.func.stack_module_state``) model
ensembling.

Each member keeps what a one-by-one fit gives it:

* its own initial weights and dropout stream (its seed's: the seed
  generators' states are stacked with the other variables);
* its own rows: every step gathers a batch of the member's own training
  rows (bootstrap repeats included), shuffled by ``(seed, epoch)``, with
  their sample weights. A member with no batch left in an epoch sits the step
  out, its state untouched; so does a member that has stopped;
* its own training logs (its metric variables), validation, best epoch and
  early stopping (:class:`~sk_kerasbag._callbacks.MemberProgress`, through
  :class:`~sk_kerasbag._packing.PackedEpochs`). After every epoch the stacked
  state is written back into the members, so checkpoints, resume,
  prediction and ``save`` see ordinary ``keras.Model`` members.

Every step has one batch shape, so it is compiled once: a member's last,
partial batch of an epoch is filled up with one of its own rows again, at
weight 0, its other rows' weights scaled so that the batch loss stays the
mean over its own rows, as in a one-by-one fit. (Unweighted training
metrics, such as the history's training accuracy, count the filling rows:
fewer than one batch per epoch. Validation scores are exact.)

Prediction shares one compiled forward pass among the members the same way
(``_inference.shared_forward``, which uses :func:`stack` and :func:`interleaves`).
"""

from __future__ import annotations

import math
import re
import time
from typing import Callable

import numpy as np

from ._batches import in_memory
from ._callbacks import Checkpointing, MemberProgress
from ._fixes import jax_steps, reachable, symbolic_build
from ._keras import keras
from ._random import packed_batch_order

# Validation rows of up to this many input values are scored as one batch
# (here and by _packing's other packed fits).
ONE_BATCH_VALUES = 2**22


def data_obstacle(X, augmentation) -> str | None:
    """Why this fit's data cannot be fed to vectorised members (None if it can); no model needed."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        # Measured with TensorFlow 2.21 and Keras 3.15: tf.vectorized_map has no
        # converter for Conv2D with a filter per member, nor for dropout's stateless
        # random ops with a seed per member, and Keras's TensorFlow optimizers refuse
        # stateless_apply. One traced step taken by each member in turn (its
        # variables copied in and out inside the graph) was no quicker than the
        # multi-output model (docs/user_guide/benchmarks.md), so that stays.
        return (
            "under TensorFlow, tf.vectorized_map cannot map convolutions or dropout over "
            "members' own weights and seeds, and Keras's optimizers have no stateless step"
        )
    if backend != "jax":
        return f"vectorised members need the JAX backend (this is {backend})"
    if not in_memory(X):
        return "rows read from image files come batch by batch from the host"
    if augmentation.has_random_transforms:
        return "random augmentations transform each batch on the host"
    return None


def model_obstacle(members: list[keras.Model]) -> str | None:
    """Why these built members cannot share one traced train step (None if they can)."""
    if members[0].run_eagerly:
        return "the model is compiled with run_eagerly=True"
    if not built_alike(members):
        return "the builder gives members of different architectures"
    configs = [_optimizer_config(member.optimizer) for member in members]
    if any(config != configs[0] for config in configs):
        return "the builder gives members differently configured optimizers"
    return None


def built_alike(models: list[keras.Model]) -> bool:
    """Whether the models are built alike (one builder's): one can run the others' weights."""

    def signature(model):
        variables = (*model.trainable_variables, *model.non_trainable_variables)
        layers = [type(layer) for layer in getattr(model, "layers", [])]
        return type(model), layers, [(tuple(v.shape), str(v.dtype)) for v in variables]

    first = signature(models[0])
    return all(signature(model) == first for model in models[1:])


def _optimizer_config(optimizer) -> dict:
    return {k: v for k, v in optimizer.get_config().items() if k != "name"}


def _state_variables(model: keras.Model) -> tuple[list, list, list]:
    """A member's stacked state, as Keras's JAX train step takes it (less metric variables)."""
    return model.trainable_variables, model.non_trainable_variables, model.optimizer.variables


def stack(models: list[keras.Model], groups: Callable = _state_variables) -> tuple:
    """The models' variables, each group's stacked on a new leading member axis."""
    import jax.numpy as jnp

    per_model = [groups(model) for model in models]
    # Stacked by NumPy: JAX would compile a stacking function for every shape.
    return tuple(
        [jnp.asarray(np.stack([np.asarray(v.value) for v in same])) for same in zip(*group)]
        for group in zip(*per_model)
    )


def unstack(state: tuple, models: list[keras.Model]) -> None:
    """Write each model's slice of a :func:`stack` back into its variables."""
    state = [[np.asarray(a) for a in group] for group in state]  # one copy off the device
    for k, model in enumerate(models):
        assign(model, [[values[k] for values in group] for group in state])


def assign(model: keras.Model, state) -> None:
    """Write one member's state (its :func:`_state_variables` groups' values) into it."""
    for variables, values in zip(_state_variables(model), state):
        for variable, value in zip(variables, values):
            variable.assign(value)


_CONVOLUTIONS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
)  # fmt: skip


def has_convolutions(model: keras.Model) -> bool:
    """Whether any layer of ``model`` (nested ones included) is a convolution."""
    return any(isinstance(item, _CONVOLUTIONS) for item in reachable(model))


def interleaves(model: keras.Model) -> bool:
    """Whether members like ``model`` step faster one by one through one compiled step.

    Measured on 2 CPU cores (digits CNN, batch 32): one ``vmap``-ed step of 5
    members took 14.6 ms against 5 x 1.7 ms stepped one by one, of 25
    members 139 ms against 25 x 1.9 ms: mapped over members, a convolution
    becomes a grouped one, which XLA's CPU backend runs without its fast
    kernels. A dense network's mapped step is the quicker (5 members of 64
    units: 0.30 ms against 5 x 0.09 ms; 25: 0.95 ms against 25 x 0.12 ms),
    and on a GPU launching one kernel for all members is what pays.
    """
    import jax

    return jax.default_backend() == "cpu" and has_convolutions(model)


class VectorisedMembers:
    """The compiled member step of one packed fit, and the members' state around it.

    The step is traced once, for the reference member, as a pure function of
    a member's state: ``jax.vmap`` maps it over the members' stacked states
    (``mode="vectorised"``), or, for convolutional models on the CPU (see
    :func:`interleaves`), every member takes it in turn, step by step, with
    its own state (``mode="interleaved"``). Either way tracing and
    compiling happen once, whatever the member count.

    Parameters
    ----------
    members : list of keras.Model
        Built and compiled alike; their optimizers built.
    X, y : ndarray
        All rows (prepared) and their encoded targets; a step gathers its rows.
    batch_size : int
        Rows per step and member.
    """

    def __init__(self, members: list[keras.Model], X: np.ndarray, y: np.ndarray, batch_size):
        import jax
        import jax.numpy as jnp

        self.members, self.batch_size = members, batch_size or 32
        self.reference = reference = members[0]
        train_step, test_step = jax_steps(reference)
        build = symbolic_build(reference)  # its metric variables, which its step updates
        target = keras.KerasTensor(
            (None, *y.shape[1:]), dtype=keras.backend.standardize_dtype(y.dtype)
        )
        build(data_batch=(keras.KerasTensor((None, *X.shape[1:]), dtype=X.dtype), target, None))
        reference.reset_metrics()
        self._fresh_metrics = [v.value for v in reference.metrics_variables]
        self.X, self.y = jnp.asarray(X), jnp.asarray(y)

        def member_step(state, X, y, rows, weights):
            batch = (jnp.take(X, rows, axis=0), jnp.take(y, rows, axis=0), weights)
            return train_step(state, batch)[1]

        def masked_step(state, X, y, rows, weights, active):
            # A member sitting the step out keeps its state exactly.
            new_state = member_step(state, X, y, rows, weights)
            return jax.tree_util.tree_map(
                lambda new, old: jnp.where(active, new, old), new_state, state
            )

        # One dispatch per step: measured, lax.scan over an epoch's steps ran 5x
        # slower on the CPU (XLA runs a loop body's kernels without its fast paths).
        mapped = jax.vmap(masked_step, in_axes=(0, None, None, 0, 0, 0))
        self._mapped = jax.jit(mapped, donate_argnums=0)
        self._single = jax.jit(member_step)  # its input state is the members' own
        self._test = jax.jit(test_step)
        self.mode = "interleaved" if interleaves(reference) else "vectorised"
        self.fallback: str | None = None  # why the mapping was not possible, if it was not

    def check(self, example_rows: np.ndarray) -> str | None:
        """Trace the step for one batch; return why it cannot be traced, or None.

        When only the mapping over members fails (an op with no batching
        rule, say), members step one by one instead, and ``fallback`` says why.
        """
        import jax

        k, width = len(self.members), self.batch_size
        rows = np.broadcast_to(np.resize(example_rows, width), (k, width)).astype(np.int32)
        weights = np.ones((k, width), np.float32)
        try:
            jax.eval_shape(self._single, self._states()[0], self.X, self.y, rows[0], weights[0])
        except Exception as error:  # whatever the trace meets: side effects, host values
            return f"tracing the train step as a pure function failed: {_message(error)}"
        if self.mode == "vectorised":
            try:
                jax.eval_shape(
                    self._mapped, self._stacked(), self.X, self.y, rows, weights, np.ones(k, bool)
                )
            except Exception as error:
                self.mode = "interleaved"
                self.fallback = f"mapping the train step over members failed: {_message(error)}"
        return None

    def _states(self) -> list[tuple]:
        """Each member's state, as Keras's JAX train step takes it (fresh metrics)."""
        return [
            (*([v.value for v in group] for group in _state_variables(m)), self._fresh_metrics)
            for m in self.members
        ]

    def _stacked(self) -> tuple:
        """Every member's state, stacked on a leading member axis (fresh metrics)."""
        import jax.numpy as jnp

        k = len(self.members)
        metrics = [
            jnp.asarray(np.broadcast_to(np.asarray(v), (k, *v.shape))) for v in self._fresh_metrics
        ]
        return (*stack(self.members), metrics)

    def epoch(self, plans, sample_weight, epoch: int, active: np.ndarray) -> list[dict]:
        """Train every ``active`` member for one epoch; return each member's training logs."""
        batches = member_batches(plans, sample_weight, self.batch_size, epoch)
        if self.mode == "vectorised":
            state = self._stacked()
            for rows, weights, stepping in batches:
                state = self._mapped(state, self.X, self.y, rows, weights, stepping & active)
            *variables, metrics = state
            unstack(tuple(variables), self.members)
            stacked = [np.asarray(values) for values in metrics]
            metrics = [[values[k] for values in stacked] for k in range(len(self.members))]
        else:
            states = self._states()
            for rows, weights, stepping in batches:
                for k in np.flatnonzero(stepping & active):
                    states[k] = self._single(states[k], self.X, self.y, rows[k], weights[k])
            for state, member in zip(states, self.members):
                assign(member, state[:3])
            metrics = [state[3] for state in states]
        return [self._logs(values) for values in metrics]

    def _logs(self, metric_values: list) -> dict[str, float]:
        """A member's training logs from its metric variables' values."""
        for variable, value in zip(self.reference.metrics_variables, metric_values):
            variable.assign(value)
        return {name: float(v) for name, v in self.reference.get_metrics_result().items()}

    def validate(self, k: int, data) -> dict[str, float]:
        """Member ``k``'s scores on its validation ``data``, ``(x, y[, weights])``."""
        if data is None:
            return {}
        x, y, *weights = data
        weights = weights[0] if weights else None
        member = self.members[k]
        state = (
            [v.value for v in member.trainable_variables],
            [v.value for v in member.non_trainable_variables],
            self._fresh_metrics,
        )
        # One batch when it fits (one compilation for all members), else
        # batches, with the metric variables carried over as evaluate() does.
        size = len(x) if x.size <= ONE_BATCH_VALUES else self.batch_size
        for start in range(0, len(x), size):
            part = slice(start, start + size)
            batch = (x[part], y[part], None if weights is None else weights[part])
            logs, state = self._test(state, batch)
        return {f"val_{name}": float(value) for name, value in logs.items()}


def member_batches(plans, sample_weight: np.ndarray | None, batch_size: int, epoch: int):
    """Each step's rows, weights and stepping members, as arrays with a leading member axis.

    Every step has ``batch_size`` rows per member: a member's last, partial
    batch is filled up with its first row again, at weight 0 (the other
    rows' weights scaled so that the batch loss is their mean), so the step
    is compiled for one shape only. A member's rows are shuffled by
    ``(seed, epoch)`` alone, so a resumed fit replays an epoch exactly,
    whatever came before it.
    """
    orders = [
        plan.train_idx[packed_batch_order(plan.seed, epoch, len(plan.train_idx))]
        for plan in plans
    ]
    n_steps = max(math.ceil(len(order) / batch_size) for order in orders)
    for step in range(n_steps):
        parts = [order[step * batch_size : (step + 1) * batch_size] for order in orders]
        width = batch_size
        rows = np.empty((len(parts), width), np.int32)
        batch_weights = np.zeros((len(parts), width), np.float32)
        stepping = np.array([len(part) > 0 for part in parts])
        for k, part in enumerate(parts):
            part = part if len(part) else orders[k][:1]  # sits out; any of its own rows
            rows[k, : len(part)], rows[k, len(part) :] = part, part[0]
            if stepping[k]:
                own = 1.0 if sample_weight is None else sample_weight[part]
                batch_weights[k, : len(part)] = own * (width / len(part))
        yield rows, batch_weights, stepping


def train_vectorised(
    vectorised: VectorisedMembers,
    plans,
    sample_weight: np.ndarray | None,
    epochs: int,
    packed_epochs,
    checkpointing: Checkpointing | None = None,
    verbose: int = 0,
) -> None:
    """Train the members for ``epochs`` (from a checkpointed epoch, if any).

    ``packed_epochs`` (a :class:`~sk_kerasbag._packing.PackedEpochs`) records
    each member's epoch; ``checkpointing`` saves the state after every epoch.
    """
    initial_epoch = 0
    if checkpointing is not None:
        initial_epoch = checkpointing.resume(checkpointing.model, epochs)
        checkpointing.on_train_begin()
    packed_epochs.begin()
    progress: list[MemberProgress] = packed_epochs.progress
    for epoch in range(initial_epoch, epochs):
        if all(record.stopped for record in progress):
            break
        started = time.perf_counter()
        active = np.array([not record.stopped for record in progress])
        logs = vectorised.epoch(plans, sample_weight, epoch, active)
        stopped = packed_epochs.end(lambda k: logs[k])
        if verbose:
            print(
                f"Epoch {epoch + 1}/{epochs}: {time.perf_counter() - started:.1f}s, "
                f"{int(active.sum())} members trained, mean loss "
                f"{np.mean([logs[k]['loss'] for k in np.flatnonzero(active)]):.4f}",
                flush=True,
            )
        if checkpointing is not None:
            checkpointing.model.stop_training = stopped
            checkpointing.on_epoch_end(epoch)
        if stopped:
            break
    packed_epochs.finish()


def _message(error: Exception) -> str:
    """The line of an error's message that says what went wrong (Keras wraps layer errors)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Exception encountered")]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
