"""Training strategies: packed members, parallel worker processes and a Dask cluster."""

import logging
import os
import random
import threading
import time
from pathlib import Path

import distributed
import joblib
import keras
import numpy as np
import pytest

from sk_kerasbag import BaggedKerasClassifier, KFoldKerasClassifier, KFoldKerasRegressor, load
from sk_kerasbag._packing import packed_optimizer

from .builders import (
    dense_classifier,
    dense_regressor,
    dropout_classifier,
    host_roundtrip_classifier,
    pid_logging_classifier,
    three_class_rows,
)
from .marks import backend_independent
from .shared import shared_fixture

ON_JAX = keras.backend.backend() == "jax"
# How packed members train here: vectorised under JAX, as one multi-output model otherwise.
PACKED = "vectorised" if ON_JAX else "multi-output"


@pytest.fixture(scope="module")
def data():
    return three_class_rows(240)


PAIR = dict(n_estimators=2, epochs=2, random_state=0)


@shared_fixture
def sequential_pair(data):
    """Members trained one by one: the reference of the tests that train them otherwise."""
    X, y = data
    return BaggedKerasClassifier(dense_classifier, **PAIR).fit(X, y)


# Four members, packed (vectorised under JAX, one multi-output model otherwise) and
# one by one.
FOUR = dict(n_estimators=4, epochs=8, oob_score=True, random_state=0)


@shared_fixture
def packed_and_sequential(data):
    X, y = data
    sequential = BaggedKerasClassifier(dense_classifier, **FOUR).fit(X[:180], y[:180])
    packed = BaggedKerasClassifier(dense_classifier, strategy="packed", **FOUR)
    return packed.fit(X[:180], y[:180]), sequential


def test_packed_and_sequential_give_equivalent_ensembles(data, packed_and_sequential, tmp_path):
    X, y = data
    X_test, y_test = X[180:], y[180:]
    packed, sequential = packed_and_sequential

    assert (packed.fit_strategy_, sequential.fit_strategy_) == (PACKED, "sequential")
    assert len(packed.estimators_) == len(sequential.estimators_) == 4
    assert all(isinstance(m, keras.Model) for m in packed.estimators_)
    assert [sorted(h) for h in packed.histories_] == [sorted(h) for h in sequential.histories_]
    assert [len(h["loss"]) for h in packed.histories_] == [8] * 4
    assert packed.predict_proba(X_test).shape == sequential.predict_proba(X_test).shape
    assert packed.member_predictions(X_test).shape == (4, len(X_test), 3)
    assert packed.oob_decision_function_.shape == sequential.oob_decision_function_.shape
    assert abs(packed.score(X_test, y_test) - sequential.score(X_test, y_test)) <= 0.15
    assert packed.score(X_test, y_test) > 0.6  # the majority class is ~0.4
    # Members are independent models: each differs from the others.
    outputs = packed.member_predictions(X_test)
    assert not np.allclose(outputs[0], outputs[1])
    # Everything after fit is the sequential API.
    packed.save(tmp_path / "packed")
    loaded = load(tmp_path / "packed", custom_objects={"dense_classifier": dense_classifier})
    np.testing.assert_array_equal(loaded.predict_proba(X_test), packed.predict_proba(X_test))


# Packed members validated on the user's validation data.
VALIDATED = dict(n_estimators=3, epochs=3, strategy="packed", random_state=7)


def _fit_validated(data):
    X, y = data
    return BaggedKerasClassifier(dense_classifier, **VALIDATED).fit(
        X[:200], y[:200], validation_data=(X[200:], y[200:])
    )


@shared_fixture
def packed_validated(data):
    return _fit_validated(data)


def test_packed_members_validate_on_user_validation_data(data, packed_validated):
    X, y = data
    for member, history in zip(packed_validated.estimators_, packed_validated.histories_):
        assert len(history["val_loss"]) == 3
        loss = member.evaluate(X[200:], y[200:], verbose=0, return_dict=True)["loss"]
        np.testing.assert_allclose(loss, min(history["val_loss"]), rtol=1e-4)


