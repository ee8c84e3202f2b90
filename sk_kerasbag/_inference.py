"""Running fitted members forward, and the one cache of their compiled forward passes.

Every prediction of fitted members, held-out ones included, runs through
:func:`predict_members`: one member at a time (:func:`predict_rows`) or all
through one compiled pass (:func:`shared_forward`). Compiling a forward pass
costs a trace (TensorFlow) or an XLA compilation (JAX), far more than running
it on a few rows, so each is made once per model and kept for later
predictions in this module's cache, :data:`_CACHE`: keyed weakly by the
model, nothing is written on the user's models, and a model's functions go
when the model does. They hold it only weakly (a callable holding its model
would keep its own key alive, and every model predicted with alive too).
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any, Callable

import numpy as np

from ._keras import keras
from ._vectorised import built_alike, interleaves, stack


class _Functions:
    """What :data:`_CACHE` keeps for one model: its compiled forward passes, made on first use."""

    def __init__(self):
        self.traced = None  # TensorFlow: this model's own inference function
        self.shared = None  # _ForwardFunctions for models built like this one


# model -> _Functions. A WeakKeyDictionary: an entry goes with its model.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _functions(model: keras.Model) -> _Functions:
    functions = _CACHE.get(model)
    if functions is None:
        functions = _CACHE[model] = _Functions()
    return functions


def padded_rows(n_rows: int, batch_size: int) -> int:
    """The rows of the batch that runs ``n_rows`` rows: the next power of two, up to ``batch_size``.

    A compiled forward pass is made for one batch shape: each new shape costs
    a trace (TensorFlow) or a compilation (JAX). Padding every batch to
    ``batch_size`` made one shape do, but a call of one row paid for a whole
    batch (8 ms against 1 for 5 digits CNNs). Powers of two bound the shapes
    at ``log2(batch_size) + 2`` and the padding at under half a batch.
    """
    return min(batch_size, 1 << max(n_rows - 1, 0).bit_length())


def predict_rows(model: keras.Model, X: np.ndarray, batch_size: int) -> np.ndarray:
    """Run ``model`` on ``X`` in inference mode, batch by batch.

    Full batches have ``batch_size`` rows; the last one is padded with zero
    rows to :func:`padded_rows`. A row's output depends on its values and on
    the padded size of its batch only, never on the other rows' values, bit
    for bit: in inference mode no layer mixes rows, but a matrix product of
    another shape may round differently (the math libraries pick their
    kernels by shape), so a row predicted alone and the same row among a
    thousand can differ in the last bits of float32. The function is built
    on the first call and reused after, without the data pipeline that
    ``model.predict`` sets up on every call.

    Parameters
    ----------
    model : keras.Model
        A fitted member.
    X : ndarray
        Input rows.
    batch_size : int
        Rows per forward pass, at most.

    Returns
    -------
    ndarray of shape (n_samples, n_units), float64
    """
    forward = _inference(model, X)
    outputs = []
    for start in range(0, len(X), batch_size):
        batch = X[start : start + batch_size]
        padded = _padded(batch, padded_rows(len(batch), batch_size))
        outputs.append(np.asarray(forward(padded))[: len(batch)])
    return np.concatenate(outputs).astype(np.float64, copy=False)


def predict_members(
    models: list[keras.Model],
    inputs: list[np.ndarray],
    batch_size: int,
    forward: Callable[..., np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Each model run on its own inputs in inference mode (see :func:`predict_rows`).

    With ``forward`` (:func:`shared_forward`) all models run
    through one compiled pass, on batches padded as :func:`predict_rows`
    pads them: one shared batch when every model has the same inputs, else
    one batch per model.
    """
    if forward is None:
        return [predict_rows(model, x, batch_size) for model, x in zip(models, inputs)]
    shared = all(x is inputs[0] for x in inputs)
    outputs = [[] for _ in models]
    for start in range(0, max(len(x) for x in inputs), batch_size):
        parts = [x[start : start + batch_size] for x in inputs]
        rows = padded_rows(max(len(p) for p in parts), batch_size)
        if shared:
            results = forward(_padded(parts[0], rows))
        else:
            results = forward(np.stack([_padded(p, rows) for p in parts]), per_model=True)
        for output, part, result in zip(outputs, parts, results):
            output.append(result[: len(part)])
    return [np.concatenate(output).astype(np.float64, copy=False) for output in outputs]


