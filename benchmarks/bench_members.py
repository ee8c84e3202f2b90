"""Seconds per member as the ensemble grows: each strategy against a hand-written Keras loop.

For each member count (``--members``, default 1 4 16 64), in one process, on the
same bootstrap rows and member seeds (those of ``BaggedKerasClassifier(random_state=0)``):

* ``loop``: build, seed and fit each member by hand, predict with the mean of
  ``model.predict``;
* ``sequential`` and ``packed``: ``BaggedKerasClassifier`` with that ``strategy``.

It prints fit and ``predict_proba`` seconds per member and their ratio to the
loop at the same count. For ``packed`` it also prints the fit's fixed cost
(tracing, compiling, building the members), from one more fit of one epoch
fewer: ``fixed = t(E) - E * (t(E) - t(E - 1))`` for ``E = --epochs``; the
vectorised-members issue asks that it grow at most 1.3x from 5 to 25 members
(compare 4 and 16 here). A strategy whose cost is overhead per member (tracing,
kernel launches) keeps its seconds per member flat; one that shares work
across members sees them fall as the count grows. The loop and the sequential
strategy should stay flat; how fast ``packed`` falls is what this measures.

``--device`` is a free-text note printed with the results (say, ``"A100 40GB"``),
so figures from other machines can be told apart; the backend picks the
device as usual (a GPU when it sees one). Nothing here depends on a CPU.

Run: python benchmarks/bench_members.py [--case digits|large] [--members 1 4 16 64]
     [--epochs 2] [--strategies sequential packed] [--device "2 CPU cores"]

On 2 CPU cores the default sweep takes about 10 minutes per backend; ``--members 1 4``
takes about one.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import bench_strategies as common  # sets TF_CPP_MIN_LOG_LEVEL before Keras loads
import keras


def device_summary() -> str:
    """The backend's devices, as Keras lists them (an empty string when it cannot)."""
    try:
        return ", ".join(keras.distribution.list_devices())
    except Exception:  # list_devices is not offered by every backend and version
        return ""


CONTENDERS = common.contenders_for(use_scikeras=False)  # loop, sequential, packed


def run(name: str, X, y, X_test, rows, seeds, members: int, epochs: int):
    """(fit seconds, predict seconds) of one contender at one member count."""
    gc.collect()
    fit_s, predict_s, _, fitted = CONTENDERS[name](X, y, X_test, rows, seeds, members, epochs)
    if name != "loop":
        common.check_same_plan(fitted, rows, seeds)
    return fit_s, predict_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(common.CASES), default="digits")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--epochs", type=int, default=2)
    strategies = ["sequential", "packed"]
    parser.add_argument("--strategies", nargs="+", choices=strategies, default=strategies)
    parser.add_argument("--device", default="", help="a note on the machine, printed as given")
    args = parser.parse_args()

    X, X_test, y, _ = common.load_case(args.case)
    contenders = ["loop", *args.strategies]
    print(
        f"backend={keras.backend.backend()} keras={keras.__version__} "
        f"cpu_count={os.cpu_count()} devices=[{device_summary()}] device_note={args.device!r}"
    )
    print(
        f"case={args.case} ({'x'.join(map(str, X.shape[1:]))}, {len(X)} train rows), "
        f"basic_cnn, {args.epochs} epochs, batch {common.BATCH_SIZE}"
    )
    # First-call costs (imports, allocator pools, the first trace) go uncharged.
    warm_rows, warm_seeds = common.member_plan(X[:200], 2)
    for name in contenders:
        run(name, X[:200], y[:200], X_test[:8], warm_rows, warm_seeds, 2, 1)

    header = (
        f"{'members':>8}{'contender':>12}{'fit s':>9}{'fit s/member':>14}{'fit/loop':>10}"
        f"{'predict s/member':>18}{'predict/loop':>14}{'fixed s':>9}"
    )
    print(header)
    print("-" * len(header))
    for members in args.members:
        rows, seeds = common.member_plan(X, members)
        started = time.perf_counter()
        times = {
            name: run(name, X, y, X_test, rows, seeds, members, args.epochs) for name in contenders
        }
        fixed = {}
        if "packed" in times and args.epochs >= 2:
            shorter, _ = run("packed", X, y, X_test, rows, seeds, members, args.epochs - 1)
            per_epoch = times["packed"][0] - shorter
            fixed["packed"] = times["packed"][0] - args.epochs * per_epoch
        loop_fit, loop_predict = times["loop"]
        for name, (fit_s, predict_s) in times.items():
            fixed_s = f"{fixed[name]:9.2f}" if name in fixed else ""
            print(
                f"{members:8d}{name:>12}{fit_s:9.2f}{fit_s / members:14.3f}"
                f"{fit_s / loop_fit:10.2f}{predict_s / members:18.4f}"
                f"{predict_s / loop_predict:14.2f}{fixed_s}"
            )
        print(f"({members} members: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
