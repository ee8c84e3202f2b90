"""Every private Keras and scikit-learn API sk_kerasbag uses is where ``_fixes`` expects it.

A new Keras or scikit-learn version that moves one fails here by name,
rather than as a silent change of behaviour somewhere else.
"""

import json
import random
from numbers import Integral, Real

import keras
import numpy as np
import pytest
import scipy.sparse
import sklearn
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from sk_kerasbag import _fixes

# What sk_kerasbag relies on each scikit-learn private ``_fixes`` re-exports to
# do, checked by behaviour: each case fails if its helper moved, was swapped for
# another function or changed what it does.


def _fit_context():
    class Estimator(BaseEstimator):  # as the estimators use it: fit validates the parameters
        _parameter_constraints = {"alpha": [_fixes.Interval(Real, 0, None, closed="left")]}

        def __init__(self, alpha=1.0):
            self.alpha = alpha

        @_fixes.fit_context(prefer_skip_nested_validation=True)
        def fit(self, X=None):
            self.skipped_nested_ = sklearn.get_config()["skip_parameter_validation"]
            return self

    with pytest.raises(_fixes.InvalidParameterError, match="'alpha' parameter of Estimator"):
        Estimator(alpha=-1.0).fit()
    assert Estimator(alpha=2.0).fit().skipped_nested_ is True  # nested estimators not re-checked
    assert sklearn.get_config()["skip_parameter_validation"] is False  # only within fit

    # The override of the private _validate_params that fit_context calls: True is no number.
    class Strict(_fixes.BoolsAreNotNumbers, Estimator):
        pass

    assert Estimator(alpha=True).fit()  # scikit-learn's own check takes True for 1
    with pytest.raises(_fixes.InvalidParameterError, match="must be a number, not True"):
        Strict(alpha=True).fit()
    with pytest.raises(_fixes.InvalidParameterError, match="must be a number, not False"):
        _fixes.validate_params(Strict(alpha=False))  # outside fit, as load and --check do


def _check_is_permutation():
    assert _fixes.check_is_permutation(np.array([2, 0, 3, 1]), 4)
    assert not _fixes.check_is_permutation(np.array([2, 0, 2, 1]), 4)  # a row twice, one never
    assert not _fixes.check_is_permutation(np.array([2, 0, 1]), 4)  # a row never


def _enforce_prediction_order():
    # A fold that saw classes 0 and 2 of 3: class 1's column is added, as cross_val_predict.
    proba = np.array([[0.25, 0.75], [0.5, 0.5]])
    with pytest.warns(RuntimeWarning, match="Number of classes in training fold"):
        full = _fixes.enforce_prediction_order(np.array([0, 2]), proba, 3, "predict_proba")
    np.testing.assert_array_equal(full, [[0.25, 0.0, 0.75], [0.5, 0.0, 0.5]])
    scores = np.array([[1.0, 2.0, 3.0]])
    with pytest.warns(RuntimeWarning):
        full = _fixes.enforce_prediction_order(np.array([0, 1, 3]), scores, 4, "decision_function")
    np.testing.assert_array_equal(full, [[1.0, 2.0, np.finfo(scores.dtype).min, 3.0]])
    every = _fixes.enforce_prediction_order(np.array([0, 1]), proba, 2, "predict_proba")
    np.testing.assert_array_equal(every, proba)  # nothing missing: unchanged


def _safe_split():
    X, y = np.arange(12).reshape(6, 2), np.arange(6) * 10
    X_part, y_part = _fixes.safe_split(LogisticRegression(), X, y, np.array([4, 1]))
    np.testing.assert_array_equal(X_part, X[[4, 1]])
    np.testing.assert_array_equal(y_part, [40, 10])
    X_part, y_part = _fixes.safe_split(LogisticRegression(), X, y, np.array([0]), np.array([4, 1]))
    np.testing.assert_array_equal(X_part, X[[0]])  # train indices matter to kernels only
    np.testing.assert_array_equal(y_part, [0])
    kernel = X @ X.T
    K_part, _ = _fixes.safe_split(SVC(kernel="precomputed"), kernel, y, [0, 2], [4, 1])
    np.testing.assert_array_equal(K_part, kernel[np.ix_([0, 2], [4, 1])])


def _check_method_params():
    X = np.zeros((4, 2))
    params = {"sample_weight": np.arange(4.0), "groups": [10, 11, 12, 13], "scale": 3}
    fold = _fixes.check_method_params(X, params=params, indices=np.array([3, 1]))
    assert set(fold) == set(params)
    np.testing.assert_array_equal(fold["sample_weight"], [3.0, 1.0])
    assert list(fold["groups"]) == [13, 11]
    assert fold["scale"] == 3  # not per row: passed as it is


