"""Overhead of sk_kerasbag against a hand-written Keras bagging loop.

Both sides train the same CNN on the same bootstrap rows with the same seeds,
in one process, and predict the same test rows; times are printed as ratios
to the hand-written loop (best of ``--repeats`` runs each).

Run: python benchmarks/bench_overhead.py [--members 5] [--epochs 5] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sk_kerasbag import BaggedKerasClassifier, load_digits_images  # noqa: E402
from sk_kerasbag.models import basic_cnn  # noqa: E402


def hand_written_loop(X, y, X_test, ensemble):
    """Build, fit and predict per member, as a user would without the library."""
    started = time.perf_counter()
    members = []
    for rows, seed in zip(ensemble.estimators_samples_, _member_seeds(ensemble, X)):
        keras.utils.set_random_seed(seed)
        model = basic_cnn(X.shape[1:], 10)
        model.fit(X[rows], y[rows], epochs=ensemble.epochs, batch_size=ensemble.batch_size, verbose=0)
        members.append(model)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    proba = np.mean([m.predict(X_test, batch_size=256, verbose=0) for m in members], axis=0)
    return fit_seconds, time.perf_counter() - started, proba


def _member_seeds(ensemble, X):
    rng = np.random.RandomState(ensemble.random_state)
    ensemble._split_rows(X, None, None, rng)  # the same draws as fit, to reach the same seeds
    return rng.randint(np.iinfo(np.int32).max, size=ensemble.n_estimators).tolist()


def library(X, y, X_test, members, epochs):
    ensemble = BaggedKerasClassifier(basic_cnn, n_estimators=members, epochs=epochs, random_state=0)
    started = time.perf_counter()
    ensemble.fit(X, y)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    proba = ensemble.predict_proba(X_test)
    return fit_seconds, time.perf_counter() - started, proba, ensemble


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    X, y = load_digits_images()
    X, X_test, y, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    lib_fit, lib_pred, hand_fit, hand_pred = [], [], [], []
    for _ in range(args.repeats):
        fit_s, pred_s, lib_proba, ensemble = library(X, y, X_test, args.members, args.epochs)
        lib_fit.append(fit_s)
        lib_pred.append(pred_s)
        fit_s, pred_s, hand_proba = hand_written_loop(X, y, X_test, ensemble)
        hand_fit.append(fit_s)
        hand_pred.append(pred_s)

    accuracy = {
        "hand-written": np.mean(hand_proba.argmax(axis=1) == y_test),
        "sk_kerasbag": np.mean(ensemble.classes_[lib_proba.argmax(axis=1)] == y_test),
    }
    print(f"backend={keras.backend.backend()} digits CNN, {args.members} members x {args.epochs} epochs")
    print(f"{'':14}{'fit s':>8}{'predict s':>11}{'fit ratio':>11}{'predict ratio':>15}{'accuracy':>10}")
    for name, fit_s, pred_s in (
        ("hand-written", min(hand_fit), min(hand_pred)),
        ("sk_kerasbag", min(lib_fit), min(lib_pred)),
    ):
        print(
            f"{name:14}{fit_s:8.2f}{pred_s:11.3f}{fit_s / min(hand_fit):11.2f}"
            f"{pred_s / min(hand_pred):15.2f}{accuracy[name]:10.4f}"
        )


if __name__ == "__main__":
    main()
