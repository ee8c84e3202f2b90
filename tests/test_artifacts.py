"""Run artifacts under save_dir, fit statistics, atomic writes and resuming after SIGKILL."""

import contextlib
import copy
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from sk_kerasbag import BaggedKerasClassifier, KFoldKerasClassifier, KFoldKerasRegressor
from sk_kerasbag._callbacks import Checkpointing
from sk_kerasbag._files import TEMPORARY_PREFIX, atomic_path, exclusive, read_csv_floats, sha256

from . import builders
from .builders import KillSwitch, dense_classifier, dense_regressor, small_cnn, three_class_rows
from .marks import backend_independent, worker_processes
from .shared import shared_fixture

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    return three_class_rows(120)


def _fingerprints(folder: Path, pattern: str) -> dict[str, tuple[str, int]]:
    return {p.name: (sha256(p), p.stat().st_mtime_ns) for p in sorted(folder.glob(pattern))}


# The finished run most tests read (or resume, tamper with or lock a copy of): fitted
# once, verbosely, instead of again in each test. verbose is no part of a run's
# identity (a resumed fit may differ in it).
FINISHED = dict(n_estimators=3, epochs=4, validation_split=0.25, random_state=0)


@shared_fixture
def finished_run(data, tmp_path_factory):
    """The fitted classifier, its run folder, and what its fit printed (stdout, stderr)."""
    X, y = data
    run = tmp_path_factory.mktemp("finished") / "run"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        clf = BaggedKerasClassifier(
            dense_classifier, **FINISHED, verbose=1, save_dir=run
        ).fit(X, y)  # fmt: skip
    return clf, run, (stdout.getvalue(), stderr.getvalue())


def test_a_fit_with_save_dir_trains_the_members_of_a_fit_without(finished_run, data):
    # Writing a run folder (checkpoints after every epoch) must not change the batches.
    X, y = data
    saved = finished_run[0]
    plain = BaggedKerasClassifier(dense_classifier, **FINISHED).fit(X, y)
    assert plain.histories_ == saved.histories_
    for ours, theirs in zip(plain.estimators_, saved.estimators_):
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)


def _copy_of_run(finished_run, tmp_path) -> Path:
    """A copy of the finished run folder (modification times kept), to resume or change."""
    return Path(shutil.copytree(finished_run[1], tmp_path / "run"))


def test_artifacts_are_written_and_readable(data, finished_run):
    X, y = data
    clf, run, _ = finished_run

    names = {p.name for p in run.iterdir()}
    assert {"run.json", "params.json", "plans.npz", "statistics.csv", "statistics.json"} <= names
    assert not [name for name in names if name.startswith(TEMPORARY_PREFIX)]
    assert not [name for name in names if ".epoch-" in name or "checkpoint" in name]
    assert json.loads((run / "params.json").read_text())["n_estimators"] == 3

    for k, (model, history) in enumerate(zip(clf.estimators_, clf.histories_), start=1):
        record = json.loads((run / f"member_{k:02d}.json").read_text())
        saved_history = read_csv_floats(run / f"member_{k:02d}.history.csv")
        assert saved_history.pop("epoch") == [1.0, 2.0, 3.0, 4.0]
        assert saved_history == history
        best = int(np.argmin(history["val_loss"])) + 1
        assert record["best_epoch"] == record["held_epoch"] == best
        assert clf.fit_statistics_["held_epoch"][k - 1] == best
        # One model file per member: the one the ensemble predicts with.
        assert record["model"] == f"member_{k:02d}.keras"
        member_file = keras.saving.load_model(run / record["model"])
        np.testing.assert_array_equal(
            member_file.predict(X, verbose=0), model.predict(X, verbose=0)
        )
    assert not list(run.glob("*.final.keras"))

    statistics = json.loads((run / "statistics.json").read_text())
    np.testing.assert_allclose(
        statistics["across_members"]["val_loss"]["mean"], np.mean(clf.fit_statistics_["val_loss"])
    )
    rows = (run / "statistics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3", "mean", "std", "min", "max"]


