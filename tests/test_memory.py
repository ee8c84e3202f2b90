"""Training many members in a row must not grow memory beyond what Keras itself keeps."""

import gc
import random

import keras
import numpy as np
import psutil

from sk_kerasbag import BaggedKerasClassifier

from .builders import dense_classifier

# Enough for a leak of 1 MB per member to stand out from the allocator's noise.
N_MEMBERS = 10
# MB per member the ensemble may keep beyond a plain Keras fit. Measured on 2 cores
# loaded by other jobs (wall times varied by half), 3 runs of this test per backend:
# without a leak, ours - Keras's was 0.040 under TensorFlow (ours 0.060-0.062, Keras's
# 0.020-0.022) and 0.068-0.080 under JAX (0.111-0.114, 0.034-0.044); 9 more rounds
# of 10 in a longer script gave 0.025-0.073. With a leak of 1 MB per member (a
# written 1 MB kept per member built) it was 1.14 and 1.17. 0.5 is over 6 times
# the largest clean difference, and 0.6 MB below the leaking ones.
SLACK_MB = 0.5


def _rss_mb():
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def eager_classifier(input_shape, n_classes):
    """``dense_classifier``, run eagerly: Keras itself then keeps nothing of a fit.

    Compiled, TensorFlow keeps each fitted model's traced train functions
    (about 4.5 MB per model here, never freed, keras-team/keras#17458, even
    with clear_session), and JAX's compilation caches take rounds to settle (5
    MB, then 0.5, then 0.07 MB per fit): noise that a leak of 1 MB per member
    hides in. Run eagerly, members train one by one (packing needs compiled
    steps), each a Keras fit of its own, as the plain loop's.
    """
    return dense_classifier(input_shape, n_classes, run_eagerly=True)


def test_many_members_add_nothing_to_keras_own_footprint():
    rng = np.random.RandomState(0)
    X = rng.rand(100, 8).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)

    def plain_keras_loop(n_fits=N_MEMBERS):
        states = random.getstate(), np.random.get_state()
        for seed in range(n_fits):
            # Seeded as each member is: seeding TensorFlow also empties its cache of
            # eager kernels, which unseeded fits grow by about 0.4 MB each.
            keras.utils.set_random_seed(seed)
            model = eager_classifier((8,), 2)
            model.fit(X, y, epochs=1, batch_size=32, verbose=0)
            del model
        random.setstate(states[0])
        np.random.set_state(states[1])

    def ensemble():
        BaggedKerasClassifier(
            eager_classifier, n_estimators=N_MEMBERS, epochs=1, random_state=0
        ).fit(X, y)

    # Warm up imports, first tracing and allocator pools before measuring.
    BaggedKerasClassifier(eager_classifier, n_estimators=3, epochs=1).fit(X, y)
    plain_keras_loop(3)

    start = _rss_mb()
    plain_keras_loop()
    keras_per_fit = (_rss_mb() - start) / N_MEMBERS
    start = _rss_mb()
    ensemble()
    ours_per_member = (_rss_mb() - start) / N_MEMBERS

    message = (
        f"{ours_per_member:.3f} MB kept per member vs {keras_per_fit:.3f} MB per plain "
        f"Keras fit ({keras.backend.backend()})"
    )
    print(message)
    # Eager Keras keeps (almost) nothing of a fit, on either backend: the
    # ensemble must not keep more than Keras does. In the full suite the plain
    # loop's figure can come out below 0 (-2.3 MB once): the allocator handing
    # back memory that earlier tests in this worker freed, not anything a fit
    # gives back, so it counts as 0; a leak of 1 MB per member still fails.
    assert ours_per_member <= max(keras_per_fit, 0.0) + SLACK_MB, message
    assert keras_per_fit < SLACK_MB, message  # else a leak of ours could hide in Keras's
