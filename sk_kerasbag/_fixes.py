"""Every use of private Keras, scikit-learn and TensorFlow APIs, in one place.

What follows reaches into ``keras.src``, private or undocumented attributes
(a callback's state, a trainer's stateless steps, scikit-learn's metadata
requests) or private scikit-learn helpers and hooks; no other module does. Each
access fails loudly if a new version moves the private thing: an
ImportError at import for what the package cannot work without (the
scikit-learn helpers, safe mode), a RuntimeError naming the way around it
where one strategy needs it (packed training), else a warning naming the
feature lost while the public behaviour carries on. ``tests/test_fixes.py`` checks that
every one of them is where this module expects it.

It also holds the shims for public APIs that behave differently across the
supported Keras versions, so the rest of the package is written once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import random
import sys
import warnings
from typing import Any, Callable, Iterator

import numpy as np
# scikit-learn's own helpers, as its estimators use them: parameter
# validation, the fit context that runs it, the pieces of cross_val_predict
# that oof_predict reuses, and the two questions a metadata router asks
# (is routing on; were metadata passed that only routing can carry).
from sklearn.base import _fit_context as fit_context
from sklearn.ensemble import StackingClassifier
from sklearn.model_selection._validation import _check_is_permutation as check_is_permutation
from sklearn.model_selection._validation import (
    _enforce_prediction_order as enforce_prediction_order,
)
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.metadata_routing import UNUSED
from sklearn.utils.metadata_routing import _raise_for_params as raise_for_params
from sklearn.utils.metadata_routing import _routing_enabled as routing_enabled
from sklearn.utils.metaestimators import _safe_split as safe_split
from sklearn.utils.validation import _check_method_params as check_method_params
from sklearn.utils.validation import _check_sample_weight as check_sample_weight
from sklearn.utils.validation import _num_samples as num_samples

from ._keras import keras

__all__ = [
    "BoolsAreNotNumbers",
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "RealNotInt",
    "StrOptions",
    "callback_model",
    "callback_state",
    "check_is_permutation",
    "check_method_params",
    "check_sample_weight",
    "compile_arguments",
    "early_stopping_restored_epoch",
    "enforce_prediction_order",
    "fit_context",
    "fused_adam",
    "jax_steps",
    "keras_default_seeds_from",
    "metadata_requests",
    "metric_direction",
    "no_retracing_warning",
    "num_samples",
    "per_output",
    "raise_for_params",
    "reachable",
    "reject_bool_number",
    "routing_enabled",
    "safe_deserialization",
    "safe_split",
    "score_one_batch",
    "seed_states",
    "set_callback_state",
    "set_metadata_requests",
    "stacking_estimators",
    "stacking_features",
    "stacking_final_estimator",
    "stacking_method",
    "symbolic_build",
    "validate_parameter_constraints",
    "validate_params",
    "warn_at_caller",
]

_warned: set[str] = set()


def _lost(feature: str) -> None:
    """Warn, once per process, that this Keras version lost ``feature``."""
    if feature not in _warned:
        _warned.add(feature)
        warnings.warn(
            f"sk_kerasbag: {feature} is not available with Keras {keras.__version__} "
            "(a Keras internal it relies on has moved); results are still correct.",
            RuntimeWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def keras_default_seeds_from(generator: random.Random) -> Iterator[None]:
    """Make Keras draw its layers' default seeds from ``generator`` within the block.

    ``keras.src.random.seed_generator.make_default_seed`` draws from Python's
    global generator, which other threads draw from too.
    """
    try:
        from keras.src.random import seed_generator
    except ImportError:
        seed_generator = None
    if getattr(seed_generator, "python_random", None) is not random:
        _lost("seeding members in threads independently of other threads")
        yield
        return
    seed_generator.python_random = generator
    try:
        yield
    finally:
        seed_generator.python_random = random


def symbolic_build(model: keras.Model) -> Callable[..., None] | None:
    """Keras's ``_symbolic_build`` of ``model`` (creates optimizer and metric variables), if any."""
    build = getattr(model, "_symbolic_build", None)
    if build is None:
        _lost("building the optimizer before the first trace (one trace fewer per member)")
    return build


