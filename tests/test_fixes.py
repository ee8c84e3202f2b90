"""Every private Keras and scikit-learn API sk_kerasbag uses is where ``_fixes`` expects it.

A new Keras or scikit-learn version that moves one fails here by name,
rather than as a silent change of behaviour somewhere else.
"""

import importlib
import random

import keras
import numpy as np
import pytest

from sk_kerasbag import _fixes

SKLEARN_PRIVATES = {
    "fit_context": ("sklearn.base", "_fit_context"),
    "check_is_permutation": ("sklearn.model_selection._validation", "_check_is_permutation"),
    "enforce_prediction_order": (
        "sklearn.model_selection._validation", "_enforce_prediction_order"
    ),
    "safe_split": ("sklearn.utils.metaestimators", "_safe_split"),
    "check_method_params": ("sklearn.utils.validation", "_check_method_params"),
    "check_sample_weight": ("sklearn.utils.validation", "_check_sample_weight"),
    "num_samples": ("sklearn.utils.validation", "_num_samples"),
    "routing_enabled": ("sklearn.utils.metadata_routing", "_routing_enabled"),
    "raise_for_params": ("sklearn.utils.metadata_routing", "_raise_for_params"),
    "Interval": ("sklearn.utils._param_validation", "Interval"),
    "StrOptions": ("sklearn.utils._param_validation", "StrOptions"),
    "HasMethods": ("sklearn.utils._param_validation", "HasMethods"),
    "RealNotInt": ("sklearn.utils._param_validation", "RealNotInt"),
    "InvalidParameterError": ("sklearn.utils._param_validation", "InvalidParameterError"),
    "validate_parameter_constraints": (
        "sklearn.utils._param_validation", "validate_parameter_constraints"
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SKLEARN_PRIVATES))
def test_each_scikit_learn_private_is_where_it_is_read(name):
    module, attribute = SKLEARN_PRIVATES[name]
    assert getattr(_fixes, name) is getattr(importlib.import_module(module), attribute)


def _model():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dropout(0.5), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_keras_draws_default_seeds_where_they_are_redirected():
    from keras.src.random import seed_generator

    assert seed_generator.python_random is random
    private = random.Random(0)
    with _fixes.keras_default_seeds_from(private):
        assert seed_generator.python_random is private
    assert seed_generator.python_random is random


def test_keras_model_internals_are_where_they_are_read():
    model = _model()
    assert callable(_fixes.symbolic_build(model))
    config = _fixes.compile_arguments(model)
    assert config["loss"] == "sparse_categorical_crossentropy" and config["metrics"] == ["accuracy"]
    assert _fixes.metric_direction(keras.metrics.Accuracy()) == "up"
    assert len(_fixes.seed_states(model)) == 1  # the Dropout layer's generator
    callback = keras.callbacks.Callback()
    callback.set_model(model)
    assert _fixes.callback_model(callback) is model


def test_the_fused_adam_reads_slots_that_exist():
    optimizer = _fixes.fused_adam(keras.optimizers.Adam(0.01).get_config())
    variable = keras.Variable(np.ones(3, dtype="float32"))
    optimizer.build([variable])
    index = optimizer._get_variable_index(variable)
    assert optimizer._momentums[index].shape == optimizer._velocities[index].shape == (3,)


def test_keras_safe_mode_scope_exists():
    from keras.src.saving.serialization_lib import SafeModeScope, in_safe_mode

    with SafeModeScope(False), _fixes.safe_deserialization():
        assert in_safe_mode()


def test_a_moved_internal_is_a_warning_naming_the_feature_lost(monkeypatch):
    from keras.src.random import seed_generator

    model = _model()
    monkeypatch.setattr(seed_generator, "python_random", object())
    monkeypatch.setattr(_fixes, "_warned", set())
    with pytest.warns(RuntimeWarning, match="seeding members in threads.*has moved"):
        with _fixes.keras_default_seeds_from(random.Random(0)):
            pass
    owner = next(c for c in type(model).__mro__ if "_symbolic_build" in vars(c))
    monkeypatch.delattr(owner, "_symbolic_build")
    with pytest.warns(RuntimeWarning, match="building the optimizer before the first trace"):
        assert _fixes.symbolic_build(model) is None


# Public APIs that differ across the supported Keras versions: these fail at
# the lowest versions (CI's second job) if the shim stops working around them.


def test_one_batch_is_scored_alone_whatever_was_scored_before():
    model = _model()
    x, y = np.ones((4, 3), "float32"), np.array([0, 0, 1, 1])
    def score(x):
        return {name: float(value) for name, value in _fixes.score_one_batch(model, x, y).items()}

    first, alone = score(x * 5), score(x)
    again = score(x)  # not averaged with the batch before
    assert first["loss"] != pytest.approx(alone["loss"])
    assert again == pytest.approx(alone)
    assert set(alone) == {"loss", "accuracy"}


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_each_output_gets_the_metrics(n_outputs):
    inputs = keras.Input((3,))
    outputs = [keras.layers.Dense(2, activation="softmax")(inputs) for _ in range(n_outputs)]
    model = keras.Model(inputs, outputs if n_outputs > 1 else outputs[0])
    model.compile(
        optimizer="adam", loss=["sparse_categorical_crossentropy"] * n_outputs,
        metrics=_fixes.per_output(["accuracy"], n_outputs),
    )  # fmt: skip
    y = np.array([0, 1, 0, 1])
    logs = model.fit(np.ones((4, 3)), [y] * n_outputs if n_outputs > 1 else y, verbose=0)
    assert sum("accuracy" in name for name in logs.history) == n_outputs


def test_the_stacking_steps_oof_stacking_shares_are_where_they_are_called():
    from sklearn.ensemble import StackingClassifier, StackingRegressor

    for stacker in (StackingClassifier, StackingRegressor):
        for name in ("_validate_estimators", "_validate_final_estimator", "_method_name",
                     "_concatenate_predictions"):  # fmt: skip
            assert callable(getattr(stacker, name, None)), (stacker.__name__, name)
