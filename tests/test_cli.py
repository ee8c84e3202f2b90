"""The sk-kerasbag command line: the demo end to end, the TOML example, help and argument errors.

The commands run as a user runs them, in a new process with TensorFlow's log
level unset, so that what they print is what a user sees.
"""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sk_kerasbag import __version__, load
from sk_kerasbag.cli import main

from .marks import backend_independent

REPO = Path(__file__).resolve().parents[1]
# What the progress bar over members prints (to stderr, redrawn with \r).
PROGRESS = re.compile(r"^members: +\d+%")


# Where the help part of _HELP_THEN_SK_KERASBAG's output ends, on stdout and on stderr.
END_OF_HELP = "-- end of the help --"
# One new process (a start costs seconds) for both: the help and version, which must
# answer without importing a backend, then ``sk-kerasbag args`` as a user runs it.
_HELP_THEN_SK_KERASBAG = (
    "import sys\n"
    "from sk_kerasbag.cli import main\n"
    "for args in (['--help'], ['demo', '--help'], ['run', '--help'], ['--version']):\n"
    "    try:\n"
    "        main(args)\n"
    "    except SystemExit as done:\n"
    "        assert done.code == 0, (args, done.code)\n"
    "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))\n"
    f"print({END_OF_HELP!r}, flush=True)\n"
    f"print({END_OF_HELP!r}, file=sys.stderr, flush=True)\n"
    "sys.exit(main())\n"
)