class _NoRetracingWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def no_retracing_warning() -> Iterator[None]:
    """Within the block, drop TensorFlow's "excessive retracing" warning (only that).

    Keras traces every model's train and test steps from the same closures,
    and TensorFlow counts traces per code object: to it, members fitted one
    after another (each traced once, for its own variables) look like one
    function retraced again and again, and members of a few batches each
    (six of 60 rows) got its warning, which blames the user's code, wrongly
    here. A filter on the "tensorflow" logger, for the block only: the
    functions themselves are private to Keras.
    """
    if keras.backend.backend() != "tensorflow":
        yield
        return
    tf_logger, quiet = logging.getLogger("tensorflow"), _NoRetracingWarning()
    tf_logger.addFilter(quiet)
    try:
        yield
    finally:
        tf_logger.removeFilter(quiet)


def compile_arguments(model: keras.Model) -> dict[str, Any]:
    """The arguments ``model`` was compiled with, as objects (loss and metric instances).

    ``get_compile_config()`` gives them serialized; packing needs the objects.
    """
    config = getattr(getattr(model, "_compile_config", None), "config", None)
    if not isinstance(config, dict):
        raise RuntimeError(
            f"Keras {keras.__version__} no longer records compile arguments where "
            "sk_kerasbag reads them; strategy='packed' cannot rebuild the members' "
            "compilation. Use strategy='sequential'."
        )
    return config


def metric_direction(metric: Any) -> str | None:
    """``"up"`` or ``"down"``, as a Keras metric declares which way is better; else None."""
    if not _metrics_declare_direction():
        _lost("reading which way a metric improves (metric names decide instead)")
    return getattr(metric, "_direction", None)


@functools.cache
def _metrics_declare_direction() -> bool:
    # Only some metrics declare one; Accuracy always has, so its lack means it moved.
    return hasattr(keras.metrics.Accuracy(), "_direction")


def callback_model(callback: keras.callbacks.Callback) -> Any:
    """The model a callback is attached to, without building one (``callback.model`` may)."""
    return getattr(callback, "_model", None)


def seed_states(model: keras.Model) -> list:
    """The state variables of ``model``'s random seed generators (dropout streams)."""
    states = [v for v in model.variables if v.name == "seed_generator_state"]
    generators = _seed_generators(model)
    if len(states) != generators:
        _lost("restoring dropout streams exactly on resume")
    return states


def _seed_generators(model: keras.Model) -> int:
    """How many ``keras.random.SeedGenerator`` objects the model's layers hold (public API)."""
    return sum(isinstance(item, keras.random.SeedGenerator) for item in reachable(model))