def test_fit_statistics_and_summary(data, capsys):
    X, y = data
    clf = BaggedKerasClassifier(dense_classifier, n_estimators=2, epochs=3, random_state=0)
    clf.fit(X, y)
    stats = clf.fit_statistics_
    assert list(stats["member"]) == [1, 2]
    assert list(stats["epochs"]) == [3, 3]
    # Without validation data the best epoch is by training loss; the member holds its last.
    assert list(stats["best_epoch"]) == [int(np.argmin(h["loss"])) + 1 for h in clf.histories_]
    assert list(stats["held_epoch"]) == [3, 3]
    assert stats["loss"].tolist() == [h["loss"][-1] for h in clf.histories_]
    # Recorded, not timed: a member that trained has a duration (0 would mean none was kept).
    assert (stats["seconds"] > 0).all()

    table = clf.summary()
    assert capsys.readouterr().out == ""  # verbose=0: returned, not printed
    lines = table.splitlines()
    assert lines[0].split() == [
        "member", "epochs", "best_epoch", "held_epoch", "accuracy", "loss", "seconds"
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[2:4] + lines[5:]] == [
        "1", "2", "mean", "std", "min", "max"
    ]  # fmt: skip
    assert f"{np.mean(stats['loss']):.4f}" in lines[5]
    clf.summary(verbose=1)
    assert capsys.readouterr().out == table + "\n"


def test_verbose_shows_progress_over_members_and_the_table(finished_run):
    out, err = finished_run[2]  # the shared run was fitted with verbose=1
    assert "3/3" in err and "val_loss=" in err  # tqdm bar, on stderr
    assert "mean" in out and "best_epoch" in out


@backend_independent
def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path):
    path = tmp_path / "statistics.csv"
    path.write_text("finished\n")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as temporary:
            temporary.write_text("half-writ")
            raise RuntimeError("killed")
    assert path.read_text() == "finished\n"
    assert [p.name for p in tmp_path.iterdir()] == ["statistics.csv"]