def _check_sample_weight():
    X = np.zeros((4, 2))
    ones = _fixes.check_sample_weight(None, X, dtype=np.float32, ensure_non_negative=True)
    assert ones.dtype == np.float32 and ones.tolist() == [1.0] * 4
    given = _fixes.check_sample_weight([1, 0, 2, 3], X, dtype=np.float32, ensure_non_negative=True)
    assert given.dtype == np.float32 and given.tolist() == [1.0, 0.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="[Nn]egative"):
        _fixes.check_sample_weight([1, -1, 2, 3], X, dtype=np.float32, ensure_non_negative=True)
    with pytest.raises(ValueError):
        _fixes.check_sample_weight([1, 2, 3], X, dtype=np.float32)  # one per row


def _num_samples():
    assert _fixes.num_samples(np.zeros((5, 3))) == 5
    assert _fixes.num_samples([[1, 2], [3, 4], [5, 6], [7, 8]]) == 4
    assert _fixes.num_samples(["a.png", "b.png", "c.png"]) == 3  # image paths
    assert _fixes.num_samples(scipy.sparse.csr_matrix(np.ones((6, 2)))) == 6
    with pytest.raises(TypeError):
        _fixes.num_samples(np.float64(1.0))


def _routing_enabled():
    with sklearn.config_context(enable_metadata_routing=True):
        assert _fixes.routing_enabled() is True
    with sklearn.config_context(enable_metadata_routing=False):
        assert _fixes.routing_enabled() is False


def _raise_for_params():
    owner = LogisticRegression()
    with sklearn.config_context(enable_metadata_routing=False):
        with pytest.raises(ValueError, match=r"LogisticRegression\.fit.*enable_metadata_routing"):
            _fixes.raise_for_params({"groups": [1, 2]}, owner, "fit")
        _fixes.raise_for_params({}, owner, "fit")  # nothing passed: nothing to refuse
    with sklearn.config_context(enable_metadata_routing=True):
        _fixes.raise_for_params({"groups": [1, 2]}, owner, "fit")  # routing carries them


def _refused(constraints, value):
    """Whether validate_parameter_constraints refuses ``value`` for ``constraints``."""
    try:
        _fixes.validate_parameter_constraints({"p": constraints}, {"p": value}, caller_name="E")
    except _fixes.InvalidParameterError:
        return True
    return False


def _interval():
    fraction = _fixes.Interval(Real, 0, 1, closed="right")
    assert [fraction.is_satisfied_by(v) for v in (0.0, 0.5, 1.0, 1.5)] == [False, True, True, False]
    count = [_fixes.Interval(Integral, 1, None, closed="left")]
    assert [_refused(count, v) for v in (1, 10**6, 0, 2.5)] == [False, False, True, True]


def _str_options():
    options = _fixes.StrOptions({"sequential", "packed"})
    assert options.is_satisfied_by("packed") and not options.is_satisfied_by("Packed")
    class_weight = [dict, _fixes.StrOptions({"balanced"}), None]
    assert [_refused(class_weight, v) for v in ("balanced", {0: 1.0}, None, "balance", 1)] == [
        False, False, False, True, True,
    ]  # fmt: skip


def _has_methods():
    class Flows:
        def flow(self):
            pass

    augmentation = [dict, _fixes.HasMethods(["flow"]), None]
    assert _fixes.HasMethods(["flow"]).is_satisfied_by(Flows())
    assert [_refused(augmentation, v) for v in (Flows(), {}, None, object(), "flow")] == [
        False, False, False, True, True,
    ]  # fmt: skip


def _real_not_int():
    # How max_samples tells a fraction (0.5, 1.0) from a count of rows (1, 60).
    assert isinstance(0.5, _fixes.RealNotInt) and isinstance(np.float64(1.0), _fixes.RealNotInt)
    assert not isinstance(1, _fixes.RealNotInt) and not isinstance(np.int64(1), _fixes.RealNotInt)
    fraction = [_fixes.Interval(_fixes.RealNotInt, 0, 1, closed="right")]
    assert [_refused(fraction, v) for v in (1.0, 0.25, 1, 2.0)] == [False, False, True, True]


def _invalid_parameter_error():
    # sk_kerasbag raises it itself, and the experiment runner catches it from validation.
    assert issubclass(_fixes.InvalidParameterError, ValueError)
    assert issubclass(_fixes.InvalidParameterError, TypeError)  # as scikit-learn's own raise it
    with pytest.raises(_fixes.InvalidParameterError):
        _fixes.validate_parameter_constraints(
            {"tta": [_fixes.Interval(Integral, 0, None, closed="left")]}, {"tta": -1}, "E"
        )