def reachable(model: keras.Model, through: tuple[type, ...] = ()) -> Iterator[Any]:
    """Every object the model's layers hold, nested layers' included, each once.

    Also every object held by an instance of a class in ``through`` (a loss,
    an optimizer, ...). Reads the objects' attributes (``vars``), where
    Keras keeps no public list of what a layer holds.
    """
    through = (keras.layers.Layer, *through)
    seen, stack = set(), [model]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, through):
            stack.extend(vars(item).values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


@contextlib.contextmanager
def safe_deserialization() -> Iterator[None]:
    """Keras's safe mode within the block, whatever ``enable_unsafe_deserialization`` set.

    Keras reads its process-wide switch before the ``safe_mode`` argument of
    ``load_model``, so after ``keras.config.enable_unsafe_deserialization()``
    anywhere in the process a "safe" load would run a Lambda layer's code.
    """
    from keras.src.saving.serialization_lib import SafeModeScope  # required: safety

    with SafeModeScope(True):
        yield


def score_one_batch(model: keras.Model, x, y, sample_weight=None) -> dict[str, Any]:
    """``model``'s compiled scores on this one batch alone, as ``test_on_batch`` gives them."""
    # Keras before 3.15 does not reset the metrics in test_on_batch: each call's
    # scores would be averaged with every earlier call's.
    model.reset_metrics()
    return model.test_on_batch(x, y, sample_weight=sample_weight, return_dict=True)


def per_output(metrics: list, n_outputs: int) -> list:
    """``compile(metrics=...)`` that gives each of ``n_outputs`` outputs ``metrics``."""
    # Keras before 3.14 refuses the nested form for a single output.
    return [metrics] * n_outputs if n_outputs > 1 else metrics


def fused_adam(config: dict) -> keras.optimizers.Optimizer:
    """Keras's Adam from ``config``, its update applied by TensorFlow's fused kernel.

    Reads Adam's private slot lists; without them, plain Adam (and a warning).
    """
    if not hasattr(keras.optimizers.Adam, "_get_variable_index"):
        _lost("the fused Adam update of packed training")
        return keras.optimizers.Adam.from_config(config)
    return _FusedAdam.from_config(config)


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


# -- scikit-learn's parameter validation ------------------------------------------


class BoolsAreNotNumbers:
    """Mixin: scikit-learn's parameter validation, refusing True and False for numbers.

    Overrides scikit-learn's private ``_validate_params``, which ``fit_context``
    calls before ``fit``: scikit-learn counts True as the integer 1, so
    ``epochs=True`` would train one epoch. Put it before ``BaseEstimator``.
    """

    def _validate_params(self) -> None:
        super()._validate_params()
        for name, constraints in self._parameter_constraints.items():
            reject_bool_number(name, getattr(self, name, None), constraints, type(self).__name__)


def reject_bool_number(name: str, value: Any, constraints: list, caller: str) -> None:
    """Raise InvalidParameterError for True or False given where ``constraints`` take no bool."""
    takes_bool = "boolean" in constraints or "verbose" in constraints
    if isinstance(value, (bool, np.bool_)) and not takes_bool:
        message = f"The {name!r} parameter of {caller} must be a number, not {value!r}."
        raise InvalidParameterError(message)


def validate_params(estimator) -> None:
    """Validate ``estimator``'s parameters as ``fit`` would, outside ``fit``."""
    estimator._validate_params()


# -- scikit-learn's metadata requests, as JSON -----------------------------------


def metadata_requests(estimator) -> dict[str, dict[str, Any]] | None:
    """The estimator's ``set_{method}_request`` choices as JSON; None when it made none.

    ``{method: {metadata: request}}`` for every method scikit-learn routes to,
    a request being True, False, None or an alias. ``set_fit_request`` keeps
    them in a private ``MetadataRequest`` object, which JSON cannot hold.
    """
    if "_metadata_request" not in vars(estimator):
        return None  # the class's defaults, as they will be where it is loaded
    request = estimator.get_metadata_routing()
    return {
        method: dict(value.requests)
        for method, value in vars(request).items()
        if hasattr(value, "add_request")  # a method's requests (not the owner)
    }


def set_metadata_requests(estimator, saved: Any) -> None:
    """Give an estimator (a loaded one) the requests :func:`metadata_requests` read."""
    if saved is None:
        return
    if not isinstance(saved, dict):
        raise ValueError("metadata_request is not a table of methods")
    # The class's defaults, changed as set_{method}_request would: the public
    # add_request checks each request as it does.
    request = estimator.get_metadata_routing()
    for method, requests in saved.items():
        method_request = getattr(request, method, None)
        if not (hasattr(method_request, "add_request") and isinstance(requests, dict)):
            raise ValueError(
                f"metadata_request[{method!r}] is not the requests of a method that "
                "scikit-learn routes metadata to"
            )
        for name in set(method_request.requests) - set(requests):
            method_request.add_request(param=name, alias=UNUSED)  # removed, as saved
        for name, alias in requests.items():
            method_request.add_request(param=name, alias=alias)
    estimator._metadata_request = request


# -- Keras callbacks and trainers ---------------------------------------------------


def early_stopping_restored_epoch(callback: Any) -> int | None:
    """The epoch (from 0) whose weights a Keras ``EarlyStopping`` restored at the end; else None.

    Reads its undocumented ``best_weights`` and ``best_epoch``.
    """
    if not (isinstance(callback, keras.callbacks.EarlyStopping) and callback.restore_best_weights):
        return None
    if not hasattr(callback, "best_weights"):
        _lost("reporting the epoch a user's EarlyStopping restored")
        return None
    return None if callback.best_weights is None else int(callback.best_epoch)


def callback_state(callbacks: list) -> tuple[dict, dict[str, np.ndarray]]:
    """The public state of each callback: numbers and strings, and lists of arrays.

    Keras gives callbacks no state API, so their attributes are read
    (``vars``). Attributes named like a constructor argument are
    configuration, which the resumed fit's own callbacks already have
    (Keras's ``EarlyStopping`` even flips the sign of ``min_delta`` once it
    knows its direction), so only the rest is state.
    """
    scalars, arrays = {}, {}
    for i, callback in enumerate(callbacks):
        state = {}
        configuration = set(inspect.signature(type(callback).__init__).parameters)
        for name, value in vars(callback).items():
            if name.startswith("_") or name in ("params", "validation_data", *configuration):
                continue
            if isinstance(value, np.generic):
                value = value.item()
            if value is None or isinstance(value, (bool, int, float, str)):
                state[name] = value
            elif isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
                state[name] = {"arrays": len(value)}
                arrays.update((f"callback{i}.{name}.{j}", v) for j, v in enumerate(value))
        scalars[str(i)] = state
    return scalars, arrays


def set_callback_state(callbacks: list, scalars: dict, arrays: dict[str, np.ndarray]) -> None:
    """Put back the state :func:`callback_state` read."""
    for i, callback in enumerate(callbacks):
        for name, value in scalars.get(str(i), {}).items():
            if isinstance(value, dict):
                value = [arrays[f"callback{i}.{name}.{j}"] for j in range(value["arrays"])]
            setattr(callback, name, value)


def jax_steps(model: keras.Model) -> tuple[Callable, Callable]:
    """The JAX trainer's stateless ``train_step(state, data)`` and ``test_step(state, data)``.

    Undocumented: they take the weights, optimizer and metric variables as
    ``state`` and return the new state, which is what lets members be mapped
    over (``jax.vmap``) in packed training.
    """
    first = next(iter(inspect.signature(model.train_step).parameters.values()), None)
    if first is None or not (first.name == "state" or first.kind is first.VAR_POSITIONAL):
        raise RuntimeError(
            f"Keras {keras.__version__}'s JAX train_step no longer takes (state, data); "
            "strategy='packed' cannot map members over it. Use strategy='sequential'."
        )
    return model.train_step, model.test_step


# -- scikit-learn's stackers: the pieces of their fit that OOFStacking* reuse -----
# OOFStackingClassifier and OOFStackingRegressor subclass scikit-learn's stackers
# and replace only how base models are fitted; these are the private steps of
# StackingClassifier.fit they share with it, so that both validate, name and
# concatenate exactly alike.


def stacking_estimators(stacker) -> tuple[list[str], list]:
    """The names and estimators of a stacker's ``estimators``, validated as it validates them."""
    return stacker._validate_estimators()


def stacking_final_estimator(stacker) -> None:
    """Set ``final_estimator_``: a clone of ``final_estimator``, or the stacker's default."""
    stacker._validate_final_estimator()


def stacking_method(name: str, estimator, method: str) -> str:
    """The method a stacker calls on ``estimator`` for ``stack_method=method``."""
    return StackingClassifier._method_name(name, estimator, method)


def stacking_features(stacker, X, predictions: list):
    """The final estimator's input: the base models' predictions (and ``X``, with passthrough)."""
    return stacker._concatenate_predictions(X, predictions)


# The frames warn_at_caller looks past: this package's, and scikit-learn's (its
# wrapper of fit sits between a user's call and ours).
_LIBRARY_FOLDERS = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep
    for path in (__file__, sys.modules["sklearn"].__file__)
)


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointed at the first frame outside sk_kerasbag and scikit-learn.

    Code that warns at different depths below the user's call (a function
    called directly, or by ``fit`` and ``predict``) cannot give one
    ``stacklevel``. Python 3.12's ``skip_file_prefixes`` does this; before
    it, the frames are walked with the private ``sys._getframe``.
    """
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, skip_file_prefixes=_LIBRARY_FOLDERS)
        return
    frame, level = sys._getframe(1), 2  # stacklevel 2: the caller of this function
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _LIBRARY_FOLDERS
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