_KILLED_FIT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from sk_kerasbag import {estimator}
    from tests.builders import KillSwitch, stateful_callbacks, {builder}
    arrays = np.load(sys.argv[1])
    callbacks = {callbacks} + [KillSwitch(sys.argv[2], 1, 2)]
    {estimator}({builder}, callbacks=callbacks, **{params}).fit(arrays["X"], arrays["y"])
    """
)

# Each case is a killed fit, its resumption and an uninterrupted fit (one of them in
# a new process): a few cases covering the member's data paths between them.
_RESUME_CASES = {
    # Augmented batches from the host, and validation rows split off the training rows.
    "augmented-images": (
        "BaggedKerasClassifier",
        "small_cnn",
        None,
        {"augmentation": {"rotation_range": 20, "horizontal_flip": True}, "validation_split": 0.2},
    ),
    # The state of the member's callbacks must survive the kill too.
    "stateful-callbacks": (
        "KFoldKerasClassifier",
        "dense_classifier",
        "stateful_callbacks",
        {"validate_on_heldout": True},
    ),
}


@pytest.mark.parametrize("case", list(_RESUME_CASES))
def test_resume_after_sigkill_reuses_finished_members_and_the_interrupted_epoch(
    case, data, tmp_path
):
    estimator_name, builder_name, callbacks, extra = _RESUME_CASES[case]
    X, y = data
    if builder_name == "small_cnn":
        X = X[:, :4].reshape(-1, 2, 2, 1).repeat(3, axis=1).repeat(3, axis=2)
    estimator_class = {
        "BaggedKerasClassifier": BaggedKerasClassifier,
        "KFoldKerasClassifier": KFoldKerasClassifier,
    }[estimator_name]
    builder = {"dense_classifier": dense_classifier, "small_cnn": small_cnn}[builder_name]
    run = tmp_path / "run"
    size = {"n_estimators": 3} if "Bagged" in estimator_name else {"n_splits": 3}
    params = {**size, "epochs": 4, "batch_size": 16, "random_state": 0, **extra}

    np.savez(tmp_path / "data.npz", X=X, y=y)
    script = _KILLED_FIT.format(
        estimator=estimator_name,
        builder=builder_name,
        callbacks=f"{callbacks}()" if callbacks else "[]",
        params={**params, "save_dir": str(run)},
    )
    killed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data.npz"), str(run)],
        cwd=REPO,
        env={**os.environ, "SK_KERASBAG_KILL": "1", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    finished = _fingerprints(run, "member_01*")
    assert "member_01.json" in finished and not (run / "member_02.json").exists()
    checkpoint = json.loads((run / "member_02.checkpoint.json").read_text())
    assert checkpoint["epochs_done"] == 2  # killed mid-way through its third epoch

    def user_callbacks():
        return (getattr(builders, callbacks)() if callbacks else []) + [KillSwitch(run, 1, 2)]

    KillSwitch.epochs_begun.clear()
    resumed = estimator_class(
        builder, callbacks=user_callbacks(), save_dir=run, resume=True, **params
    ).fit(X, y)
    # Member 1 was reloaded, member 2 continued at its third epoch, member 3 ran in full.
    assert KillSwitch.epochs_begun[:1] == [2] and KillSwitch.epochs_begun.count(0) == 1
    assert _fingerprints(run, "member_01*") == finished
    assert not list(run.glob("*checkpoint*")) and not list(run.glob("*.epoch-*"))

    KillSwitch.epochs_begun.clear()
    uninterrupted = estimator_class(
        builder, callbacks=user_callbacks(), save_dir=tmp_path / "whole", **params
    ).fit(X, y)
    assert resumed.histories_ == uninterrupted.histories_
    np.testing.assert_array_equal(resumed.predict_proba(X), uninterrupted.predict_proba(X))


def test_resume_with_unseeded_splits_reuses_the_recorded_rows(data, tmp_path):
    X, y = data
    y = y.astype(float)
    params = dict(n_splits=2, epochs=1, save_dir=tmp_path / "run")
    first = KFoldKerasRegressor(dense_regressor, **params).fit(X, y)
    again = KFoldKerasRegressor(dense_regressor, resume=True, **params).fit(X, y)
    for (train_a, test_a), (train_b, test_b) in zip(first.folds_, again.folds_):
        np.testing.assert_array_equal(train_a, train_b)
        np.testing.assert_array_equal(test_a, test_b)
    np.testing.assert_array_equal(first.predict(X), again.predict(X))
    np.testing.assert_array_equal(first.oof_prediction_, again.oof_prediction_)


def test_resume_refuses_changed_parameters_or_data(data, finished_run, tmp_path):
    X, y = data
    params = dict(FINISHED, save_dir=_copy_of_run(finished_run, tmp_path))
    before = _fingerprints(tmp_path / "run", "*")

    with pytest.raises(ValueError, match=r"parameters differ: epochs, model__hidden, patience"):
        BaggedKerasClassifier(
            dense_classifier, **{**params, "epochs": 2}, model__hidden=8, patience=1, resume=True
        ).fit(X, y)
    with pytest.raises(ValueError, match="training data differ"):
        BaggedKerasClassifier(dense_classifier, **params, resume=True).fit(X[::-1], y[::-1])
    with pytest.raises(FileExistsError, match="already holds a run.*resume=True"):
        BaggedKerasClassifier(dense_classifier, **params).fit(X, y)
    assert _fingerprints(tmp_path / "run", "*") == before


def test_save_dir_never_writes_into_a_folder_holding_other_files(data, tmp_path):
    X, y = data
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        BaggedKerasClassifier(dense_classifier, n_estimators=1, epochs=1, save_dir=tmp_path).fit(
            X, y
        )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(ValueError, match="resume=True needs save_dir"):
        BaggedKerasClassifier(dense_classifier, n_estimators=1, epochs=1, resume=True).fit(X, y)


def test_tampered_member_file_is_refused_on_resume(data, finished_run, tmp_path):
    X, y = data
    params = dict(FINISHED, save_dir=_copy_of_run(finished_run, tmp_path))
    with open(tmp_path / "run" / "member_02.keras", "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01")
    with pytest.raises(ValueError, match=r"member_02.keras does not match"):
        BaggedKerasClassifier(dense_classifier, **params, resume=True).fit(X, y)


def test_a_run_in_use_by_another_process_is_refused(data, finished_run, tmp_path):
    X, y = data
    params = dict(FINISHED, save_dir=_copy_of_run(finished_run, tmp_path))
    # Held as another fit (or a worker of a killed fit) would hold them.
    for lock in (".lock", ".member_02.lock"):
        with exclusive(tmp_path / "run" / lock, "test"):
            with pytest.raises(RuntimeError, match="in use by another process"):
                BaggedKerasClassifier(dense_classifier, **params, resume=True).fit(X, y)
    BaggedKerasClassifier(dense_classifier, **params, resume=True).fit(X, y)


def test_a_fit_failing_validation_leaves_no_run_behind(data, tmp_path):
    X, y = data
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=1, epochs=1, save_dir=tmp_path / "run"
    )
    with pytest.raises(ValueError, match="validation_data"):
        clf.fit(X, y, validation_data=(X[:5], y[:4]))
    assert not (tmp_path / "run").exists()
    clf.fit(X, y, validation_data=(X[:5], y[:5]))
    assert (tmp_path / "run" / "member_01.json").is_file()


def test_artifacts_get_the_usual_file_permissions(finished_run):
    mask = os.umask(0o022)
    os.umask(mask)
    run = finished_run[1]  # written in this process, under this umask
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.iterdir() if p.is_file()}
    assert modes["member_01.keras"] == modes["statistics.csv"] == 0o666 & ~mask


@worker_processes
def test_members_trained_and_reloaded_in_worker_processes(data, tmp_path):
    X, y = data
    params = dict(n_estimators=2, epochs=2, random_state=0, n_jobs=2)
    run = tmp_path / "parallel"
    fitted = BaggedKerasClassifier(dense_classifier, save_dir=run, **params).fit(X, y)
    files = _fingerprints(run, "member_*")
    sequential = BaggedKerasClassifier(
        dense_classifier, save_dir=tmp_path / "sequential", **{**params, "n_jobs": None}
    ).fit(X, y)
    np.testing.assert_array_equal(fitted.predict_proba(X), sequential.predict_proba(X))
    reloaded = BaggedKerasClassifier(dense_classifier, save_dir=run, resume=True, **params)
    np.testing.assert_array_equal(reloaded.fit(X, y).predict_proba(X), fitted.predict_proba(X))
    assert _fingerprints(run, "member_*") == files


_KILLED_PACKED_FIT = textwrap.dedent(
    """
    import json, os, signal, sys
    import numpy as np
    from sk_kerasbag import KFoldKerasClassifier, _vectorised
    from sk_kerasbag._batches import RowBatches
    from tests.builders import dense_classifier
    get_batch, member_batches = RowBatches.__getitem__, _vectorised.member_batches

    def kill_in_epoch_3(index):
        # Packed fits take no callbacks: kill from inside the batches, once epoch 3 has
        # begun and epoch 2 is checkpointed (TensorFlow reads batches ahead of the step).
        checkpoint = os.path.join(sys.argv[2], "packed.checkpoint.json")
        if index >= 1 and os.path.exists(checkpoint):
            with open(checkpoint) as handle:
                if json.load(handle)["epochs_done"] == 2:
                    os.kill(os.getpid(), signal.SIGKILL)

    def killing_get_batch(self, index):  # multi-output packing
        if self.seed is not None:
            kill_in_epoch_3(index)
        return get_batch(self, index)

    def killing_member_batches(*args):  # vectorised members
        for index, batch in enumerate(member_batches(*args)):
            kill_in_epoch_3(index)
            yield batch

    RowBatches.__getitem__ = killing_get_batch
    _vectorised.member_batches = killing_member_batches
    arrays = np.load(sys.argv[1])
    X, y = arrays["X"], arrays["y"]
    # The run's first repeat is finished (and reloaded here): growing it by a second
    # repeat, whose three members train together, is the packed fit the kill interrupts.
    grown = KFoldKerasClassifier(dense_classifier, warm_start=True, resume=True, **{params})
    grown.fit(X, y).set_params(n_repeats=2).fit(X, y)
    """
)


def test_packed_growth_with_save_dir_checkpoints_and_resumes_after_sigkill(
    data, tmp_path, caplog, monkeypatch
):
    X, y = data
    run = tmp_path / "run"
    params = dict(
        n_splits=3, epochs=6, batch_size=16, patience=2, validate_on_heldout=True,
        strategy="packed", random_state=0, model__learning_rate=0.2,
    )  # fmt: skip
    first = KFoldKerasClassifier(dense_classifier, warm_start=True, save_dir=run, **params)
    first.fit(X, y)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    script = _KILLED_PACKED_FIT.format(params={**params, "save_dir": str(run)})
    killed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data.npz"), str(run)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    checkpoint = json.loads((run / "packed.checkpoint.json").read_text())
    assert checkpoint["epochs_done"] == 2 and checkpoint["members"] == [3, 4, 5]
    finished = _fingerprints(run, "member_*")
    assert {name.split(".")[0] for name in finished} == {"member_01", "member_02", "member_03"}
    killed_run = Path(shutil.copytree(run, tmp_path / "killed"))

    # Each resumption trains once, packed: the new members, from their checkpointed epoch.
    starts, resume = [], Checkpointing.resume

    def recording_resume(self, model, epochs):
        starts.append(resume(self, model, epochs))
        return starts[-1]

    monkeypatch.setattr(Checkpointing, "resume", recording_resume)
    # From the folder alone (the killed script run again): a fit of the grown size.
    grown = {**params, "n_repeats": 2}
    with caplog.at_level("WARNING", logger="sk_kerasbag"):
        resumed = KFoldKerasClassifier(dense_classifier, save_dir=run, resume=True, **grown)
        resumed.fit(X, y)
    assert "not possible" not in caplog.text  # trained packed, not one by one
    assert starts == [2]
    assert not list(run.glob("packed.*"))
    assert _fingerprints(run, "member_0[1-3]*") == finished
    # By the fitted ensemble, grown again into the killed run.
    uninterrupted_first = copy.deepcopy(first)
    first.set_params(n_repeats=2, save_dir=killed_run, resume=True).fit(X, y)
    assert starts == [2, 2]
    # Uninterrupted and without save_dir: checkpointing changes nothing either.
    uninterrupted = uninterrupted_first.set_params(n_repeats=2, save_dir=None).fit(X, y)
    for ensemble in (resumed, first):
        assert ensemble.histories_ == uninterrupted.histories_
        np.testing.assert_array_equal(
            ensemble.member_predictions(X), uninterrupted.member_predictions(X)
        )
        np.testing.assert_array_equal(ensemble.oof_proba_, uninterrupted.oof_proba_)
        for name in ("best_epoch", "held_epoch", "epochs", "val_loss"):
            np.testing.assert_array_equal(
                ensemble.fit_statistics_[name], uninterrupted.fit_statistics_[name]
            )

    # One model file per member, predicting exactly as the ensemble's member.
    for k, member in enumerate(resumed.estimators_, start=1):
        record = json.loads((run / f"member_{k:02d}.json").read_text())
        assert record["held_epoch"] == resumed.fit_statistics_["held_epoch"][k - 1]
        assert record["fit_strategy"] == resumed.fit_strategy_
        saved = keras.saving.load_model(run / f"member_{k:02d}.keras")
        np.testing.assert_array_equal(saved.predict(X, verbose=0), member.predict(X, verbose=0))
    assert not list(run.glob("*.final.keras"))
    # A finished packed run reloads without training.
    files = _fingerprints(run, "member_*")
    again = KFoldKerasClassifier(dense_classifier, save_dir=run, resume=True, **grown).fit(X, y)
    np.testing.assert_array_equal(again.member_predictions(X), resumed.member_predictions(X))
    assert again.histories_ == resumed.histories_ and again.fit_strategy_ == resumed.fit_strategy_
    assert _fingerprints(run, "member_*") == files and starts == [2, 2]


@backend_independent
def test_a_packed_checkpoint_of_members_the_fit_does_not_train_is_refused(tmp_path):
    from sk_kerasbag._artifacts import RunFolder
    from sk_kerasbag._plans import MemberPlan
    from sk_kerasbag._packing import fit_packed

    # Such as a killed cold fit of six members, grown into by a fitted three-member one:
    # the checkpoint continues only the pack it was written by.
    run = RunFolder(tmp_path)
    (tmp_path / "packed.checkpoint.json").write_text(json.dumps({"members": [0, 1, 2]}))
    rows = np.arange(4)
    plans = [MemberPlan(rows, rows, None, 0, k) for k in (3, 4)]
    files = [run.member(plan.index) for plan in plans]
    with pytest.raises(ValueError, match="members 1, 2, 3, trained .* fit trains members 4, 5"):
        fit_packed(None, None, None, None, plans, None, files, run.packed_checkpoints())


def test_resumed_plans_keep_each_members_index(finished_run):
    from sk_kerasbag._artifacts import RunFolder

    # Callback factories are called with these indices, on resume too (the recorded
    # plans are only read: the shared run is left as it was).
    _, plans = RunFolder(finished_run[1]).adopt_plans([], [])
    assert [plan.index for plan in plans] == [0, 1, 2]
