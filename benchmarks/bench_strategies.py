"""Fit and predict times of sk_kerasbag's strategies against a hand-written Keras loop.

Side by side in one process, on the same data, split and epochs:

* ``loop``: a hand-written Keras bagging loop (per member: seed, build, fit
  on its bootstrap rows; predict = mean of the members' ``model.predict``);
* ``sequential``: ``BaggedKerasClassifier(strategy="sequential")`` (the default);
* ``packed``: ``BaggedKerasClassifier(strategy="packed")`` (all members
  trained at once; how, its ``fit_strategy_``, is printed beside it:
  ``vectorised``, ``interleaved`` or ``multi-output``);
* ``scikeras``: scikeras's ``KerasClassifier`` inside scikit-learn's
  ``BaggingClassifier``, when scikeras is installed.

The loop and both sk_kerasbag strategies train the same bootstrap rows with
the same member seeds (those of ``BaggedKerasClassifier(random_state=0)``).
``BaggingClassifier`` draws its own bootstrap rows (``random_state=0``) and
passes them as sample weights, which scikeras turns into the distinct rows
weighted by their counts; it needs 2-D rows, so its model reshapes flat rows
back into images.

Cases: ``digits`` (scikit-learn's 8x8x1 digits, ``basic_cnn``, 5 members x 5
epochs) and ``large`` (the same digits upscaled to 32x32x3 with mild noise,
``basic_cnn``, 5 members x 3 epochs); stratified 75/25 split, batch size 32.
Each contender runs ``--repeats`` times, interleaved, after one untimed tiny
warm-up fit each; the best fit and best predict times are reported, as
seconds and as ratios to the loop, with test accuracy and whether each goal
of the performance issues is met (the packed fit's goals are set for 5
digits members, 25 digits members, ``--members 25``, and 5 upscaled ones;
other counts print none). Then the predict
latency for 1 row and for 10,000 rows (the test images repeated): the loop's
members vs the sequential ensemble's ``predict_proba``, median of ``--calls``
(20) calls, fewer (at least 3) when they take over ``--latency-budget`` (20)
seconds. ``--epochs`` overrides both cases' epochs. On 2 cores, the digits case
takes one to two minutes and the large one two to four.

Run: python benchmarks/bench_strategies.py [--case digits|large|all] [--members 5] [--epochs 5] [--repeats 3]
"""  # noqa: E501

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # the loop's per-model retracing notes

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sk_kerasbag import BaggedKerasClassifier, load_digits_images  # noqa: E402
from sk_kerasbag.models import basic_cnn  # noqa: E402

BATCH_SIZE = 32
PREDICT_BATCH_SIZE = 256
LATENCY_ROWS = 10_000
CASES = {
    "digits": {"epochs": 5, "describe": "scikit-learn digits"},
    "large": {"epochs": 3, "describe": "digits upscaled, 3 channels, mild noise"},
}
# Goals of the performance issues, as ratios to the loop. The sequential strategy's
# (fit, predict) hold for every case; packed fits have one per (case, members) and
# backend (the vectorised-members issue), and predict at most half the loop's time.
SEQUENTIAL_GOALS = (1.05, 1.10)
PACKED_FIT_GOALS = {
    ("digits", 5): {"tensorflow": 0.35, "jax": 0.25},
    ("digits", 25): {"tensorflow": 0.15, "jax": 0.10},
    ("large", 5): {"tensorflow": 0.5, "jax": 0.4},
}
PACKED_PREDICT_GOAL = 0.5
# Packed members' test accuracy, at most this many points below the sequential ones'.
ACCURACY_POINTS = 1.5


def goals_for(name: str, case: str, members: int, backend: str) -> tuple:
    """The (fit, predict) ratio goals of a contender in a case; None where there is none."""
    if name == "sequential":
        return SEQUENTIAL_GOALS
    if name == "packed":
        return PACKED_FIT_GOALS.get((case, members), {}).get(backend), PACKED_PREDICT_GOAL
    return None, None


# -- data ----------------------------------------------------------------------