def _padded(batch: np.ndarray, rows: int) -> np.ndarray:
    """``batch`` with zero rows added up to ``rows`` (see :func:`padded_rows`)."""
    if len(batch) == rows:  # full batches go as they are, without a copy
        return batch
    padding = np.zeros((rows - len(batch), *batch.shape[1:]), dtype=batch.dtype)
    return np.concatenate([batch, padding])


class _TracedInference:
    """A member's forward pass in inference mode, as a TensorFlow function of its own.

    It holds the model weakly (see the module docstring).

    Keras's ``predict_on_batch`` traces a closure whose code is the same for
    every model, and TensorFlow counts traces per code object: predicting
    with five members, each traced once for its own variables, reads to it
    as one function retraced five times, and it warns of excessive
    retracing. A callable object is counted as itself, so each member's
    trace counts for that member only.
    """

    def __init__(self, model: keras.Model):
        self.model = weakref.ref(model)

    def __call__(self, x):
        return self.model()(x, training=False)


def _inference(model: keras.Model, X: np.ndarray) -> Callable[[np.ndarray], Any]:
    """``model``'s compiled forward pass in inference mode, for batches of rows like ``X``'s."""
    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch  # compiled by Keras, once per batch shape
    functions = _functions(model)
    if functions.traced is None:
        import tensorflow as tf

        # Traced once for batches of any number of rows (padded_rows gives
        # several): TensorFlow picks its kernels per shape as it runs the graph.
        rows = tf.TensorSpec((None, *X.shape[1:]), X.dtype)
        functions.traced = tf.function(_TracedInference(model), input_signature=[rows])
    return functions.traced


def shared_forward(models: list[keras.Model]) -> Callable[..., list[np.ndarray]] | None:
    """One compiled forward pass (inference mode) that runs every model, or None.

    The returned function maps a batch ``x`` shared by all models (or, with
    ``per_model=True``, one batch per model stacked on a leading axis) to
    the models' outputs. The pass is traced and compiled once for models
    built alike, whatever their number: mapped over their stacked weights
    (``jax.vmap``), or, under TensorFlow and where mapping is the slower
    (:func:`interleaves`), run for each model's weights in turn. Under
    TensorFlow a shared batch goes through one graph of all the models
    instead (:class:`_EveryForward`, traced once per ensemble), for one call
    where there would be one per model. The weights are read when the
    function is made, so make it anew after they change. None when the
    models cannot share one pass (another backend, different architectures).
    """
    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow") or len(models) < 2:
        return None
    functions = _shared_functions(models[0])
    if not functions.runs(models):
        return None
    groups = lambda m: (m.trainable_variables, m.non_trainable_variables)  # noqa: E731
    if backend == "tensorflow" or interleaves(models[0]):
        weights = []  # read on first use: a shared batch under TensorFlow needs none

        def run(x, per_model: bool = False) -> list[np.ndarray]:
            if backend == "tensorflow" and not per_model:
                return list(np.asarray(functions.every(models, x)(x)))
            if not weights:
                # Each model's own variables go in, so the weights are never copied.
                weights.extend([[v.value for v in group] for group in groups(m)] for m in models)
            single = functions.single(weights[0], x[0] if per_model else x)
            parts = x if per_model else [x] * len(models)
            outputs = [single(*w, part) for w, part in zip(weights, parts)]
            return [np.asarray(output) for output in outputs]  # all dispatched, then read

        return run
    stacked = stack(models, groups)

    def run(x, per_model: bool = False) -> list[np.ndarray]:
        return list(np.asarray(functions.mapped[1 if per_model else 0](*stacked, x)))

    return run


