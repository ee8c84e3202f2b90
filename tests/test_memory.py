"""Training many members in a row must not grow memory beyond what Keras itself keeps."""

import gc

import keras
import numpy as np
import psutil

from sk_kerasbag import BaggedKerasClassifier

from .builders import dense_classifier

# Enough for a leak of 1 MB per member to stand out from the allocator's noise.
N_MEMBERS = 10


def _rss_mb():
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def test_many_members_add_nothing_to_keras_own_footprint():
    rng = np.random.RandomState(0)
    X = rng.rand(100, 8).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)

    def plain_keras_loop(n_fits=N_MEMBERS):
        for _ in range(n_fits):
            model = dense_classifier((8,), 2)
            model.fit(X, y, epochs=1, batch_size=32, verbose=0)
            del model

    def ensemble():
        BaggedKerasClassifier(
            dense_classifier, n_estimators=N_MEMBERS, epochs=1, random_state=0
        ).fit(X, y)

    # Warm up imports, first tracing and allocator pools before measuring.
    BaggedKerasClassifier(dense_classifier, n_estimators=3, epochs=1).fit(X, y)
    plain_keras_loop(3)

    start = _rss_mb()
    plain_keras_loop()
    keras_per_fit = (_rss_mb() - start) / N_MEMBERS
    start = _rss_mb()
    ensemble()
    ours_per_member = (_rss_mb() - start) / N_MEMBERS

    # TensorFlow's traced train functions are never freed (about 4 MB per fitted
    # model, keras-team/keras#17458, even with clear_session); JAX frees
    # everything. Either way the ensemble must not keep more than Keras does.
    assert ours_per_member <= keras_per_fit + 0.5, (
        f"{ours_per_member:.2f} MB kept per member vs {keras_per_fit:.2f} MB per plain "
        f"Keras fit ({keras.backend.backend()})"
    )
