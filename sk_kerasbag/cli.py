"""The ``sk-kerasbag`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before Keras imports TensorFlow


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sk-kerasbag``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(prog="sk-kerasbag", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="bagged CNN on scikit-learn's bundled digits images"
    )
    demo.add_argument("--n-estimators", type=int, default=5, help="members (default 5)")
    demo.add_argument("--epochs", type=int, default=8, help="epochs per member (default 8)")
    demo.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_demo(args.n_estimators, args.epochs, args.random_state)


def run_demo(n_estimators: int, epochs: int, random_state: int) -> int:
    """Train a bagged CNN on the digits images and print member and ensemble scores.

    Parameters
    ----------
    n_estimators : int
        Number of members.
    epochs : int
        Epochs per member.
    random_state : int
        Seed for the split and the members.

    Returns
    -------
    int
        Exit status (0).
    """
    import numpy as np
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    from .bagging import BaggedKerasClassifier
    from .datasets import load_digits_images
    from .models import basic_cnn

    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state
    )
    print(
        f"digits: {len(X_train)} training and {len(X_test)} test images of shape "
        f"{X.shape[1:]}; bagging {n_estimators} CNNs x {epochs} epochs"
    )
    started = time.perf_counter()
    ensemble = BaggedKerasClassifier(
        basic_cnn,
        n_estimators=n_estimators,
        epochs=epochs,
        oob_score=True,
        random_state=random_state,
    ).fit(X_train, y_train)
    seconds = time.perf_counter() - started

    member_proba = ensemble.member_predictions(X_test)
    print(f"\n{'member':>8}  {'test accuracy':>13}")
    for i, proba in enumerate(member_proba, start=1):
        accuracy = accuracy_score(y_test, ensemble.classes_[np.argmax(proba, axis=1)])
        print(f"{i:>8}  {accuracy:>13.4f}")
    print(f"{'ensemble':>8}  {ensemble.score(X_test, y_test):>13.4f}")
    print(f"\nout-of-bag accuracy: {ensemble.oob_score_:.4f}")
    print(f"fit time: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
