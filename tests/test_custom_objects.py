"""Members built with custom Keras objects registered nowhere: pickle, joblib, copies, workers.

scikeras's ``test_custom_model_unregistered`` ported: a ``keras.Model``
subclass, a layer, a loss and an activation that no process can import (defined
inside the builder, or in a script's ``__main__``) travel with the members that
use them. Classes in an importable module are tested in ``test_persistence.py``.
"""

import copy
import json
import pickle
import runpy
import sys
import textwrap

import joblib
import keras
import numpy as np
import pytest
from sklearn.base import clone

from sk_kerasbag import BaggedKerasRegressor

from . import builders
from .marks import worker_processes
from .shared import shared_fixture


def local_objects_regressor(input_shape, n_outputs, subclassed=False):
    """A regressor whose custom layer, loss, activation and Model subclass are defined in here."""

    class Doubling(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    class HalvedSquaredError(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

    def capped_relu(x):
        return keras.ops.minimum(keras.ops.relu(x), 6.0)

    if subclassed:

        class TwoLayerNet(keras.Model):
            def __init__(self, n_outputs=1, **kwargs):
                super().__init__(**kwargs)
                self.n_outputs = n_outputs
                self.doubling = Doubling()
                self.hidden = keras.layers.Dense(8, activation=capped_relu)
                self.head = keras.layers.Dense(n_outputs)

            def call(self, x):
                return self.head(self.hidden(self.doubling(x)))

            def get_config(self):
                return {"n_outputs": self.n_outputs}

        model = TwoLayerNet(n_outputs)
        model(keras.ops.zeros((1, *input_shape)))
    else:

        class FunctionalNet(keras.Model):  # scikeras's CustomModelUnregistered
            pass

        inputs = keras.Input(input_shape)
        hidden = keras.layers.Dense(8, activation=capped_relu)(Doubling()(inputs))
        model = FunctionalNet(inputs, keras.layers.Dense(n_outputs)(hidden))
    model.compile(optimizer="adam", loss=HalvedSquaredError())
    return model


def forgetful_layer_regressor(input_shape, n_outputs):
    """A regressor whose custom layer leaves its constructor's argument out of get_config."""

    class Shift(keras.layers.Layer):
        def __init__(self, amount, **kwargs):
            super().__init__(**kwargs)
            self.amount = amount

        def call(self, x):
            return x + self.amount

        def get_config(self):
            return super().get_config()  # no "amount": Keras cannot rebuild it

    inputs = keras.Input(input_shape)
    model = keras.Model(inputs, keras.layers.Dense(n_outputs)(Shift(1.0)(inputs)))
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.fixture(scope="module")
def data():
    X, y = builders.three_class_rows(40)
    return X, y.astype(np.float32)


# strategy="sequential": members trained one by one, under JAX as under TensorFlow,
# as the worker processes train them.
PARAMS = dict(n_estimators=2, epochs=1, random_state=0, strategy="sequential")


# Two fixtures, not one: the test in worker processes runs on another pytest-xdist
# worker (tests/marks.py), which then fits only the one it reads.
@shared_fixture
def functional(data):
    """A fit whose members are a functional Model subclass."""
    return BaggedKerasRegressor(local_objects_regressor, **PARAMS).fit(*data)


@shared_fixture
def subclassed(data):
    """A fit whose members are a subclassed Model (layers made in its __init__)."""
    return BaggedKerasRegressor(local_objects_regressor, model__subclassed=True, **PARAMS).fit(
        *data
    )


@pytest.mark.parametrize("fit", ["functional", "subclassed"])
def test_members_with_local_custom_objects_survive_pickle_joblib_and_deepcopy(
    data, tmp_path, request, fit
):
    X, _ = data
    reg = request.getfixturevalue(fit)
    joblib.dump(reg, tmp_path / "reg.joblib")
    copies = {
        "pickle": pickle.loads(pickle.dumps(reg)),
        "joblib": joblib.load(tmp_path / "reg.joblib"),
        "deepcopy": copy.deepcopy(reg),
    }
    for route, copied in copies.items():
        np.testing.assert_array_equal(copied.predict(X), reg.predict(X), err_msg=route)
        for member, original in zip(copied.estimators_, reg.estimators_):
            # In the process that pickled them, the classes come back as themselves.
            assert type(member) is type(original), route
            assert type(member.loss) is type(original.loss), route


def test_a_clone_of_an_ensemble_with_local_custom_objects_fits_the_same_members(
    data, functional
):
    cloned = clone(functional)
    assert not hasattr(cloned, "estimators_")
    np.testing.assert_array_equal(cloned.fit(*data).predict(data[0]), functional.predict(data[0]))


@worker_processes
def test_members_with_local_custom_objects_train_in_worker_processes(data, functional):
    # The classes are made in the workers, by the builder: they come back by value.
    in_workers = BaggedKerasRegressor(local_objects_regressor, n_jobs=2, **PARAMS).fit(*data)
    X = data[0]
    np.testing.assert_allclose(in_workers.predict(X), functional.predict(X), rtol=1e-5)
    assert type(in_workers.estimators_[0]).__name__ == "FunctionalNet"


def test_members_keras_cannot_rebuild_are_refused_before_training_saying_what_to_do(data):
    reg = BaggedKerasRegressor(forgetful_layer_regressor, n_jobs=2, **PARAMS)
    message = "cannot be sent between processes.*Shift.*'amount'.*get_config.*n_jobs=1"
    with pytest.raises(TypeError, match=message):
        reg.fit(*data)
    assert not hasattr(reg, "estimators_")


# A user's training script: the builder and its custom objects live in its __main__.
_SCRIPT = textwrap.dedent(
    '''
    import copy
    import json
    import pickle
    import sys
    from pathlib import Path

    import cloudpickle
    import joblib
    import keras
    import numpy as np

    from sk_kerasbag import BaggedKerasRegressor


    class Scale(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}


    class ScaledSquaredError(keras.losses.Loss):
        def __init__(self, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return self.scale * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}


    def capped_relu(x):
        return keras.ops.minimum(keras.ops.relu(x), 6.0)


    class FunctionalNet(keras.Model):
        pass


    def build(input_shape, n_outputs):
        inputs = keras.Input(input_shape)
        hidden = keras.layers.Dense(8, activation=capped_relu)(Scale(0.5)(inputs))
        model = FunctionalNet(inputs, keras.layers.Dense(n_outputs)(hidden))
        model.compile(optimizer="adam", loss=ScaledSquaredError(2.0))
        return model


    if __name__ == "__main__":
        out = Path(sys.argv[1])
        X, y = np.load(out / "data.npy"), np.load(out / "target.npy")
        params = json.loads(sys.argv[2])
        in_workers = BaggedKerasRegressor(build, n_jobs=2, **params).fit(X, y)
        here = BaggedKerasRegressor(build, **params).fit(X, y)
        predictions = in_workers.predict(X)
        joblib.dump(in_workers, out / "reg.joblib")
        copies = {
            "pickle": pickle.loads(pickle.dumps(in_workers)),
            "joblib": joblib.load(out / "reg.joblib"),
            "deepcopy": copy.deepcopy(in_workers),
        }
        results = {
            "workers match one process": bool(
                np.allclose(predictions, here.predict(X), rtol=1e-5)
            ),
            "classes back from the workers": all(
                type(member) is FunctionalNet and type(member.loss) is ScaledSquaredError
                for member in in_workers.estimators_
            ),
        }
        for route, copied in copies.items():
            results[route] = bool(np.array_equal(copied.predict(X), predictions)) and all(
                type(member) is FunctionalNet and type(member.loss) is ScaledSquaredError
                for member in copied.estimators_
            )
        # For another process, whose __main__ is not this script: the builder too by value.
        (out / "reg.cloudpickle").write_bytes(cloudpickle.dumps(in_workers))
        np.save(out / "predictions.npy", predictions)
        print(json.dumps(results))
    '''
)


def _load_and_predict(pickled: bytes, X: np.ndarray) -> tuple[np.ndarray, str]:
    """In a worker process, whose __main__ is not the script: everything comes by value."""
    loaded = pickle.loads(pickled)
    return loaded.predict(X), type(loaded.estimators_[0].loss).__name__


@worker_processes
def test_a_scripts_main_custom_objects_train_in_workers_and_travel_to_another_process(
    data, tmp_path, monkeypatch, capsys
):
    # The script runs as __main__ (runpy puts it in sys.modules["__main__"] while it
    # runs, as `python train.py` would), in this process: its members train in the
    # shared pool of joblib's worker processes rather than in a pool of its own.
    X, y = data
    np.save(tmp_path / "data.npy", X)
    np.save(tmp_path / "target.npy", y)
    (tmp_path / "train.py").write_text(_SCRIPT)
    monkeypatch.setattr(sys, "argv", ["train.py", str(tmp_path), json.dumps(PARAMS)])
    runpy.run_path(str(tmp_path / "train.py"), run_name="__main__")
    assert sys.modules["__main__"].__name__ == "__main__" and not hasattr(
        sys.modules["__main__"], "ScaledSquaredError"
    )  # runpy put this process's __main__ back
    results = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert results == dict.fromkeys(results, True) and len(results) == 5, results
    pickled = (tmp_path / "reg.cloudpickle").read_bytes()
    [(predictions, loss)] = joblib.Parallel(n_jobs=2)(
        [joblib.delayed(_load_and_predict)(pickled, X)]
    )
    np.testing.assert_array_equal(predictions, np.load(tmp_path / "predictions.npy"))
    assert loss == "ScaledSquaredError"