def test_packed_is_deterministic(data, packed_validated):
    X, _ = data
    again = _fit_validated(data)  # the same parameters, fitted again
    np.testing.assert_array_equal(again.predict_proba(X), packed_validated.predict_proba(X))


def test_one_packed_member_is_fitted_and_reported_like_a_sequential_one(data, sequential_pair):
    X, y = data
    packed = BaggedKerasClassifier(
        dense_classifier, strategy="packed", **{**PAIR, "n_estimators": 1}
    ).fit(X, y)
    # The reference: a member of the same parameters, trained one by one.
    reference = sequential_pair.estimators_[0]
    reference_score = np.mean(np.argmax(reference.predict(X, verbose=0), axis=1) == y)
    assert sorted(packed.histories_[0]) == sorted(sequential_pair.histories_[0])
    assert sorted(packed.histories_[0]) == ["accuracy", "loss"]
    assert len(packed.histories_[0]["loss"]) == 2
    assert abs(packed.score(X, y) - reference_score) <= 0.15


def test_packed_adam_updates_weights_as_keras_adam_does(data):
    # Under TensorFlow, packed members' plain Adam runs as TensorFlow's fused
    # kernel, which is far quicker to trace; it must compute Keras's update.
    X, y = data
    on_tensorflow = keras.backend.backend() == "tensorflow"
    adam = keras.optimizers.Adam(0.01, beta_2=0.99, clipnorm=1.0)
    fused = packed_optimizer(adam)
    assert (type(fused).__name__ == "_FusedAdam") == on_tensorflow
    assert fused.get_config() == adam.get_config()
    amsgrad = keras.optimizers.Adam(amsgrad=True)
    assert type(packed_optimizer(amsgrad)) is keras.optimizers.Adam
    assert type(packed_optimizer(keras.optimizers.SGD())) is keras.optimizers.SGD

    weights = []
    for optimizer in (adam, fused):
        keras.utils.set_random_seed(0)
        model = dense_classifier(X.shape[1:], 3)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        model.fit(X, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for keras_adam, packed_adam in zip(*weights):
        np.testing.assert_allclose(packed_adam, keras_adam, rtol=1e-5, atol=1e-6)


def test_packed_members_learn_only_from_their_own_rows(data):
    X, y = data
    y = y.astype(float)
    params = dict(n_splits=3, epochs=3, strategy="packed", random_state=0)
    reg = KFoldKerasRegressor(dense_regressor, **params).fit(X, y)
    assert reg.fit_strategy_ == PACKED
    # Change the targets of fold 0's held-out rows only: member 0 never sees
    # them (not in its batches, or at weight 0), the other members train on them.
    heldout = reg.folds_[0][1]
    y_changed = y.copy()
    y_changed[heldout] += 100.0
    changed = KFoldKerasRegressor(dense_regressor, **params).fit(X, y_changed)
    before, after = reg.member_predictions(X), changed.member_predictions(X)
    np.testing.assert_array_equal(before[0], after[0])
    assert not np.allclose(before[1], after[1]) and not np.allclose(before[2], after[2])


def test_packed_members_keep_their_best_epoch_on_their_own_validation_rows(data):
    X, y = data
    clf = KFoldKerasClassifier(
        dense_classifier, n_splits=3, epochs=6, strategy="packed", validate_on_heldout=True,
        random_state=0, model__learning_rate=0.2,
    ).fit(X, y)  # fmt: skip
    for member, history, (_, heldout) in zip(clf.estimators_, clf.histories_, clf.folds_):
        assert len(history["val_loss"]) == 6
        loss = member.evaluate(X[heldout], y[heldout], verbose=0, return_dict=True)["loss"]
        np.testing.assert_allclose(loss, min(history["val_loss"]), rtol=1e-4)
    best = [int(np.argmin(h["val_loss"])) + 1 for h in clf.histories_]
    assert list(clf.fit_statistics_["best_epoch"]) == best


def _early_stopping():
    return [keras.callbacks.EarlyStopping(monitor="loss", patience=1)]


WATCHED = dict(n_estimators=2, epochs=2, random_state=0)


@shared_fixture
def watched(data):
    """Members with a user's callback under strategy="auto"; callbacks watch one member."""
    X, y = data
    return BaggedKerasClassifier(
        dense_classifier, strategy="auto", callbacks=_early_stopping(), **WATCHED
    ).fit(X, y)


def test_packing_falls_back_clearly_when_it_cannot_express_the_fit(data, watched, caplog):
    X, y = data
    with caplog.at_level(logging.WARNING, logger="sk_kerasbag"):
        packed = BaggedKerasClassifier(
            dense_classifier, strategy="packed", callbacks=_early_stopping(), **WATCHED
        ).fit(X, y)
    assert "strategy='packed' is not possible here (callbacks" in caplog.text
    # The members of a fit one by one.
    assert watched.fit_strategy_ == "sequential"
    np.testing.assert_array_equal(packed.predict_proba(X), watched.predict_proba(X))


def test_packed_members_have_their_own_dropout_streams(data):
    # Members start from the same weights (fixed initializer seeds) and train on the
    # same rows in one batch per epoch, so without dropout they end equal up to
    # float rounding; their dropout masks must differ (each member's seed's).
    X, y = data
    params = dict(
        n_estimators=2, bootstrap=False, epochs=3, batch_size=len(X), strategy="packed",
        random_state=0,
    )  # fmt: skip

    def spread(rate):
        clf = BaggedKerasClassifier(dropout_classifier, model__rate=rate, **params).fit(X, y)
        assert clf.fit_strategy_ == PACKED
        first, second = (m.get_weights()[0] for m in clf.estimators_)
        return np.abs(first - second).max()

    assert spread(0.0) < 1e-4
    assert spread(0.5) > 1e-3


def test_packing_names_why_members_cannot_train_vectorised(data, caplog, tmp_path):
    # Under JAX the model's host round trip has no batching rule: its members step
    # one by one through one compiled step; under TensorFlow the backend is the
    # reason, and they train as one multi-output model. A model compiled to run
    # eagerly is never traced.
    X, y = data
    params = dict(n_estimators=2, epochs=3, strategy="packed", random_state=0)
    run = dict(save_dir=tmp_path / "run", **params)
    with caplog.at_level(logging.INFO, logger="sk_kerasbag"):
        clf = BaggedKerasClassifier(host_roundtrip_classifier, **run).fit(X, y)
    # Reloaded from its run folder, an ensemble says how it was trained, fallback
    # included (nothing is traced then to find out).
    reloaded = BaggedKerasClassifier(host_roundtrip_classifier, resume=True, **run).fit(X, y)
    assert reloaded.fit_strategy_ == clf.fit_strategy_
    if ON_JAX:
        assert clf.fit_strategy_ == "interleaved"
        assert "Packed members step one by one: mapping the train step over members " in (
            caplog.text
        )
        assert "vmap is only supported for the pure_callback primitive" in caplog.text
    else:
        assert clf.fit_strategy_ == "multi-output"
        assert "multi-output model: under TensorFlow, tf.vectorized_map cannot map" in (
            caplog.text
        )
    assert clf.score(X, y) > 0.5  # the majority class is ~0.4
    assert clf.member_predictions(X).shape == (2, len(X), 3)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sk_kerasbag"):
        eager = BaggedKerasClassifier(
            dense_classifier, model__run_eagerly=True, **{**params, "epochs": 1}
        ).fit(X, y)
    assert eager.fit_strategy_ == "multi-output"
    reason = "compiled with run_eagerly=True" if ON_JAX else "have no stateless step"
    assert "Packed members train as one multi-output model: " in caplog.text
    assert reason in caplog.text


def test_auto_strategy_packs_only_members_that_train_vectorised(data, watched):
    X, y = data
    params = dict(n_estimators=2, epochs=1, strategy="auto", random_state=0)
    clf = BaggedKerasClassifier(dense_classifier, **params).fit(X, y)
    assert clf.fit_strategy_ == ("vectorised" if ON_JAX else "sequential")
    # User callbacks watch one member at a time: never packed.
    assert watched.strategy == "auto" and watched.fit_strategy_ == "sequential"


def test_members_predict_at_once_as_each_would_alone(data, packed_and_sequential):
    from sk_kerasbag._inference import predict_rows

    X, _ = data
    _, clf = packed_and_sequential
    together = clf.member_predictions(X)
    for member, output in zip(clf.estimators_, together):
        np.testing.assert_allclose(output, predict_rows(member, X, 256), rtol=1e-5, atol=1e-6)
    # Rows do not depend on the rows predicted with them, bit for bit.
    np.testing.assert_array_equal(clf.member_predictions(X[5:12]), together[:, 5:12])


def slowly_built_classifier(input_shape, n_classes):
    """Two dense layers, created 50 ms apart (as when large layers take time to build)."""
    inputs = keras.Input(input_shape)
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    time.sleep(0.05)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_other_threads_drawing_random_numbers_do_not_change_the_members(data):
    # A Dask worker's own threads draw from Python's global generator about
    # twice a second; Keras draws each layer's default seeds from it too.
    X, y = data
    params = dict(n_estimators=2, epochs=1, random_state=0)
    quiet = BaggedKerasClassifier(slowly_built_classifier, **params).fit(X, y)
    stop = threading.Event()

    def draw_random_numbers():
        while not stop.wait(0.001):
            random.random()

    drawer = threading.Thread(target=draw_random_numbers)
    drawer.start()
    try:
        busy = BaggedKerasClassifier(slowly_built_classifier, **params).fit(X, y)
    finally:
        stop.set()
        drawer.join()
    np.testing.assert_array_equal(busy.member_predictions(X), quiet.member_predictions(X))


def test_threads_of_one_process_train_the_same_members_whatever_set_random_seed_draws(
    data, sequential_pair, monkeypatch
):
    # Threads seed one at a time, through the same seeding as a sequential fit. Under
    # JAX, keras.utils.set_random_seed's first call imports TensorFlow, and that
    # import draws from Python's and NumPy's global generators: here it always draws.
    X, y = data
    set_random_seed = keras.utils.set_random_seed

    def seed_then_draw(seed):
        set_random_seed(seed)
        random.random(), np.random.random()

    monkeypatch.setattr(keras.utils, "set_random_seed", seed_then_draw)
    with joblib.parallel_config(backend="threading"):
        threaded = BaggedKerasClassifier(dense_classifier, n_jobs=2, **PAIR).fit(X, y)
    np.testing.assert_array_equal(
        threaded.member_predictions(X), sequential_pair.member_predictions(X)
    )


def test_members_train_on_a_dask_cluster(data, sequential_pair, tmp_path, monkeypatch):
    X, y = data
    log = tmp_path / "builds.txt"
    # pid_logging_classifier builds dense_classifier: the members of sequential_pair.
    params = dict(model__log=str(log), **PAIR)
    # Worker processes must import the test builders, as joblib's loky workers can.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        with joblib.parallel_config(backend="dask"):
            on_dask = BaggedKerasClassifier(pid_logging_classifier, n_jobs=2, **params).fit(X, y)
    builders = [int(pid) for pid in log.read_text().split()]
    # One throw-away build here, then each member built in a worker process (with one
    # one-thread worker, joblib would train them here: its effective n_jobs is then 1).
    assert builders[0] == os.getpid() and len(builders) == 3
    assert os.getpid() not in builders[1:]
    # The same members as trained one after another here.
    np.testing.assert_array_equal(
        on_dask.member_predictions(X), sequential_pair.member_predictions(X)
    )


def test_packed_members_train_from_image_folders_and_augmented_batches(tmp_path):
    from PIL import Image

    from sk_kerasbag import DirectoryBaggedClassifier, list_images

    from .builders import small_cnn

    rng = np.random.RandomState(0)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(10):
            pixels = rng.randint(0, 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    folder = DirectoryBaggedClassifier(
        small_cnn, n_estimators=2, epochs=2, image_size=(8, 8), rescale=1 / 255,
        validation_split=0.2, strategy="packed", random_state=0,
    ).fit(tmp_path)  # fmt: skip
    paths, _ = list_images(tmp_path)
    proba = folder.predict_proba(paths)
    assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1)
    assert [sorted(h) for h in folder.histories_] == [["loss", "val_loss"]] * 2

    X = rng.rand(40, 8, 8, 3).astype(np.float32)
    y = np.arange(40) % 2
    augmented = BaggedKerasClassifier(
        small_cnn, n_estimators=2, epochs=2, augmentation={"rotation_range": 10},
        strategy="packed", random_state=0,
    ).fit(X, y)  # fmt: skip
    assert augmented.set_params(tta=2).predict_proba(X).shape == (40, 2)


_ORPHANING_FIT = """
import os, signal, sys, threading, time
from pathlib import Path
from sk_kerasbag import BaggedKerasClassifier
from tests.builders import MarksTraining, pid_logging_classifier, three_class_rows

log, training = Path(sys.argv[1]), Path(sys.argv[2])

def kill_when_workers_train():
    # Each worker marks its member's first training batch: once both have, both
    # are inside their members' fit.
    while len(list(training.iterdir())) < 2:
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)

threading.Thread(target=kill_when_workers_train, daemon=True).start()
X, y = three_class_rows(120)
BaggedKerasClassifier(
    pid_logging_classifier, n_estimators=2, n_jobs=2, epochs=10**9, model__log=str(log),
    callbacks=[MarksTraining(training)],
).fit(X, y)
"""

# How long the workers of a killed fit may take to stop. Their watch looks at
# the parent every 0.5 s and ends the process at once (about 1 s here, idle or
# loaded): 120 s leaves a slow or busy machine two orders of magnitude, while a
# worker without a watch trains its 10**9 epochs for days (an epoch takes
# milliseconds), so it is still running then and fails the test, which kills it.
WORKERS_STOP_WITHIN_S = 120


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


@backend_independent
def test_workers_of_a_killed_fit_stop_soon_after_it(tmp_path):
    import subprocess
    import sys

    log, output, training = tmp_path / "pids.txt", tmp_path / "output.txt", tmp_path / "training"
    training.mkdir()
    with open(output, "w") as handle:  # not a pipe: orphaned workers would hold it open
        killed = subprocess.run(
            [sys.executable, "-c", _ORPHANING_FIT, str(log), str(training)],
            cwd=Path(__file__).parents[1],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    assert killed.returncode == -9, output.read_text()[-2000:]
    parent, *workers = [int(pid) for pid in log.read_text().split()]
    assert len(workers) == 2 and parent not in workers
    # Killed while both workers were training (each marked its member's first batch).
    assert sorted(int(mark.name) for mark in training.iterdir()) == sorted(workers)
    start = time.monotonic()
    deadline = start + WORKERS_STOP_WITHIN_S
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    still = [pid for pid in workers if _running(pid)]
    for pid in still:  # leave no stray process behind, whatever the outcome
        os.kill(pid, 9)
    assert still == [], (
        f"workers still training {WORKERS_STOP_WITHIN_S} s after their fit was killed"
    )
    print(f"workers stopped {time.monotonic() - start:.1f} s after their fit was killed")
