"""Predict latency for 1 row and for 10,000 rows: the ensemble against a hand-written loop.

Fits ``BaggedKerasClassifier(basic_cnn, n_estimators=5, epochs=1, random_state=0)``
on a case of ``bench_strategies`` (``digits``: scikit-learn's 8x8x1 digits;
``large``: the same upscaled to 32x32x3), then times, in one process, on the
same members:

* ``sk_kerasbag``: the ensemble's ``predict_proba(X)``;
* ``loop predict``: the mean over members of ``model.predict(X, batch_size=256,
  verbose=0)``, the loop of ``bench_strategies`` and of the benchmarks page;
* ``loop call``: the mean over members of ``model(X, training=False)`` in slices
  of 256 rows, which Keras's documentation advises over ``predict`` for inputs
  that fit in one batch.

Training takes no part: one epoch is enough to time a forward pass. ``X`` is
the test images repeated to the row count. Each round times ``--calls`` calls
of each contender, interleaved call by call, after untimed warm-up calls (the
first call of a row count compiles); a contender's time in a round is its
median call. The table gives, over ``--repeats`` rounds, the median of the
rounds' times and their spread (min-max), and the ratio of ``sk_kerasbag`` to
each loop within a round (median and spread). The goals of the prediction
latency issue, for the digits case with 5 members on 2 idle cores: 1 row in at
most 3 ms, 10,000 rows in at most 0.6x the ``loop predict`` time. The load
average is printed before and after: run it on an otherwise idle machine.
About one minute per backend for the digits, three for ``large``.

Run: python benchmarks/bench_latency.py [--case digits|large] [--members 5] [--rows 1 10000]
     [--calls 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import bench_strategies as common  # sets TF_CPP_MIN_LOG_LEVEL before Keras loads
import keras
import numpy as np

from sk_kerasbag import BaggedKerasClassifier
from sk_kerasbag.models import basic_cnn

SLICE = common.PREDICT_BATCH_SIZE  # 256
ONE_ROW_GOAL_MS = 3.0
MANY_ROWS_GOAL = 0.6  # x the loop predict time


def loop_predict(members, X):
    return np.mean([m.predict(X, batch_size=SLICE, verbose=0) for m in members], axis=0)


def loop_call(members, X):
    return np.mean(
        [
            np.concatenate(
                [
                    keras.ops.convert_to_numpy(m(X[start : start + SLICE], training=False))
                    for start in range(0, len(X), SLICE)
                ]
            )
            for m in members
        ],
        axis=0,
    )


def round_times(contenders: dict, X, calls: int) -> dict[str, float]:
    """Each contender's median call (ms) over ``calls`` calls, interleaved call by call."""
    times = {name: [] for name in contenders}
    for _ in range(calls):
        for name, predict in contenders.items():
            started = time.perf_counter()
            predict(X)
            times[name].append(1000 * (time.perf_counter() - started))
    return {name: statistics.median(ms) for name, ms in times.items()}


def spread(values) -> str:
    return f"{statistics.median(values):9.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(common.CASES), default="digits")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, common.LATENCY_ROWS])
    parser.add_argument("--calls", type=int, default=20, help="timed calls per round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds")
    args = parser.parse_args()

    load_before = os.getloadavg()
    X_train, X_test, y_train, _ = common.load_case(args.case)
    ensemble = BaggedKerasClassifier(
        basic_cnn, n_estimators=args.members, epochs=1, random_state=0
    ).fit(X_train, y_train)
    members = ensemble.estimators_
    contenders = {
        "sk_kerasbag": ensemble.predict_proba,
        "loop predict": lambda X: loop_predict(members, X),
        "loop call": lambda X: loop_call(members, X),
    }
    print(
        f"backend={keras.backend.backend()} keras={keras.__version__} "
        f"cpu_count={os.cpu_count()} load average before={load_before[0]:.2f}"
    )
    print(
        f"case={args.case} ({'x'.join(map(str, X_train.shape[1:]))}), basic_cnn, "
        f"{args.members} members; median call of {args.calls} per round, {args.repeats} rounds: "
        "median (min-max) over rounds"
    )
    header = f"{'rows':>7}  {'contender':13}{'ms':>9} {'spread':13}{'sk_kerasbag / it':>28}"
    print(header)
    print("-" * len(header))
    for n_rows in args.rows:
        X = np.resize(X_test, (n_rows, *X_test.shape[1:]))
        # The same members: the ensemble's probabilities are the loop's mean.
        np.testing.assert_allclose(ensemble.predict_proba(X), loop_predict(members, X), atol=1e-5)
        for _ in range(3):  # untimed: the first calls of a row count compile
            round_times(contenders, X, 1)
        rounds = [round_times(contenders, X, args.calls) for _ in range(args.repeats)]
        for name in contenders:
            ms = [r[name] for r in rounds]
            ratio = ""
            if name != "sk_kerasbag":
                ratio = spread([r["sk_kerasbag"] / r[name] for r in rounds])
            print(f"{n_rows:7d}  {name:13}{spread(ms):22}{ratio:>28}")
        library = statistics.median(r["sk_kerasbag"] for r in rounds)
        if args.case == "digits" and args.members == 5 and n_rows == 1:
            met = "met" if library <= ONE_ROW_GOAL_MS else "MISSED"
            print(f"         goal: 1 row in <= {ONE_ROW_GOAL_MS:g} ms: {met}")
        if args.case == "digits" and args.members == 5 and n_rows >= common.LATENCY_ROWS:
            ratio = statistics.median(r["sk_kerasbag"] / r["loop predict"] for r in rounds)
            met = "met" if ratio <= MANY_ROWS_GOAL else "MISSED"
            print(f"         goal: {n_rows} rows in <= {MANY_ROWS_GOAL:g}x loop predict: {met}")
    print(f"load average after={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
