"""Cost of run artifacts and per-epoch checkpoints (``save_dir``), and of resuming.

Fits the digits CNN (3 members, validation split) in one process without and
with ``save_dir``, interleaved and repeated, and prints the best fit time of
each as a ratio to the fit without artifacts. Then times a resumed fit that
finds every member finished (it only reloads them) against the fit itself,
and checks that it predicts identically.

Run: python benchmarks/bench_artifacts.py [--epochs 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from sk_kerasbag import BaggedKerasClassifier, load_digits_images  # noqa: E402
from sk_kerasbag.models import basic_cnn  # noqa: E402


def fit(X, y, epochs, save_dir=None, resume=False):
    ensemble = BaggedKerasClassifier(
        basic_cnn,
        n_estimators=3,
        epochs=epochs,
        validation_split=0.1,
        random_state=0,
        save_dir=save_dir,
        resume=resume,
    )
    started = time.perf_counter()
    ensemble.fit(X, y)
    return time.perf_counter() - started, ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    X, y = load_digits_images()
    fit(X[:200], y[:200], 1)  # warm up imports and first tracing

    plain, saved = [], []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            plain.append(fit(X, y, args.epochs)[0])
            seconds, ensemble = fit(X, y, args.epochs, save_dir=Path(folder) / f"run{repeat}")
            saved.append(seconds)
        run0 = Path(folder) / "run0"
        reload_seconds, reloaded = fit(X, y, args.epochs, save_dir=run0, resume=True)
        identical = np.array_equal(reloaded.predict_proba(X), ensemble.predict_proba(X))
        size = sum(p.stat().st_size for p in run0.iterdir()) / 2**20

    print(f"backend {keras.backend.backend()}, digits CNN, 3 members x {args.epochs} epochs")
    print(f"fit without save_dir      {min(plain):6.2f} s  1.00")
    print(f"fit with save_dir         {min(saved):6.2f} s  {min(saved) / min(plain):.2f}")
    print(f"resume, all finished      {reload_seconds:6.2f} s  {reload_seconds / min(plain):.2f}")
    print(f"artifacts on disk         {size:6.2f} MB; reloaded predictions identical: {identical}")


if __name__ == "__main__":
    main()