class _ForwardFunctions:
    """The compiled forward passes of models built like ``reference``, cached for it.

    ``mapped`` (JAX): over stacked weights, for a shared batch and for a
    batch per model; ``single``: one model's weights, passed in; ``every``
    (TensorFlow): given models on one shared batch, in one graph. Each is
    compiled on first use, and kept in :data:`_CACHE` for ``reference``.
    Under TensorFlow each is traced once for batches of any number of rows
    (:func:`padded_rows` gives several): TensorFlow picks its kernels
    per shape when it runs the graph.
    """

    def __init__(self, reference: keras.Model):
        self.forward = _StatelessForward(reference)
        self._single = None
        self._every: dict = {}
        self._alike: dict = {}
        if keras.backend.backend() == "jax":
            import jax

            self.mapped = tuple(
                jax.jit(jax.vmap(self.forward, in_axes=(0, 0, axis))) for axis in (None, 0)
            )
            self._single = jax.jit(self.forward)

    def runs(self, models: list[keras.Model]) -> bool:
        """Whether these models can run through these functions (built alike; remembered)."""
        alike = _remembered(self._alike, models)
        if alike is None:
            alike = built_alike(models)
            self._alike[_identities(models)] = _held(models), alike
        return alike

    def single(self, weights: list, x: np.ndarray) -> Callable:
        """The forward pass of one model of ``weights``' form on batches like ``x``."""
        if self._single is None:
            import tensorflow as tf

            specs = tf.nest.map_structure(lambda v: tf.TensorSpec(v.shape, v.dtype), weights)
            self._single = tf.function(self.forward, input_signature=[*specs, _rows_spec(x)])
        return self._single

    def every(self, models: list[keras.Model], x: np.ndarray) -> Callable:
        """The TensorFlow function running all ``models`` on batches like ``x``."""
        every = _remembered(self._every, models)
        if every is None:
            import tensorflow as tf

            every = tf.function(_EveryForward(models), input_signature=[_rows_spec(x)])
            self._every[_identities(models)] = _held(models), every
        return every


def _identities(models: list[keras.Model]) -> tuple[int, ...]:
    return tuple(map(id, models))


def _held(models: list[keras.Model]) -> tuple:
    return tuple(weakref.ref(model) for model in models)


def _remembered(memory: dict, models: list[keras.Model]) -> Any:
    """What ``memory`` holds for this very set of models, or None.

    Keyed by the models' ids and kept with weak references to them: an id
    can be reused once its model is gone, and the references tell.
    """
    held, value = memory.get(_identities(models), ((), None))
    same = len(held) == len(models) and all(ref() is m for ref, m in zip(held, models))
    return value if same else None


def _rows_spec(x: np.ndarray):
    """A TensorFlow input signature for batches like ``x`` of any number of rows."""
    import tensorflow as tf

    return tf.TensorSpec((None, *x.shape[1:]), x.dtype)


def _shared_functions(reference: keras.Model) -> _ForwardFunctions:
    functions = _functions(reference)
    if functions.shared is None:
        functions.shared = _ForwardFunctions(reference)
    return functions.shared


class _EveryForward:
    """Models' forward passes on one shared batch, as one TensorFlow graph.

    One call for all the models: a TensorFlow function call with a model's
    weights passed in costs about 0.9 ms, whatever the batch (5 digits CNNs
    on one row: 4.5 ms called model by model, 1.4 ms as one graph that reads
    their variables itself), and TensorFlow runs the models' independent ops
    side by side on the cores (10,000 rows in batches of 1,024: 0.22 s
    against 0.33 s). Traced once per ensemble, on its first prediction. A
    callable object, not a closure: see :class:`_StatelessForward`. It holds
    the models weakly (see the module docstring).
    """

    def __init__(self, models: list[keras.Model]):
        self.models = _held(models)

    def __call__(self, x):
        import tensorflow as tf

        return tf.stack([model()(x, training=False) for model in self.models])


class _StatelessForward:
    """``reference``'s forward pass in inference mode, as a pure function of its weights.

    A callable object, not a closure: TensorFlow counts traces per code object,
    and would take one closure traced once per ensemble for one function
    retraced, and warn. It holds ``reference`` weakly (see the module docstring).
    """

    def __init__(self, reference: keras.Model):
        self.reference = weakref.ref(reference)
        # stateless_call hands its keywords to call(), which may take no `training`
        # (Keras's __call__, which predict uses, checks the signature first).
        parameters = inspect.signature(reference.call).parameters
        takes_training = "training" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        )
        self.keywords = {"training": False} if takes_training else {}

    def __call__(self, trainable, non_trainable, x):
        outputs, _ = self.reference().stateless_call(
            trainable, non_trainable, x, **self.keywords
        )
        return outputs