def _help_then_sk_kerasbag(*args, cwd=None):
    """Ask for the help and version, then run ``sk-kerasbag args``, in one new process.

    Returns the finished process and the help's stdout and stderr; the process's
    ``stdout`` and ``stderr`` are what ``sk-kerasbag args`` printed.
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", _HELP_THEN_SK_KERASBAG, *args],
        capture_output=True, text=True, env=env, cwd=cwd,
    )  # fmt: skip
    help_out, _, done.stdout = done.stdout.partition(END_OF_HELP + "\n")
    help_err, _, done.stderr = done.stderr.partition(END_OF_HELP + "\n")
    return done, help_out, help_err


def _unexpected_stderr_lines(stderr):
    lines = (line.strip() for chunk in stderr.splitlines() for line in chunk.split("\r"))
    return [line for line in lines if line and not PROGRESS.match(line)]


def test_help_and_version_without_a_backend_then_the_demo_prints_only_its_results(tmp_path):
    out = tmp_path / "demo"
    done, help_out, help_err = _help_then_sk_kerasbag(
        "demo", "--n-estimators", "3", "--epochs", "2", "--out", str(out)
    )  # three members: two would leave 40% of the rows unscored out of bag, and warn
    # The help and version answer without importing a backend.
    assert help_err == "", help_err
    assert help_out.splitlines()[-1] == "[]"
    assert "usage: sk-kerasbag [-h] [--version] COMMAND" in help_out
    assert f"sk-kerasbag {__version__}" in help_out
    assert "``" not in help_out  # plain text, not reStructuredText markup

    # The demo end to end: it prints its results and writes artifacts, ensemble and plot.
    assert done.returncode == 0, done.stderr
    # No backend start-up lines, retracing warnings or tracebacks: only the progress bar.
    assert _unexpected_stderr_lines(done.stderr) == []
    printed = done.stdout
    # The statistics table: one row per member, then the aggregates.
    assert "best_epoch" in printed and "held_epoch" in printed and "val_loss" in printed
    for row in ("mean", "std", "min", "max"):
        assert any(line.split()[:1] == [row] for line in printed.splitlines())
    assert "ensemble" in printed and "out-of-bag accuracy" in printed
    assert "WARNING" not in printed

    artifacts = out / "artifacts"
    for name in ("member_01.keras", "member_02.keras", "statistics.csv", "params.json"):
        assert (artifacts / name).is_file(), name
    assert not [p.name for p in artifacts.iterdir() if p.name.endswith(".lock")]
    assert json.loads((artifacts / "params.json").read_text())["n_estimators"] == 3
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ensemble = load(out / "ensemble")
    assert ensemble.n_estimators == 3 and len(ensemble.estimators_) == 3
    assert str(out) in printed
    assert np.isfinite(ensemble.oob_score_)
    assert f"out-of-bag accuracy: {ensemble.oob_score_:.4f}" in printed


def test_demo_without_out_leaves_nothing_in_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    assert main(["demo", "--n-estimators", "1", "--epochs", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["temporary"]
    # Besides TensorFlow's own (autograph writes the code it generates there, and
    # removes it when Python exits), one folder: the demo's.
    (run,) = [
        p for p in (tmp_path / "temporary").iterdir()
        if not p.name.startswith("__autograph_generated_file")
    ]  # fmt: skip
    assert run.name.startswith("sk-kerasbag-demo-")
    assert str(run / "ensemble") in capsys.readouterr().out
    # main() in a program's own process leaves that program's logging as it was.
    package_logger = logging.getLogger("sk_kerasbag")
    assert package_logger.handlers == [] and package_logger.level == logging.NOTSET


@backend_independent
@pytest.mark.parametrize(
    "args, problem",
    [
        (["demo", "--epochs", "0"], "argument --epochs: expected a whole number of at least 1"),
        (["demo", "--n-estimators", "two"], "argument --n-estimators: expected a whole number"),
        (["demo", "--random-state", "-1"], "argument --random-state: expected a seed"),
        (["demo", "--out", "{full}"], "argument --out: {full} is not empty"),
        (["demo", "--out", "{file}"], "argument --out: {file} is a file"),
        (["run", "{missing}"], "argument experiment: {missing}: no such file"),
        (["bogus"], "invalid choice: 'bogus'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_a_mistake_in_the_arguments_is_one_line_naming_it(tmp_path, capsys, args, problem):
    places = {"full": tmp_path / "full", "file": tmp_path / "file", "missing": tmp_path / "no.toml"}
    places["full"].mkdir()
    (places["full"] / "mine.txt").write_text("mine")
    places["file"].write_text("mine")
    args = [a.format(**places) for a in args]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("sk-kerasbag") and problem.format(**places) in line
    assert (places["full"] / "mine.txt").read_text() == "mine"


@backend_independent
def test_the_readme_runs_the_toml_example(tmp_path, capsys):
    readme = (REPO / "README.md").read_text()
    assert "sk-kerasbag run examples/experiment.toml" in readme
    # A copy, so that the runs are written below tmp_path, not into the repository.
    for name in ("experiment.toml", "experiment_models.py"):
        shutil.copy(REPO / "examples" / name, tmp_path / name)
    assert main(["run", str(tmp_path / "experiment.toml")]) == 0
    printed = capsys.readouterr().out
    for run in ("narrow", "wide"):
        assert re.search(rf"^{run} .* 0\.\d{{4}} +0\.\d{{4}}", printed, re.MULTILINE), printed
        test = np.load(tmp_path / "runs" / run / "test_predictions.npy")
        oof = np.load(tmp_path / "runs" / run / "oof_predictions.npy")
        assert test.shape == (450, 10) and oof.shape == (1347, 10)
        np.testing.assert_allclose(test.sum(axis=1), 1, rtol=1e-5)


@backend_independent
@pytest.mark.parametrize("check", [False, True], ids=["run", "run --check"])
def test_a_builder_that_returns_no_model_is_a_one_line_error(tmp_path, capsys, check):
    (tmp_path / "forgetful_models.py").write_text(
        "def forgets_to_return(input_shape, n_classes):\n    pass  # no return: None\n"
    )
    experiment = tmp_path / "forgetful.toml"
    experiment.write_text(
        '[model]\nbuilder = "forgetful_models:forgets_to_return"\n'
        '[estimator]\nclass = "BaggedKerasClassifier"\n'
        "params = { n_estimators = 1, epochs = 1, random_state = 0 }\n"
        '[data]\nsource = "digits"\nn_samples = 100\n'
    )
    assert main(["run", *(["--check"] if check else []), str(experiment)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"sk-kerasbag run: error: {experiment}: ")
    assert line.endswith(
        "The model builder forgets_to_return returned NoneType; it must return a compiled "
        "keras.Model."
    )
