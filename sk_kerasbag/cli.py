"""The ``sk-kerasbag`` command line: the digits demo, and experiments described in TOML files.

Arguments are checked before Keras is imported, so ``--help``, ``--version``
and a mistake in an argument answer at once, the mistake in one line with
exit status 2 (as argparse does).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from ._version import __version__

_DESCRIPTION = (
    "Bagged and K-fold ensembles of Keras models as scikit-learn estimators. "
    "'sk-kerasbag demo' trains a bagged CNN on scikit-learn's bundled digits images; "
    "'sk-kerasbag run FILE' trains the runs an experiment file describes."
)


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
    parser = _parser()
    args = parser.parse_args(argv)
    # TensorFlow's C++ information lines (it reads this when it loads); the
    # start-up lines that ignore it are left out by _backend.import_keras.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    from ._backend import import_keras

    import_keras()
    with _package_warnings_shown():
        if args.command == "run":
            return run_file(args.experiment, check_only=args.check)
        return run_demo(args.n_estimators, args.epochs, args.random_state, args.out)


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported in one line (and where to read more) instead of usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sk-kerasbag", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"sk-kerasbag {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    demo = commands.add_parser(
        "demo",
        help="train a bagged CNN on scikit-learn's bundled digits images",
        description="Train a bagged CNN on scikit-learn's bundled digits images; print each "
        "member's statistics and test accuracy and the ensemble's; write the run's artifacts, "
        "the saved ensemble and a plot of the training curves.",
    )
    demo.add_argument(
        "--n-estimators", type=_positive, default=5, metavar="N", help="members (default 5)"
    )
    demo.add_argument(
        "--epochs", type=_positive, default=8, metavar="N", help="epochs per member (default 8)"
    )
    demo.add_argument(
        "--random-state", type=_seed, default=0, metavar="SEED", help="seed (default 0)"
    )
    demo.add_argument(
        "--out",
        type=_new_folder,
        metavar="FOLDER",
        help="new or empty folder for the artifacts, saved ensemble and plot "
        "(default: a new folder in the system's temporary directory)",
    )
    run = commands.add_parser(
        "run",
        help="train the runs described in a TOML experiment file",
        description="Train the runs of a TOML experiment file (an example: "
        "examples/experiment.toml). Its keys: python -m pydoc sk_kerasbag.experiment",
    )
    run.add_argument("experiment", type=_file, help="the experiment file")
    run.add_argument("--check", action="store_true", help="only check the file and list its runs")
    return parser


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def _seed(text: str) -> int:
    value = _integer(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to 2**32 - 1, got {text}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _new_folder(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file; give a new or empty folder")
    if path.is_dir() and any(path.iterdir()):
        raise argparse.ArgumentTypeError(
            f"{path} is not empty; give a new or empty folder (nothing in it is overwritten)"
        )
    return path


def _file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return text


@contextlib.contextmanager
def _package_warnings_shown() -> Iterator[None]:
    """Print the package's log warnings (a packing fallback, say) as ``WARNING: ...`` lines.

    Only the ``sk_kerasbag`` logger gets a handler, and only while the
    command runs: the root logger, other libraries' logging, and the logging
    of a program that calls :func:`main` are left as they were.
    """
    logger = logging.getLogger("sk_kerasbag")
    if logger.handlers:  # the caller set up the package's logging: keep theirs
        yield
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


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
        Exit status: 0, or 2 for a mistake in the file, its builder or its data
        (as argparse does for arguments).
    """
    from .exceptions import NotFiniteError
    from .experiment import load_experiment, run_experiment

    # The user's mistakes: in the file (ExperimentError, a ValueError), and those fit
    # finds in what the file names, from the library's own checks (a builder that
    # returns no model, data it cannot train on) to a member that diverges.
    try:
        if not check_only:
            run_experiment(path)
            return 0
        experiment = load_experiment(path)
        experiment.check_models()
    except (ValueError, TypeError, NotFiniteError) as error:
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
        New or empty folder for the run's artifacts (member models,
        histories, statistics), the saved ensemble and the plot of the
        training curves; by default a new folder in the system's temporary
        directory.

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

    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="sk-kerasbag-demo-"))
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
    out_of_bag = np.isfinite(ensemble.oob_decision_function_).all(axis=1).sum()
    print(
        f"\nout-of-bag accuracy: {ensemble.oob_score_:.4f} (on the {out_of_bag} of "
        f"{len(X_train)} training images that some member did not train on)"
    )
    print(f"fit time: {seconds:.1f} s")

    ensemble.save(out / "ensemble")
    print(f"\nartifacts (member models, histories, statistics): {out / 'artifacts'}")
    print(f"saved ensemble (load with sk_kerasbag.load): {out / 'ensemble'}")
    plot = _save_training_plot(ensemble, out / "history.png")
    if plot is not None:
        print(f"training curves: {plot}")
    return 0


def _save_training_plot(ensemble, path: Path) -> Path | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logging.getLogger("sk_kerasbag").warning(
            'No plot: matplotlib is not installed (pip install "sk-kerasbag[plot]").'
        )
        return None
    from .plotting import plot_training

    # A Figure without pyplot needs no display and no GUI backend.
    figure = plot_training(ensemble, figure=Figure(figsize=(11, 4.5), layout="constrained"))
    figure.savefig(path, dpi=110)
    return path


if __name__ == "__main__":
    sys.exit(main())