def load_case(name: str):
    """Train/test rows of a case: the digits, or the digits upscaled to 32x32x3."""
    X, y = load_digits_images()
    if name == "large":
        X = upscale(X)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def upscale(X: np.ndarray, factor: int = 4, channels: int = 3) -> np.ndarray:
    """Blow 8x8x1 images up to (8*factor)x(8*factor)x``channels``, with mild noise per pixel."""
    big = np.kron(X[..., 0], np.ones((factor, factor), dtype=X.dtype))  # (n, 32, 32)
    big = np.repeat(big[..., np.newaxis], channels, axis=-1)
    noise = np.random.RandomState(0).normal(0.0, 0.05, size=big.shape)
    return np.clip(big + noise, 0.0, 1.0).astype(np.float32)


def member_plan(X: np.ndarray, members: int):
    """Bootstrap rows and seeds of ``BaggedKerasClassifier(random_state=0)``, drawn as fit does."""
    ensemble = BaggedKerasClassifier(basic_cnn, n_estimators=members, random_state=0)
    rng = np.random.RandomState(ensemble.random_state)
    splits = ensemble._split_rows(X, None, None, rng)  # the same draws as fit
    seeds = rng.randint(np.iinfo(np.int32).max, size=members).tolist()
    return [train_idx for train_idx, _ in splits], seeds


def check_same_plan(ensemble, rows, seeds) -> None:
    """Refuse to compare when the library trained other rows or seeds than the loop."""
    same_rows = len(rows) == len(ensemble.estimators_samples_) and all(
        np.array_equal(a, b) for a, b in zip(rows, ensemble.estimators_samples_)
    )
    same_seeds = list(getattr(ensemble, "_seeds", seeds)) == list(seeds)
    if not (same_rows and same_seeds):
        raise RuntimeError(
            "the loop's bootstrap rows or seeds differ from the library's; update member_plan()"
        )


# -- contenders ----------------------------------------------------------------
# Each returns (fit seconds, predict seconds, class probabilities, fitted object).


def run_loop(X, y, X_test, rows, seeds, epochs):
    """Build, fit and predict per member, as a user would without a library."""
    started = time.perf_counter()
    members = []
    for train_idx, seed in zip(rows, seeds):
        keras.utils.set_random_seed(seed)
        model = basic_cnn(X.shape[1:], 10)
        model.fit(X[train_idx], y[train_idx], epochs=epochs, batch_size=BATCH_SIZE, verbose=0)
        members.append(model)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    proba = loop_predict(members, X_test)
    return fit_seconds, time.perf_counter() - started, proba, members


def loop_predict(members, X):
    return np.mean([m.predict(X, batch_size=PREDICT_BATCH_SIZE, verbose=0) for m in members], 0)


def run_library(X, y, X_test, members, epochs, strategy):
    ensemble = BaggedKerasClassifier(
        basic_cnn,
        n_estimators=members,
        epochs=epochs,
        batch_size=BATCH_SIZE,
        strategy=strategy,
        random_state=0,
    )
    started = time.perf_counter()
    ensemble.fit(X, y)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    proba = ensemble.predict_proba(X_test)
    return fit_seconds, time.perf_counter() - started, proba, ensemble


def flat_cnn(meta, image_shape):
    """``basic_cnn`` behind a Reshape layer: BaggingClassifier only passes 2-D rows."""
    cnn = basic_cnn(image_shape, meta["n_classes_"])
    inputs = keras.Input((int(np.prod(image_shape)),))
    model = keras.Model(inputs, cnn(keras.layers.Reshape(image_shape)(inputs)))
    model.compile(optimizer=cnn.optimizer, loss=cnn.loss, metrics=["accuracy"])
    return model


def scikeras_bagging(image_shape, members, epochs):
    from scikeras.wrappers import KerasClassifier
    from sklearn.ensemble import BaggingClassifier

    member = KerasClassifier(
        functools.partial(flat_cnn, image_shape=image_shape),
        epochs=epochs,
        batch_size=BATCH_SIZE,
        verbose=0,
        predict__batch_size=PREDICT_BATCH_SIZE,
    )
    return BaggingClassifier(member, n_estimators=members, random_state=0)


