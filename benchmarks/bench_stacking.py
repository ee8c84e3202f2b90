"""OOFStackingClassifier against scikit-learn's StackingClassifier, on the stacking example.

Side by side in one process, with the base models of ``examples/stacking.py``
(a bagged CNN, a K-fold dense net, a logistic regression) and the same
``LogisticRegression`` final estimator, folds and data (digits, 70/30 split):

* ``StackingClassifier``: fits every base model once per fold (for the
  out-of-fold features) and once more on all training rows (for the test
  features);
* ``OOFStackingClassifier``: the same, except that the K-fold dense net is
  fitted once, on the stacker's folds, and gives both.

For each: the builder calls (every Keras member built, plus one throw-away
check build per ensemble fit), wall time of ``fit`` and test accuracy. The
two stacks train the bagged CNN and the linear model identically.

Run: python benchmarks/bench_stacking.py [--epochs 10] [--members 3] [--cv 5]
(the example's defaults; about 6 minutes on 2 cores. ``--epochs 5 --members 2
--cv 3`` takes about one and a half.)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from sklearn.ensemble import StackingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sk_kerasbag import OOFStackingClassifier, load_digits_images  # noqa: E402

BUILDS = {"count": 0}


def counting(builder):
    """``builder``, counting its calls in ``BUILDS`` (members train in this process)."""

    def build(input_shape, n_classes, **kwargs):
        BUILDS["count"] += 1
        return builder(input_shape, n_classes, **kwargs)

    build.__name__ = builder.__name__
    return build


def example_module():
    path = Path(__file__).resolve().parents[1] / "examples" / "stacking.py"
    spec = importlib.util.spec_from_file_location("stacking_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--cv", type=int, default=5)
    args = parser.parse_args()

    example = example_module()
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    print(
        f"backend={keras.backend.backend()} keras={keras.__version__} cpu_count={os.cpu_count()}"
        f"; the stacking example's bases, {args.epochs} epochs, {args.members} bagged members,"
        f" cv={args.cv}"
    )
    header = f"{'stacker':<22} {'builder calls':>13} {'fit s':>8} {'test accuracy':>13}"
    print(header)
    print("-" * len(header))
    for stacker_class in (StackingClassifier, OOFStackingClassifier):
        bases = example.base_models(args.epochs, args.members, args.cv)
        for model in bases.values():
            if hasattr(model, "model"):
                model.set_params(model=counting(model.model))
        stacker = stacker_class(
            list(bases.items()), final_estimator=LogisticRegression(max_iter=2000), cv=args.cv
        )
        BUILDS["count"] = 0
        started = time.perf_counter()
        stacker.fit(X_train, y_train)
        seconds = time.perf_counter() - started
        accuracy = stacker.score(X_test, y_test)
        print(
            f"{stacker_class.__name__:<22} {BUILDS['count']:>13} {seconds:>8.1f} {accuracy:>13.4f}"
        )


if __name__ == "__main__":
    main()
