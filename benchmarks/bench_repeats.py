"""How well the out-of-fold score predicts the test score: one K-fold against repeated K-fold.

AutoGluon repeats its bagged folds because one K-fold's out-of-fold (OOF)
score is noisy: it depends on which rows happened to share a fold. This
measures that on a small training set, where the noise shows: scikit-learn's
digits, ``--train`` (300) stratified training rows and the rest as a test set,
``dense_net`` members (5 folds x ``--epochs`` 10). For each of ``--splits``
(3) train/test splits and each of ``--seeds`` (3) values of ``random_state``,
``KFoldKerasClassifier(n_splits=5, n_repeats=r)`` is fitted for each ``r`` in
``--repeats`` (1 3); the table gives, per ``r``:

* ``oof``: the mean OOF accuracy, ``test``: the mean test accuracy;
* ``|oof-test|``: the mean distance between a fit's OOF and test accuracy;
* ``oof seed spread``: the standard deviation of the OOF accuracy across
  ``random_state`` values on the same split (the noise of the estimate,
  averaged over splits); ``test seed spread``: the same for the test
  accuracy;
* ``fit s``: mean fit seconds (``r`` times the members, so about ``r`` times
  the time).

Run: python benchmarks/bench_repeats.py [--train 300] [--epochs 10] [--splits 3] [--seeds 3] [--repeats 1 3]
"""  # noqa: E501

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sk_kerasbag import KFoldKerasClassifier, load_digits_images  # noqa: E402
from sk_kerasbag.models import dense_net  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()

    X, y = load_digits_images()
    X = X.reshape(len(X), -1)
    print(
        f"backend={keras.backend.backend()} keras={keras.__version__} cpu_count={os.cpu_count()}"
        f"; digits, {args.train} training rows, dense_net, 5 folds x {args.epochs} epochs"
    )
    results = {r: {"oof": [], "test": [], "gap": [], "oof_sd": [], "test_sd": [], "s": []}
               for r in args.repeats}  # fmt: skip
    for split in range(args.splits):
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, train_size=args.train, stratify=y, random_state=split
        )
        for r in args.repeats:
            oofs, tests = [], []
            for seed in range(args.seeds):
                started = time.perf_counter()
                clf = KFoldKerasClassifier(
                    dense_net, n_splits=5, n_repeats=r, epochs=args.epochs, random_state=seed
                ).fit(X_train, y_train)
                results[r]["s"].append(time.perf_counter() - started)
                oofs.append(clf.oof_score_)
                tests.append(clf.score(X_test, y_test))
            row = results[r]
            row["oof"] += oofs
            row["test"] += tests
            row["gap"] += [abs(a - b) for a, b in zip(oofs, tests)]
            row["oof_sd"].append(statistics.pstdev(oofs))
            row["test_sd"].append(statistics.pstdev(tests))
            print(f"  split {split} n_repeats={r}: oof {np.round(oofs, 4)}, test {np.round(tests, 4)}")  # noqa: E501

    header = (
        f"{'n_repeats':>9} {'members':>7} {'oof':>7} {'test':>7} {'|oof-test|':>10} "
        f"{'oof seed spread':>15} {'test seed spread':>16} {'fit s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r, row in results.items():
        print(
            f"{r:>9} {5 * r:>7} {np.mean(row['oof']):>7.4f} {np.mean(row['test']):>7.4f} "
            f"{np.mean(row['gap']):>10.4f} {np.mean(row['oof_sd']):>15.4f} "
            f"{np.mean(row['test_sd']):>16.4f} {np.mean(row['s']):>7.1f}"
        )


if __name__ == "__main__":
    main()
