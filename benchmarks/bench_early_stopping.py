"""Fit time with early stopping: packed members against sequential ones.

Side by side in one process, on the same data, split and member seeds:
``BaggedKerasClassifier(basic_cnn, n_estimators=5, epochs=50, patience=3,
validation_split=0.1)`` on scikit-learn's digits (75/25 stratified split),
``strategy="sequential"`` (the baseline) and ``strategy="packed"``. Both
stop each member by the same rule, so the epochs each member ran are
printed too (they differ, as packed members see other batches). Each runs
``--repeats`` times, interleaved, after an untimed warm-up fit each; the
table gives the best and the spread (min-max) of the fit times, the ratio
of the best times to sequential, the members' epochs run and the test
accuracy. Takes about two to four minutes on 2 cores.

Run: python benchmarks/bench_early_stopping.py [--members 5] [--epochs 50] [--patience 3] [--repeats 3]
"""  # noqa: E501

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sk_kerasbag import BaggedKerasClassifier, load_digits_images  # noqa: E402
from sk_kerasbag.models import basic_cnn  # noqa: E402

STRATEGIES = ("sequential", "packed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )

    def fit(strategy: str, epochs: int) -> tuple[float, BaggedKerasClassifier]:
        clf = BaggedKerasClassifier(
            basic_cnn, n_estimators=args.members, epochs=epochs, patience=args.patience,
            validation_split=0.1, strategy=strategy, random_state=0,
        )  # fmt: skip
        started = time.perf_counter()
        clf.fit(X_train, y_train)
        return time.perf_counter() - started, clf

    for strategy in STRATEGIES:
        fit(strategy, 1)  # warm-up: imports, first traces
    times = {strategy: [] for strategy in STRATEGIES}
    fitted = {}
    for _ in range(args.repeats):
        for strategy in STRATEGIES:
            seconds, fitted[strategy] = fit(strategy, args.epochs)
            times[strategy].append(seconds)

    print(
        f"backend {keras.backend.backend()}, {os.cpu_count()} cores; digits, "
        f"{args.members} members x up to {args.epochs} epochs, patience {args.patience}, "
        f"best of {args.repeats} interleaved runs\n"
    )
    baseline = min(times["sequential"])
    header = ("strategy", "fit s", "spread", "ratio", "accuracy")
    print("  ".join(f"{h:>{w}}" for h, w in zip(header, (10, 6, 11, 5, 8))) + "  epochs run")
    for strategy in STRATEGIES:
        best, worst = min(times[strategy]), max(times[strategy])
        clf = fitted[strategy]
        epochs = " ".join(str(e) for e in clf.fit_statistics_["epochs"])
        print(
            f"{strategy:>10}  {best:6.2f}  {best:5.2f}-{worst:5.2f}  {best / baseline:5.2f}  "
            f"{clf.score(X_test, y_test):8.4f}  {epochs}"
        )


if __name__ == "__main__":
    main()