def _validate_parameter_constraints():
    constraints = {"tta": [_fixes.Interval(Integral, 0, None, closed="left")]}
    assert _fixes.validate_parameter_constraints(constraints, {"tta": 2}, caller_name="E") is None
    with pytest.raises(
        _fixes.InvalidParameterError, match=r"The 'tta' parameter of BaggedKerasClassifier must be"
    ):
        _fixes.validate_parameter_constraints(
            constraints, {"tta": -1}, caller_name="BaggedKerasClassifier"
        )
    with pytest.raises(_fixes.InvalidParameterError, match="'tta'.*Got 'two' instead"):
        _fixes.validate_parameter_constraints(constraints, {"tta": "two"}, caller_name="E")


SKLEARN_PRIVATES = {
    "fit_context": _fit_context,
    "check_is_permutation": _check_is_permutation,
    "enforce_prediction_order": _enforce_prediction_order,
    "safe_split": _safe_split,
    "check_method_params": _check_method_params,
    "check_sample_weight": _check_sample_weight,
    "num_samples": _num_samples,
    "routing_enabled": _routing_enabled,
    "raise_for_params": _raise_for_params,
    "Interval": _interval,
    "StrOptions": _str_options,
    "HasMethods": _has_methods,
    "RealNotInt": _real_not_int,
    "InvalidParameterError": _invalid_parameter_error,
    "validate_parameter_constraints": _validate_parameter_constraints,
}


@pytest.mark.parametrize("name", list(SKLEARN_PRIVATES))
def test_each_scikit_learn_private_does_what_sk_kerasbag_relies_on(name):
    assert name in _fixes.__all__
    SKLEARN_PRIVATES[name]()


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


def test_early_stopping_state_is_where_it_is_read_and_restored():
    X = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.arange(16) % 2
    callback = keras.callbacks.EarlyStopping(monitor="loss", patience=9, restore_best_weights=True)
    history = _model().fit(X, y, epochs=4, batch_size=8, verbose=0, callbacks=[callback])
    # The epoch its best_weights and best_epoch say it restored: the lowest loss's.
    assert _fixes.early_stopping_restored_epoch(callback) == int(np.argmin(history.history["loss"]))
    assert _fixes.early_stopping_restored_epoch(keras.callbacks.Callback()) is None

    # Its state, read from its attributes, round-trips into a fresh one; configuration does not.
    scalars, arrays = _fixes.callback_state([callback])
    assert {"wait", "best", "best_epoch", "best_weights"} <= set(scalars["0"])
    assert "patience" not in scalars["0"] and "min_delta" not in scalars["0"]
    fresh = keras.callbacks.EarlyStopping(monitor="loss", patience=9, restore_best_weights=True)
    _fixes.set_callback_state([fresh], scalars, arrays)
    assert (fresh.wait, fresh.best, fresh.best_epoch) == (
        callback.wait,
        callback.best,
        callback.best_epoch,
    )
    for restored, kept in zip(fresh.best_weights, callback.best_weights):
        np.testing.assert_array_equal(restored, kept)


def test_the_jax_trainer_steps_take_the_state_packed_training_maps_over():
    import inspect

    from keras.src.backend.jax.trainer import JAXTrainer

    for step in (JAXTrainer.train_step, JAXTrainer.test_step):
        assert list(inspect.signature(step).parameters) == ["self", "state", "data"]
    if keras.backend.backend() != "jax":  # a trainer whose steps take the data alone
        with pytest.raises(RuntimeError, match="no longer takes \\(state, data\\)"):
            _fixes.jax_steps(_model())
    else:
        model = _model()
        assert _fixes.jax_steps(model) == (model.train_step, model.test_step)


def test_metadata_requests_are_read_and_set_through_the_object_scikit_learn_keeps():
    with sklearn.config_context(enable_metadata_routing=True):
        chosen = LogisticRegression().set_fit_request(sample_weight="weights")
        assert _fixes.metadata_requests(LogisticRegression()) is None  # the class's defaults
        saved = _fixes.metadata_requests(chosen)
        assert saved["fit"] == {"sample_weight": "weights"}
        fresh = LogisticRegression()
        _fixes.set_metadata_requests(fresh, json.loads(json.dumps(saved)))
        assert fresh.get_metadata_routing().fit.requests == {"sample_weight": "weights"}
        assert _fixes.metadata_requests(fresh) == saved


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