def run_scikeras(X, y, X_test, members, epochs):
    bagging = scikeras_bagging(X.shape[1:], members, epochs)
    started = time.perf_counter()
    bagging.fit(X.reshape(len(X), -1), y)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    proba = bagging.predict_proba(X_test.reshape(len(X_test), -1))
    return fit_seconds, time.perf_counter() - started, proba, bagging


def scikeras_status() -> str | None:
    """None when scikeras can be used, else why not."""
    try:
        import scikeras  # noqa: F401
        from scikeras.wrappers import KerasClassifier  # noqa: F401
    except ImportError:
        return "not installed (pip install scikeras)"
    except Exception as exc:  # an incompatible scikeras can fail at import time
        return f"unusable: {type(exc).__name__}: {exc}"
    return None


# -- benchmark -----------------------------------------------------------------


def warm_up(contenders, X, y, X_test) -> None:
    """One untimed tiny fit and predict per contender, so that first-call costs go uncharged."""
    X, y = X[:200], y[:200]
    rows, seeds = member_plan(X, 2)
    for name, run in list(contenders.items()):
        try:
            run(X, y, X_test[:8], rows, seeds, 2, 1)
        except Exception as exc:
            if name != "scikeras":
                raise
            print(f"scikeras: unusable here ({type(exc).__name__}: {exc}); left out")
            del contenders[name]


def contenders_for(use_scikeras: bool):
    contenders = {
        "loop": lambda X, y, Xt, rows, seeds, m, e: run_loop(X, y, Xt, rows, seeds, e),
        "sequential": lambda X, y, Xt, rows, seeds, m, e: run_library(X, y, Xt, m, e, "sequential"),
        "packed": lambda X, y, Xt, rows, seeds, m, e: run_library(X, y, Xt, m, e, "packed"),
    }
    if use_scikeras:
        contenders["scikeras"] = lambda X, y, Xt, rows, seeds, m, e: run_scikeras(X, y, Xt, m, e)
    return contenders


def accuracy_of(name, proba, fitted, y_test) -> float:
    classes = np.arange(proba.shape[1]) if name == "loop" else fitted.classes_
    return float(np.mean(classes[proba.argmax(axis=1)] == y_test))


def goal_text(goals: tuple, fit_ratio: float, predict_ratio: float) -> str:
    parts = []
    for what, goal, ratio in zip(("fit", "predict"), goals, (fit_ratio, predict_ratio)):
        if goal is not None:
            parts.append(f"{what}<={goal:.2f}x {'met' if ratio <= goal else 'MISSED'}")
    return ", ".join(parts)


