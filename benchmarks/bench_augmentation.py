"""Cost of an augmented training epoch against an unaugmented one.

Trains the digits CNN with sk_kerasbag twice in one process, once without and
once with dict augmentation (rotation, shifts, shear, zoom, brightness), and
prints the median epoch time of each (the first, tracing, epoch is left out)
as a ratio to the unaugmented epoch. The goal is at most about 2x. Also
prints the cost of TTA passes at prediction and the test accuracy of each.

Run: python benchmarks/bench_augmentation.py [--epochs 20] [--tta 4]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _timing import EpochTimer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sk_kerasbag import BaggedKerasClassifier, load_digits_images  # noqa: E402
from sk_kerasbag.models import basic_cnn  # noqa: E402

AUGMENTATION = {
    "rotation_range": 12,
    "width_shift_range": 0.1,
    "height_shift_range": 0.1,
    "shear_range": 5,
    "zoom_range": 0.1,
    "brightness_range": (0.8, 1.2),
}


def run(augmentation, X_train, y_train, X_test, y_test, epochs, tta):
    EpochTimer.durations = []
    ensemble = BaggedKerasClassifier(
        basic_cnn,
        n_estimators=1,
        epochs=epochs,
        augmentation=augmentation,
        callbacks=[EpochTimer()],
        random_state=0,
    ).fit(X_train, y_train)
    epoch = float(np.median(EpochTimer.durations[1:]))
    started = time.perf_counter()
    accuracy = ensemble.score(X_test, y_test)
    predict = time.perf_counter() - started
    tta_accuracy = tta_predict = None
    if augmentation is not None:
        ensemble.set_params(tta=tta)
        started = time.perf_counter()
        tta_accuracy = ensemble.score(X_test, y_test)
        tta_predict = time.perf_counter() - started
    return epoch, accuracy, predict, tta_accuracy, tta_predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--tta", type=int, default=4)
    args = parser.parse_args()

    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    plain = run(None, X_train, y_train, X_test, y_test, args.epochs, args.tta)
    augmented = run(AUGMENTATION, X_train, y_train, X_test, y_test, args.epochs, args.tta)

    print(
        f"backend: {keras.backend.backend()}, digits {X_train.shape[1:]}, "
        f"{len(X_train)} training rows, batch 32"
    )
    print(
        f"unaugmented epoch: {plain[0] * 1000:7.1f} ms   (ratio 1.00)  test accuracy {plain[1]:.4f}"
    )
    print(
        f"augmented epoch:   {augmented[0] * 1000:7.1f} ms   (ratio {augmented[0] / plain[0]:.2f})"
        f"  test accuracy {augmented[1]:.4f}"
    )
    print(
        f"predict, clean pass only: {augmented[2] * 1000:.1f} ms; with tta={args.tta}: "
        f"{augmented[4] * 1000:.1f} ms (ratio {augmented[4] / augmented[2]:.2f}), "
        f"test accuracy {augmented[3]:.4f}"
    )


if __name__ == "__main__":
    main()
