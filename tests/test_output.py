"""Quiet by default: no backend start-up lines or retracing warnings; warnings only for problems."""

import gc
import logging
import os
import subprocess
import sys
import warnings
import weakref

import keras
import numpy as np
import pytest
from sklearn.model_selection import ShuffleSplit

import sk_kerasbag
from sk_kerasbag import BaggedKerasClassifier, KFoldKerasClassifier, _inference
from sk_kerasbag._backend import START_UP_LINE, _start_up_lines_left_out

from .builders import dense_classifier
from .marks import backend_independent

# Lines TensorFlow 2.21 writes while it loads and at its first device query.
START_UP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796191523.977620    1809 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796191523.978431    1809 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796191535.609123    1818 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    # TensorFlow 2.16's format
    "2026-12-02 10:04:08.730705: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] "
    "TF-TRT Warning: Could not find TensorRT",
    "2026-12-02 10:04:08.730705: E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:9261] "
    "Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN",
]
NOT_START_UP = [
    "E0000 00:00:1796191535.609123    1818 op_kernel.cc:1] INVALID_ARGUMENT: a real error",
    "2026-12-02 10:04:08.730705: E tensorflow/core/op_kernel.cc:1] a real error",
    "Traceback (most recent call last):",
    "UserWarning: something the user should see",
]


@backend_independent  # text
@pytest.mark.parametrize("line", START_UP)
def test_start_up_lines_are_recognised(line):
    assert START_UP_LINE.match(line)


@backend_independent  # text
@pytest.mark.parametrize("line", NOT_START_UP)
def test_other_lines_are_not(line):
    assert not START_UP_LINE.match(line)


@backend_independent  # text written to a file descriptor
def test_only_start_up_lines_are_left_out_and_the_rest_is_written_back_in_order(capfd):
    with _start_up_lines_left_out():
        for line in (START_UP[1], NOT_START_UP[0], START_UP[4], NOT_START_UP[1]):
            os.write(2, (line + "\n").encode())
        print("from Python", file=sys.stderr)
    lines = capfd.readouterr().err.splitlines()
    assert [line for line in lines if line != "from Python"] == NOT_START_UP[:2]
    assert "from Python" in lines


FIRST_USES = {
    "a public name": "from sk_kerasbag import BaggedKerasClassifier",
    # What a joblib or Dask worker does first: import the module of a member's code.
    "an inner module": "import sk_kerasbag._members",
}
# Then a first fit, whose batches TensorFlow serves from its first generator dataset.
FIRST_FIT = """
import keras, numpy as np
from sk_kerasbag import BaggedKerasClassifier
def build(input_shape, n_classes):
    model = keras.Sequential([keras.Input(input_shape), keras.layers.Dense(n_classes)])
    model.compile(loss="hinge")
    return model
BaggedKerasClassifier(build, n_estimators=1, epochs=1).fit(np.eye(4), [0, 1, 0, 1])
"""


@pytest.mark.parametrize("first_use", list(FIRST_USES))
def test_importing_the_package_loads_no_backend_and_its_first_uses_print_nothing(first_use):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = (
        "import sys\n"
        "import sk_kerasbag\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))\n"
        f"{FIRST_USES[first_use]}\n"
        "print('keras' in sys.modules)\n"
        f"{FIRST_FIT}"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "True"]
    assert done.stderr == ""


def test_a_user_who_imported_keras_first_sees_no_tensorflow_lines_from_the_package():
    # Under JAX, `import keras` loads no TensorFlow, but the package does
    # (Keras's set_random_seed needs it): its start-up lines must be left out.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = (
        "import os, sys\n"
        "import keras\n"
        "os.write(2, b'--- the user imported keras ---\\n')\n"
        "from sk_kerasbag import BaggedKerasClassifier\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True"]
    assert done.stderr.endswith("--- the user imported keras ---\n"), done.stderr


def test_public_names_resolve_and_are_listed():
    for name in sk_kerasbag.__all__:
        assert getattr(sk_kerasbag, name) is not None
    assert set(sk_kerasbag.__all__) <= set(dir(sk_kerasbag))
    assert sk_kerasbag.BaggedKerasClassifier.__module__ == "sk_kerasbag.bagging"
    with pytest.raises(AttributeError, match="no attribute 'BaggedClassifier'"):
        sk_kerasbag.BaggedClassifier
    # The public modules too, as attributes, without importing them first.
    assert sk_kerasbag.persistence.load is sk_kerasbag.load
    assert callable(sk_kerasbag.models.basic_cnn)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(80, 4).astype(np.float32)
    return X, (X[:, 0] > 0.5).astype(int)


