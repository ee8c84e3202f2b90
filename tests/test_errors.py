"""Bad input gets a clear error that names the problem, before training where possible."""

import keras
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sk_kerasbag import BaggedKerasClassifier, BaggedKerasRegressor, KFoldKerasClassifier

from .builders import dense_classifier, dense_regressor

FAST = dict(epochs=1, random_state=0)
X = np.random.RandomState(0).rand(40, 3).astype(np.float32)
y = np.arange(40) % 2


def uncompiled(input_shape, n_classes):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(n_classes)])


def without_optimizer(input_shape, n_classes):
    model = keras.Sequential([keras.Input(input_shape), keras.layers.Dense(n_classes)])
    model.compile(optimizer=None, loss="sparse_categorical_crossentropy")
    return model


def three_units(input_shape):
    return dense_classifier(input_shape, 3)


@pytest.mark.parametrize(
    "model, error, message",
    [
        ("not a function", ValueError, "must be a callable"),
        (dense_classifier((3,), 2), TypeError, "got Sequential"),
        (lambda: "a string", TypeError, "returned str"),
        (uncompiled, ValueError, "not compiled"),
        (without_optimizer, ValueError, "compiled without an optimizer"),
        (three_units, ValueError, "3 output units but y has 2 classes"),
    ],
)
def test_bad_builders(model, error, message):
    with pytest.raises(error, match=message):
        BaggedKerasClassifier(model, n_estimators=1, **FAST).fit(X, y)


def test_unknown_routed_param_is_named():
    with pytest.raises(ValueError, match="model__depth not accepted"):
        BaggedKerasClassifier(dense_classifier, model__depth=3, **FAST).fit(X, y)


def test_unknown_keyword_is_rejected():
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_trees'"):
        BaggedKerasClassifier(dense_classifier, n_trees=3)


def test_regressor_output_width_is_checked():
    with pytest.raises(ValueError, match="2 output units but y has 1 target"):
        BaggedKerasRegressor(lambda input_shape: dense_regressor(input_shape, 2), **FAST).fit(
            X, y * 1.0
        )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input(bad):
    X_bad = X.copy()
    X_bad[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        BaggedKerasClassifier(dense_classifier, **FAST).fit(X_bad, y)


def test_single_class_target():
    with pytest.raises(ValueError, match="only one class"):
        BaggedKerasClassifier(dense_classifier, **FAST).fit(X, np.ones(40))


def test_predict_with_other_shape():
    clf = BaggedKerasClassifier(dense_classifier, n_estimators=1, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features"):
        clf.predict(np.ones((2, 4)))
    images = KFoldKerasClassifier(dense_classifier, n_splits=2, **FAST).fit(X.reshape(40, 3, 1), y)
    with pytest.raises(ValueError, match=r"rows of shape \(3, 2\).*\(3, 1\)"):
        images.predict(np.ones((2, 3, 2)))


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        BaggedKerasClassifier(dense_classifier).predict(X)


@pytest.mark.parametrize(
    "params",
    [
        {"n_estimators": 0}, {"epochs": -1}, {"max_samples": 1.5}, {"validation_split": 1.0},
        {"class_weight": "equal"}, {"epochs": True}, {"n_estimators": True},
    ],  # fmt: skip
)
def test_parameters_out_of_range(params):
    with pytest.raises(InvalidParameterError, match=next(iter(params))):
        BaggedKerasClassifier(dense_classifier, **params).fit(X, y)


def test_kfold_needs_two_splits():
    with pytest.raises(InvalidParameterError, match="n_splits"):
        KFoldKerasClassifier(dense_classifier, n_splits=1).fit(X, y)


def test_validation_data_with_unknown_label():
    with pytest.raises(ValueError, match=r"labels not seen in y: \[7\]"):
        BaggedKerasClassifier(dense_classifier, **FAST).fit(X, y, validation_data=(X[:2], [0, 7]))


def test_sample_weight_leaving_one_class():
    with pytest.raises(ValueError, match="only one class with positive weight"):
        BaggedKerasClassifier(dense_classifier, **FAST).fit(X, y, sample_weight=y.astype(float))


def fixed_shape_classifier(n_classes):
    """A builder that ignores the data's input shape."""
    model = keras.Sequential(
        [keras.Input((7,)), keras.layers.Dense(n_classes, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


class _FailsInFirstEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise RuntimeError("out of memory, say")


def test_a_model_that_ignores_the_input_shape_fails_before_training_and_blocks_nothing(tmp_path):
    X = np.random.RandomState(0).rand(40, 5).astype(np.float32)
    y = np.arange(40) % 2
    run = tmp_path / "run"
    clf = BaggedKerasClassifier(fixed_shape_classifier, n_estimators=2, epochs=1, save_dir=run)
    with pytest.raises(ValueError, match=r"takes rows of shape \(7,\), but X has rows of shape"):
        clf.fit(X, y)
    assert not run.exists()
    # A fit that fails inside training before any member finished leaves no run to resume...
    failing = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, epochs=1, save_dir=run, callbacks=[_FailsInFirstEpoch()]
    )
    with pytest.raises(RuntimeError, match="out of memory"):
        failing.fit(X, y)
    assert [p.name for p in run.iterdir() if not p.name.startswith(".")] == []
    # ... so the next fit, without resume=True, simply starts.
    BaggedKerasClassifier(dense_classifier, n_estimators=2, epochs=1, save_dir=run).fit(X, y)
    assert (run / "member_02.json").is_file()
