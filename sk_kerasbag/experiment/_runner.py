"""Running a checked experiment: each run's fit and scores, its files, the comparison table."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.base import clone, is_classifier

from .._heldout import heldout_of
from ..folders import class_folder_images
from ..reporting import render_table
from ..stacking import oof_predict
from ._schema import Experiment, Run, format_params, importable_from, load_experiment


def run_experiment(
    path: str | os.PathLike, *, out: Callable[[str], Any] = print
) -> list[dict[str, Any]]:
    """Run every run of an experiment file, printing scores and writing the outputs.

    Parameters
    ----------
    path : str or path-like
        The TOML file (see the module documentation for its keys).
    out : callable, default=print
        Called with each line of the report.

    Returns
    -------
    list of dict
        Per run: ``name``, ``changed`` (its schedule parameters), ``test_score``
        (accuracy or R^2 on the test data, None without test labels),
        ``heldout_score`` (``oob_score_`` or ``oof_score_``, None without),
        ``fit_seconds``, ``estimator`` (fitted) and ``dir`` (None without output).

    Raises
    ------
    ExperimentError
        For any mistake in the file, before any training starts.
    """
    experiment = load_experiment(path)
    out(experiment.describe(runs=False))
    results = []
    # The builder's folder stays importable while training: joblib workers
    # started for n_jobs import the builder's module again.
    with importable_from(experiment.path.parent):
        for i, run in enumerate(experiment.runs, start=1):
            changed = format_params(run.changed)
            out(
                f"\nrun {i}/{len(experiment.runs)} {run.name}" + (f": {changed}" if changed else "")
            )
            results.append(_run_one(experiment, run, out))
    if experiment.scheduled:
        out("\n" + _comparison_table(results))
    return results


def _run_one(experiment: Experiment, run: Run, out: Callable[[str], Any]) -> dict[str, Any]:
    estimator = experiment.make_estimator(run)
    output = experiment.output
    run_dir = None if output is None else output["dir"] / run.name
    artifacts = output is not None and output["artifacts"]
    if artifacts:
        estimator.set_params(save_dir=str(run_dir / "artifacts"))

    started = time.perf_counter()
    estimator.fit(experiment.X_train, experiment.y_train)
    seconds = time.perf_counter() - started

    metric = "accuracy" if is_classifier(estimator) else "R^2"
    test_score = None
    if experiment.X_test is not None and experiment.y_test is not None:
        test_score = float(estimator.score(experiment.X_test, experiment.y_test))
    heldout = heldout_of(estimator)
    heldout_score = None if heldout is None else float(heldout.score)
    parts = [f"fit {seconds:.1f} s"]
    if test_score is not None:
        parts.append(f"test {metric} {test_score:.4f}")
    if heldout_score is not None:
        parts.append(f"held-out {metric} {heldout_score:.4f}")
    out("  " + "; ".join(parts))

    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_outputs(experiment, estimator, run_dir, out)
    if artifacts:
        out(estimator.summary(verbose=0))
    return {
        "name": run.name,
        "changed": run.changed,
        "test_score": test_score,
        "heldout_score": heldout_score,
        "fit_seconds": seconds,
        "estimator": estimator,
        "dir": run_dir,
    }


def _write_outputs(experiment: Experiment, estimator, run_dir: Path, out) -> None:
    output = experiment.output
    classifier = is_classifier(estimator)
    columns = [str(c) for c in estimator.classes_] if classifier else None
    if classifier and _prediction_method(estimator) == "decision_function" and len(columns) == 2:
        columns = columns[1:]  # one score per row, positive for classes_[1] (scikit-learn's)
    if output["predictions"] and experiment.X_test is not None:
        predict = getattr(estimator, _prediction_method(estimator))
        _save(
            run_dir / "test_predictions", predict(experiment.X_test), output["format"], columns, out
        )
        if experiment.test_files is not None:
            # Row i of the predictions is this file's line i.
            (run_dir / "test_files.txt").write_text("\n".join(experiment.test_files) + "\n")
    if output["oof"]:
        oof = _oof(experiment, estimator, out)
        _save(run_dir / "oof_predictions", oof, output["format"], columns, out)


def _oof(experiment: Experiment, estimator, out) -> np.ndarray:
    """Out-of-fold predictions of the training rows, by the cheapest honest route."""
    heldout = heldout_of(estimator)
    if heldout is not None:
        return heldout.predictions
    cv = experiment.output["oof_cv"]
    out(
        f"  oof: {type(estimator).__name__} has no held-out predictions "
        f"(oob_score = false); cross-fitting {cv} more ensembles with oof_predict"
    )
    X, y = experiment.X_train, experiment.y_train
    if y is None:  # a folder: oof_predict splits a list of paths
        X, y = class_folder_images(X)
    unfitted = clone(estimator)
    unfitted.set_params(save_dir=None)  # the folds must not write into the run's artifacts
    return oof_predict(unfitted, X, y, cv=cv, method=_prediction_method(estimator))[0]


def _prediction_method(estimator) -> str:
    """What a fitted estimator's predictions are written as: probabilities, scores or values."""
    if not is_classifier(estimator):
        return "predict"
    return "predict_proba" if hasattr(estimator, "predict_proba") else "decision_function"


def _save(stem: Path, values: np.ndarray, fmt: str, columns, out) -> None:
    values = np.asarray(values)
    if fmt == "npy":
        path = stem.with_suffix(".npy")
        np.save(path, values)
    else:
        path = stem.with_suffix(".csv")
        table = values.reshape(len(values), -1)
        if columns is None:
            columns = [f"output_{i}" for i in range(table.shape[1])]
        np.savetxt(path, table, delimiter=",", header=",".join(columns), comments="", fmt="%.6g")
    out(f"  wrote {path} {values.shape}")


def _comparison_table(results: list[dict]) -> str:
    metric = "accuracy" if is_classifier(results[0]["estimator"]) else "R^2"

    def score(value):
        return "-" if value is None else f"{value:.4f}"

    header = ["run", "changed params", f"test {metric}", f"held-out {metric}", "fit s"]
    rows = [
        [
            r["name"],
            format_params(r["changed"]) or "-",
            score(r["test_score"]),
            score(r["heldout_score"]),
            f"{r['fit_seconds']:.1f}",
        ]
        for r in results
    ]
    return render_table(header, rows, left_columns=2)