def test_many_members_train_and_predict_without_retracing_rows_batched_in_any_way(
    data, capfd, caplog
):
    X, y = data
    # Two batches per member: seven members' traces of Keras's one train-step closure
    # came within TensorFlow's window of ten calls, and it warned of retracing.
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=7, epochs=1, batch_size=64, random_state=0
    )
    clf.fit(X, y)
    assert "retracing" not in capfd.readouterr().err + caplog.text
    caplog.clear()
    # Several sizes, padded to powers of two: each shape compiled once, without a warning.
    for rows in (3, 5, 80, 1, 60):
        clf.predict_proba(X[:rows])
    # TensorFlow's warning goes to its logger (caplog, under pytest) or to stderr.
    assert "retracing" not in capfd.readouterr().err + caplog.text
    if keras.backend.backend() == "tensorflow":
        # One graph of every member, traced once for every row count.
        ((_, every),) = _inference._CACHE[clf.estimators_[0]].shared._every.values()
        assert every.experimental_get_tracing_count() == 1

    whole = clf.predict_proba(X)
    # A row's output does not depend on the other rows of its call, bit for bit, in
    # a batch of one shape (80 and 70 rows are padded to 128)...
    np.testing.assert_array_equal(clf.predict_proba(X[::-1]), whole[::-1])
    np.testing.assert_array_equal(clf.predict_proba(X[5:75]), whole[5:75])
    # ... and in batches of other shapes only as far as float32 rounds.
    one_by_one = np.concatenate([clf.predict_proba(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(one_by_one, whole, rtol=1e-5, atol=1e-7)
    # The members ran through the forward pass they share, kept by the library's
    # cache: nothing was written on the user's models...
    assert _inference._CACHE[clf.estimators_[0]].shared is not None
    for model in clf.estimators_:
        assert not [name for name in vars(model) if "sk_kerasbag" in name]
    # ... and the cache lets them go with the ensemble: it holds them weakly.
    members = [weakref.ref(model) for model in clf.estimators_]
    del clf, model
    gc.collect()
    assert [member() for member in members] == [None] * len(members)


def test_a_call_of_few_rows_runs_a_batch_of_few_rows(data):
    from sk_kerasbag._inference import predict_members

    X, _ = data
    shapes = []

    def forward(x, per_model=False):
        shapes.append((x.shape, per_model))
        return np.zeros((2, *x.shape[per_model:-1], 3))

    # Each batch padded to the next power of two, not to the whole batch size.
    for rows in (X[:1], X[:3]):
        predict_members([None, None], [rows, rows], 256, forward)  # rows shared
    predict_members([None, None], [X[:70], X[:5]], 64, forward)
    assert shapes == [
        ((1, 4), False),
        ((4, 4), False),
        ((2, 64, 4), True),
        ((2, 8, 4), True),  # the rest of the longer rows: 6 of 70
    ]


def test_a_few_rows_left_out_of_every_bootstrap_sample_are_no_warning(data, caplog):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.INFO, logger="sk_kerasbag"):
            clf = BaggedKerasClassifier(
                dense_classifier, n_estimators=3, epochs=1, oob_score=True, random_state=0
            ).fit(X, y)
    uncovered = np.isnan(clf.oob_decision_function_).any(axis=1).mean()
    # Each bootstrap sample holds about 63% of the rows: 0.63 ** 3, about a quarter, are in all.
    assert 0 < uncovered < 1 / 3
    assert [r.levelname for r in caplog.records if "never held out" in r.getMessage()] == ["INFO"]
    assert np.isfinite(clf.oob_score_)


def test_an_out_of_bag_score_on_a_minority_of_the_rows_warns(data):
    X, y = data
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=1, epochs=1, oob_score=True, random_state=0
    )
    with pytest.warns(UserWarning, match="never held out") as caught:
        clf.fit(X, y)
    uncovered = np.isnan(clf.oob_decision_function_).any(axis=1)
    assert uncovered.mean() > 1 / 3  # one bootstrap sample holds about 63% of the rows
    (warning,) = [w for w in caught if "never held out" in str(w.message)]
    message = str(warning.message)
    assert warning.filename == __file__  # it points at the user's fit, not the library
    assert message.startswith(f"{uncovered.sum()} of {len(X)} rows")
    assert f"rests on the other {(~uncovered).sum()} rows only" in message
    assert np.isfinite(clf.oob_score_)


def test_bagging_that_holds_no_row_out_warns(data):
    X, y = data
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=1, bootstrap=False, max_samples=1.0, oob_score=True,
        epochs=1, random_state=0,
    )  # fmt: skip
    with pytest.warns(UserWarning, match="80 of 80 rows were never held out.*No member held"):
        clf.fit(X, y)
    assert np.isnan(clf.oob_score_)


def test_a_splitter_that_leaves_rows_out_of_every_held_out_fold_warns(data):
    X, y = data
    clf = KFoldKerasClassifier(
        dense_classifier, cv=ShuffleSplit(n_splits=2, test_size=0.2, random_state=0), epochs=1
    )
    with pytest.warns(UserWarning, match=r"rows were never held out.*does not hold every row"):
        clf.fit(X, y)
    assert np.isnan(clf.oof_proba_).any()