def bench_case(case, args, use_scikeras, backend) -> None:
    case_started = time.perf_counter()
    epochs = args.epochs if args.epochs is not None else CASES[case]["epochs"]
    X, X_test, y, y_test = load_case(case)
    rows, seeds = member_plan(X, args.members)
    contenders = contenders_for(use_scikeras)
    warm_up(contenders, X, y, X_test)

    times = {name: ([], []) for name in contenders}
    last = {}
    for _ in range(args.repeats):
        for name, run in contenders.items():
            last.pop(name, None)
            gc.collect()
            fit_s, predict_s, proba, fitted = run(X, y, X_test, rows, seeds, args.members, epochs)
            if name in ("sequential", "packed"):
                check_same_plan(fitted, rows, seeds)
            times[name][0].append(fit_s)
            times[name][1].append(predict_s)
            last[name] = (proba, fitted)

    shape = "x".join(map(str, X.shape[1:]))
    print(
        f"\n== {case}: {CASES[case]['describe']} ({shape}), {len(X)} train / {len(X_test)} test "
        f"rows, basic_cnn, {args.members} members x {epochs} epochs, best of {args.repeats}"
    )
    fit_goals = PACKED_FIT_GOALS.get((case, args.members))
    packed_goal = (
        f"packed fit <= {fit_goals['tensorflow']:.2f}x (TensorFlow) / <= {fit_goals['jax']:.2f}x "
        "(JAX), " if fit_goals else ""
    )
    print(
        f"goals: sequential fit <= {SEQUENTIAL_GOALS[0]:.2f}x loop, predict_proba <= "
        f"{SEQUENTIAL_GOALS[1]:.2f}x; {packed_goal}packed predict_proba <= "
        f"{PACKED_PREDICT_GOAL:.2f}x, accuracy within {ACCURACY_POINTS} points of sequential"
    )
    header = (
        f"{'contender':26}{'fit s':>9}{'fit/loop':>10}{'predict_proba s':>17}"
        f"{'predict/loop':>14}{'accuracy':>10}  goal"
    )
    print(header)
    print("-" * len(header))
    loop_fit, loop_predict_s = min(times["loop"][0]), min(times["loop"][1])
    accuracies = {name: accuracy_of(name, *last[name], y_test) for name in contenders}
    for name in contenders:
        fit_s, predict_s = min(times[name][0]), min(times[name][1])
        fit_ratio, predict_ratio = fit_s / loop_fit, predict_s / loop_predict_s
        goals = goal_text(goals_for(name, case, args.members, backend), fit_ratio, predict_ratio)
        if name == "packed":
            gap = 100 * (accuracies["sequential"] - accuracies["packed"])
            met = "met" if gap <= ACCURACY_POINTS else "MISSED"
            goals += f", accuracy {gap:+.1f} points below sequential {met}"
        strategy = getattr(last[name][1], "fit_strategy_", None)  # how the members trained
        label = f"{name} ({strategy})" if strategy else name
        print(
            f"{label:26}{fit_s:9.2f}{fit_ratio:10.2f}{predict_s:17.3f}{predict_ratio:14.2f}"
            f"{accuracies[name]:10.4f}  {goals}"
        )
    if "scikeras" in contenders:
        bagging = last["scikeras"][1]
        distinct = np.mean([len(np.unique(s)) / len(X) for s in bagging.estimators_samples_])
        print(
            f"(scikeras: BaggingClassifier's own bootstrap draws, given as sample weights; "
            f"each member trains on its {distinct:.0%} distinct rows, weighted by counts)"
        )

    latency(last["loop"][1], last["sequential"][1], X_test, args.calls, args.latency_budget)
    print(f"({case}: {time.perf_counter() - case_started:.0f} s in all)")


def latency(loop_members, ensemble, X_test, calls, budget) -> None:
    """Median predict time for 1 row and for 10,000 rows, loop vs sequential ``predict_proba``.

    Calls alternate between the two; a row count stops after ``calls`` pairs, or
    earlier (but after at least 3) once the pairs took ``budget`` seconds.
    """
    print(
        f"\npredict latency, median of {calls} calls or of those within {budget:g} s "
        "(loop: mean of model.predict per member; sk_kerasbag: predict_proba, sequential)"
    )
    print(f"{'rows':>7}{'calls':>7}{'loop ms':>11}{'sk_kerasbag ms':>16}{'ratio':>8}")
    for n_rows in (1, LATENCY_ROWS):
        X = np.resize(X_test, (n_rows, *X_test.shape[1:]))  # repeats the test images
        loop_ms, library_ms = [], []
        spent = 0.0
        while len(loop_ms) < calls and (len(loop_ms) < 3 or spent < budget):
            started = time.perf_counter()
            loop_predict(loop_members, X)
            loop_ms.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            ensemble.predict_proba(X)
            library_ms.append(1000 * (time.perf_counter() - started))
            spent += (loop_ms[-1] + library_ms[-1]) / 1000
        loop_median, library_median = statistics.median(loop_ms), statistics.median(library_ms)
        print(
            f"{n_rows:7d}{len(loop_ms):7d}{loop_median:11.1f}{library_median:16.1f}"
            f"{library_median / loop_median:8.2f}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["digits", "large", "all"], default="all")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument(
        "--epochs", type=int, default=None, help="default: 5 for digits, 3 for large"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20, help="predict calls per latency row")
    parser.add_argument(
        "--latency-budget", type=float, default=20.0, help="seconds per latency row (min 3 calls)"
    )
    args = parser.parse_args()

    backend = keras.backend.backend()
    print(f"backend={backend} keras={keras.__version__} cpu_count={os.cpu_count()}")
    status = scikeras_status()
    if status is not None:
        print(f"scikeras: {status}")
    cases = list(CASES) if args.case == "all" else [args.case]
    for case in cases:
        bench_case(case, args, status is None, backend)


if __name__ == "__main__":
    main()