def test_the_stacking_steps_name_validate_and_clone_as_scikit_learn_stackers_do():
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.tree import DecisionTreeClassifier

    lr, tree = LogisticRegression(C=0.5), DecisionTreeClassifier(max_depth=2)
    stacker = StackingClassifier([("lr", lr), ("off", "drop"), ("tree", tree)])
    names, estimators = _fixes.stacking_estimators(stacker)
    assert list(names) == ["lr", "off", "tree"]
    assert len(estimators) == 3
    assert estimators[0] is lr and estimators[1] == "drop" and estimators[2] is tree
    for refused in ([("a", lr), ("a", tree)], [("a", "drop")], []):  # twice a name; no model
        with pytest.raises(ValueError):
            _fixes.stacking_estimators(StackingClassifier(refused))

    _fixes.stacking_final_estimator(stacker)  # the default: a fresh LogisticRegression
    assert type(stacker.final_estimator_) is LogisticRegression
    assert stacker.final_estimator_.get_params() == LogisticRegression().get_params()
    given = DecisionTreeClassifier(max_depth=3)
    stacker = StackingClassifier([("lr", lr)], final_estimator=given)
    _fixes.stacking_final_estimator(stacker)
    assert type(stacker.final_estimator_) is DecisionTreeClassifier
    assert stacker.final_estimator_ is not given  # a clone, the given one stays unfitted
    assert stacker.final_estimator_.get_params() == given.get_params()
    regressor = StackingRegressor([("ridge", Ridge())])
    _fixes.stacking_final_estimator(regressor)
    assert type(regressor.final_estimator_) is RidgeCV
    assert regressor.final_estimator_.get_params() == RidgeCV().get_params()
    given = Ridge(alpha=3.0)
    regressor = StackingRegressor([("ridge", Ridge())], final_estimator=given)
    _fixes.stacking_final_estimator(regressor)
    assert regressor.final_estimator_ is not given
    assert regressor.final_estimator_.get_params() == given.get_params()
    with pytest.raises(ValueError, match="should be a regressor"):
        _fixes.stacking_final_estimator(StackingRegressor([("r", Ridge())], final_estimator=lr))


def test_the_stacking_method_is_the_first_a_model_has_as_scikit_learn_picks_it():
    from sklearn.linear_model import Ridge
    from sklearn.svm import LinearSVC

    lr, svc, ridge = LogisticRegression(), LinearSVC(), Ridge()
    assert _fixes.stacking_method("lr", lr, "auto") == "predict_proba"
    assert _fixes.stacking_method("svc", svc, "auto") == "decision_function"
    assert _fixes.stacking_method("ridge", ridge, "auto") == "predict"
    assert _fixes.stacking_method("lr", lr, "decision_function") == "decision_function"
    assert _fixes.stacking_method("lr", lr, "predict") == "predict"
    with pytest.raises(ValueError, match="svc does not implement the method predict_proba"):
        _fixes.stacking_method("svc", svc, "predict_proba")


def test_the_stacking_features_are_the_predictions_side_by_side_then_x():
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.linear_model import Ridge

    X = np.array([[7.0, 8.0], [9.0, 10.0]])
    proba = np.array([[0.9, 0.1], [0.2, 0.8]])
    scores = np.array([-1.5, 2.0])  # a binary decision_function: one column
    stacker = StackingClassifier([("lr", LogisticRegression()), ("svc", SVC())])
    # What StackingClassifier.fit has set when it concatenates.
    stacker.stack_method_ = ["predict_proba", "decision_function"]
    stacker.classes_ = np.array([0, 1])
    features = _fixes.stacking_features(stacker, X, [proba, scores])
    # Binary probabilities: the first column (1 - the second) is dropped.
    np.testing.assert_array_equal(features, [[0.1, -1.5], [0.8, 2.0]])
    three = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    stacker.classes_ = np.array([0, 1, 2])
    features = _fixes.stacking_features(stacker, X, [three, scores])
    np.testing.assert_array_equal(features, np.column_stack([three, scores]))
    # A multilabel model's list of per-label probabilities: each label's first column dropped.
    stacker.stack_method_ = ["predict_proba"]
    features = _fixes.stacking_features(stacker, X, [[proba, proba[::-1]]])
    np.testing.assert_array_equal(features, [[0.1, 0.8], [0.8, 0.1]])
    stacker.passthrough = True
    stacker.stack_method_ = ["predict_proba", "decision_function"]
    features = _fixes.stacking_features(stacker, X, [three, scores])
    np.testing.assert_array_equal(features, np.column_stack([three, scores, X]))

    regressor = StackingRegressor([("a", Ridge()), ("b", Ridge())])
    regressor.stack_method_ = ["predict", "predict"]
    two_outputs = np.array([[1.0, 2.0], [3.0, 4.0]])
    features = _fixes.stacking_features(regressor, X, [np.array([5.0, 6.0]), two_outputs])
    np.testing.assert_array_equal(features, [[5.0, 1.0, 2.0], [6.0, 3.0, 4.0]])
