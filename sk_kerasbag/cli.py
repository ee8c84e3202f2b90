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
    demo = commands.add_parser("demo", help="bagged CNN on scikit-learn's bundled digits images")
    demo.add_argument("--n-estimators", type=int, default=5, help="members (default 5)")
    demo.add_argument("--epochs", type=int, default=8, help="epochs per member (default 8)")
    demo.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    demo.add_argument(
        "--out", help="new folder for artifacts, saved ensemble and plot "
        "(default: sk-kerasbag-demo/<date-time>)",
    )  # fmt: skip
    run = commands.add_parser(
        "run",
        help="train the runs described in a TOML experiment file",
        description="Train the runs of a TOML experiment file. Its keys: "
        "python -m pydoc sk_kerasbag.experiment",
    )
    run.add_argument("experiment", help="the experiment file (see sk_kerasbag.experiment)")
    run.add_argument("--check", action="store_true", help="only check the file and list its runs")
    args = parser.parse_args(argv)
    # The progress bar already shows each member; the log shows warnings.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "run":
        return run_file(args.experiment, check_only=args.check)
    return run_demo(args.n_estimators, args.epochs, args.random_state, args.out)


def run_file(path: str, check_only: bool = False) -> int:
    """Run (or only check) an experiment file; report a mistake in it without a traceback.

    Parameters
    ----------
    path : str
        The TOML experiment file.
    check_only : bool, default=False
        Check the file, its builder and its data, and list the runs, without training.

    Returns
    -------
    int
        Exit status: 0, or 2 for a mistake in the file (as argparse does for arguments).
    """
    from .experiment import ExperimentError, load_experiment, run_experiment

    try:
        if not check_only:
            run_experiment(path)
            return 0
        experiment = load_experiment(path)
        experiment.check_models()
    except ExperimentError as error:
        print(f"sk-kerasbag run: error: {path}: {error}", file=sys.stderr)
        return 2
    print(experiment.describe())
    print("OK: the file, its data and the model its builder makes check out")
    return 0


def run_demo(
    n_estimators: int, epochs: int, random_state: int, out: str | os.PathLike | None = None
) -> int:
    """Train a bagged CNN on the digits images; print statistics and scores; write artifacts.

    Parameters
    ----------
    n_estimators : int
        Number of members.
    epochs : int
        Epochs per member.
    random_state : int
        Seed for the split and the members.
    out : str or path-like, optional
        New folder for the run's artifacts (member models, histories,
        statistics), the saved ensemble and the history plot; by default
        ``sk-kerasbag-demo/<date-time>`` in the working directory.

    Returns
    -------
    int
        Exit status (0).
    """
    from pathlib import Path

    import numpy as np
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    from .bagging import BaggedKerasClassifier
    from .datasets import load_digits_images
    from .models import basic_cnn

    out = Path(out or Path("sk-kerasbag-demo") / time.strftime("%Y%m%d-%H%M%S"))
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state
    )
    print(
        f"digits: {len(X_train)} training and {len(X_test)} test images of shape "
        f"{X.shape[1:]}; bagging {n_estimators} CNNs x up to {epochs} epochs\n"
    )
    started = time.perf_counter()
    ensemble = BaggedKerasClassifier(
        basic_cnn,
        n_estimators=n_estimators,
        epochs=epochs,
        validation_split=0.1,
        patience=3,  # each member keeps its best epoch, and stops 3 epochs after it
        oob_score=True,
        random_state=random_state,
        save_dir=out / "artifacts",
        verbose=1,  # progress bar over members, then the statistics table
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

    ensemble.save(out / "ensemble")
    print(f"\nartifacts (member models, histories, statistics): {out / 'artifacts'}")
    print(f"saved ensemble (load with sk_kerasbag.load): {out / 'ensemble'}")
    plot = _save_history_plot(ensemble, out / "history.png")
    if plot is not None:
        print(f"training curves: {plot}")
    return 0


def _save_history_plot(ensemble, path) -> str | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logging.getLogger("sk_kerasbag").warning(
            'No plot: matplotlib is not installed (pip install "sk-kerasbag[plot]").'
        )
        return None
    from .plotting import plot_history

    # A Figure without pyplot needs no display and no GUI backend.
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    plot_history(ensemble, metric="loss", ax=figure.add_subplot())
    figure.savefig(path, dpi=120)
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
