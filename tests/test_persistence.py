"""estimator.save / sk_kerasbag.load: plain files, no pickle, Keras safe mode, tamper checks."""

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import keras
import numpy as np
import pytest
import sklearn
from sklearn.base import clone

from sk_kerasbag import (
    BaggedKerasClassifier,
    DirectoryBaggedClassifier,
    KFoldKerasRegressor,
    list_images,
    load,
)
from sk_kerasbag.persistence import UnresolvedBuilder

from . import builders
from .builders import dense_classifier, dense_regressor, small_cnn
from .marks import backend_independent, worker_processes
from .shared import shared_fixture

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(90, 5).astype(np.float32)
    labels = np.array(["cat", "dog", "owl"])[(X[:, 0] * 3).astype(int)]
    return X, labels


# Fitted and saved once per module, for the tests that only read them or change a
# copy of the folder: fitting the same tiny ensemble again in each test proved nothing
# more. Its parameters use what a saved folder must carry: out-of-bag results, class
# weights by label, augmentation statistics, callbacks (dropped) and a routed
# builder argument.
@shared_fixture
def saved(data, tmp_path_factory):
    """A fitted two-member classifier and the folder it is saved in (change only a copy)."""
    X, labels = data
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, epochs=2, oob_score=True, class_weight={"cat": 2.0},
        augmentation={"rescale": 0.5, "featurewise_center": True}, random_state=0,
        callbacks=[keras.callbacks.EarlyStopping(monitor="loss", patience=1)], model__hidden=8,
    ).fit(X, labels)  # fmt: skip
    folder = tmp_path_factory.mktemp("saved") / "clf"
    clf.save(folder)
    return clf, folder


def _copy(folder, tmp_path):
    """A copy of the saved ``folder`` as ``tmp_path / "clf"``, to change."""
    return Path(shutil.copytree(folder, tmp_path / "clf"))


def _no_pickle_anywhere(folder):
    for path in folder.rglob("*"):
        assert path.suffix in {".json", ".npz", ".keras"}, path
        if path.suffix == ".npz":
            np.load(path, allow_pickle=False)  # raises if any array needs pickle
        if path.suffix == ".keras":
            names = zipfile.ZipFile(path).namelist()
            assert set(names) <= {"config.json", "metadata.json", "model.weights.h5"}, names


def test_save_load_round_trip_predicts_identically_without_pickle(data, saved):
    X, labels = data
    clf, folder = saved
    _no_pickle_anywhere(folder)

    loaded = load(folder, custom_objects={"dense_classifier": dense_classifier})
    assert type(loaded) is BaggedKerasClassifier
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.oob_decision_function_, clf.oob_decision_function_)
    assert loaded.oob_score_ == clf.oob_score_
    assert loaded.histories_ == clf.histories_
    for name, values in clf.fit_statistics_.items():
        np.testing.assert_array_equal(loaded.fit_statistics_[name], values)
    expected = {**clf.get_params(), "callbacks": None}  # callbacks are training-time only
    assert loaded.get_params() == expected
    # The loaded estimator is an ordinary one: it clones and fits again (one member will do).
    refit = clone(loaded).set_params(epochs=1, n_estimators=1).fit(X, labels)
    assert refit.predict(X).shape == (len(X),)


def test_round_trip_of_a_kfold_regressor_and_joblib_still_works(tmp_path):
    rng = np.random.RandomState(1)
    X = rng.rand(60, 3).astype(np.float32)
    y = np.c_[X.sum(axis=1), X[:, 0]]
    reg = KFoldKerasRegressor(dense_regressor, n_splits=2, epochs=2, random_state=0).fit(X, y)
    reg.save(tmp_path / "reg")
    loaded = load(tmp_path / "reg")
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    np.testing.assert_array_equal(loaded.oof_prediction_, reg.oof_prediction_)
    for (a_train, a_test), (b_train, b_test) in zip(loaded.folds_, reg.folds_):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)
    joblib.dump(reg, tmp_path / "reg.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "reg.joblib").predict(X), reg.predict(X))


def test_round_trip_of_a_directory_classifier(tmp_path):
    from PIL import Image

    rng = np.random.RandomState(0)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(6):
            pixels = rng.randint(0, 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / label / f"{i}.png")
    clf = DirectoryBaggedClassifier(
        small_cnn, n_estimators=1, epochs=1, image_size=(8, 8), rescale=1 / 255, random_state=0
    ).fit(tmp_path / "images")
    clf.save(tmp_path / "saved")
    paths, _ = list_images(tmp_path / "images")
    np.testing.assert_array_equal(
        load(tmp_path / "saved").predict_proba(paths), clf.predict_proba(paths)
    )


def test_load_refuses_tampered_or_incomplete_folders(saved, tmp_path):
    _copy(saved[1], tmp_path)
    member = tmp_path / "clf" / "member_02.keras"
    original = member.read_bytes()
    member.write_bytes(original[:-10] + b"0123456789")
    with pytest.raises(ValueError, match="member_02.keras does not match the SHA-256"):
        load(tmp_path / "clf")
    member.unlink()
    with pytest.raises(ValueError, match="incomplete: .*member_02.keras is missing"):
        load(tmp_path / "clf")
    member.write_bytes(original)
    manifest = tmp_path / "clf" / "estimator.json"
    manifest.write_text(manifest.read_text()[:-20])
    with pytest.raises(ValueError, match="estimator.json is not valid JSON"):
        load(tmp_path / "clf")
    with pytest.raises(FileNotFoundError, match="not a saved sk_kerasbag estimator"):
        load(tmp_path)


def test_members_load_in_keras_safe_mode(tmp_path):
    X = np.random.RandomState(0).rand(40, 3).astype(np.float32)
    y = np.arange(40) % 2
    clf = BaggedKerasClassifier(builders.lambda_classifier, n_estimators=1, epochs=1).fit(X, y)
    clf.save(tmp_path / "clf")
    # A Lambda layer is Python bytecode: safe mode refuses to run it from a file.
    with pytest.raises(ValueError, match="safe_mode"):
        load(tmp_path / "clf")
    # Safe means safe, whatever Keras's process-wide switch says.
    from keras.src.backend.common import global_state

    switch = global_state.get_global_attribute("safe_mode_saving")
    keras.config.enable_unsafe_deserialization()
    try:
        with pytest.raises(ValueError, match="safe_mode"):
            load(tmp_path / "clf")
        assert global_state.get_global_attribute("safe_mode_saving") is False  # left as set
    finally:
        global_state.set_global_attribute("safe_mode_saving", switch)
    trusted = load(tmp_path / "clf", safe_mode=False)
    np.testing.assert_array_equal(trusted.predict(X), clf.predict(X))
    assert trusted.model is builders.lambda_classifier  # imported: the folder is trusted


def test_safe_load_takes_functions_only_from_custom_objects(data, saved, tmp_path):
    X, labels = data
    clf, folder = saved

    loaded = load(folder)  # predicting needs no builder
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert isinstance(loaded.model, UnresolvedBuilder)
    with pytest.raises(RuntimeError, match="set_params\\(model=...\\)"):
        loaded.fit(X, labels)
    loaded.save(tmp_path / "again")  # keeps the builder's reference
    again = load(tmp_path / "again", custom_objects={"dense_classifier": dense_classifier})
    assert again.model is dense_classifier
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))


def test_a_crafted_folder_cannot_make_load_or_fit_run_code(data, saved, tmp_path):
    X, labels = data
    _copy(saved[1], tmp_path)
    manifest_path = tmp_path / "clf" / "estimator.json"
    manifest = json.loads(manifest_path.read_text())
    marker = tmp_path / "pwned"
    manifest["params"]["model"] = {"__callable__": "subprocess:getoutput"}
    manifest["params"]["model__cmd"] = f"touch {marker}"
    manifest_path.write_text(json.dumps(manifest))
    loaded = load(tmp_path / "clf")
    assert isinstance(loaded.model, UnresolvedBuilder)
    with pytest.raises(RuntimeError):
        loaded.fit(X, labels)
    assert not marker.exists()

    manifest["fitted"]["_validate_rows"] = None
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="'_validate_rows', which is not a fitted attribute"):
        load(tmp_path / "clf")


def test_save_refuses_what_only_pickle_can_store(saved, tmp_path):
    def local_builder(input_shape, n_classes):
        return dense_classifier(input_shape, n_classes)

    # A fitted ensemble whose builder is a local function (a copy: the shared one stays).
    clf = copy.copy(saved[0]).set_params(model=local_builder)
    with pytest.raises(TypeError, match="local_builder.* define it at the top level"):
        clf.save(tmp_path / "a")
    assert not (tmp_path / "a").exists()

    fitted = saved[0]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        fitted.save(tmp_path / "b")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("name", ["../outside.keras", "{tmp}/outside.keras", "sub/member.keras"])
def test_load_reads_no_file_outside_the_folder(saved, tmp_path, name):
    _copy(saved[1], tmp_path)
    name = name.format(tmp=tmp_path)
    # A crafted folder names a member file elsewhere, with that file's correct SHA-256.
    (tmp_path / "clf" / "sub").mkdir()
    for target in (tmp_path / "outside.keras", tmp_path / "clf" / "sub" / "member.keras"):
        target.write_bytes((tmp_path / "clf" / "member_01.keras").read_bytes())
    manifest_path = tmp_path / "clf" / "estimator.json"
    manifest = json.loads(manifest_path.read_text())
    digest = manifest["sha256"].pop("member_01.keras")
    members = manifest["members"]
    members[members.index("member_01.keras")], manifest["sha256"][name] = name, digest
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"names the file .*outside\.keras|names the file 'sub/"):
        load(tmp_path / "clf", custom_objects={"dense_classifier": dense_classifier})


# Each racer saves with save's last step before the rename held back: it has
# filled its staging folder (so both passed save's check that the folder is
# free) and waits there until the other racer is there too. Both then rename at
# once, every time: the race is forced, not left to timing.
_RACING_SAVE = """
import sys, time, joblib
from pathlib import Path
from sk_kerasbag import persistence

fitted, target = joblib.load(sys.argv[1]), Path(sys.argv[2])
inside, everyone = Path(sys.argv[3]), [Path(path) for path in sys.argv[4:]]
write_arrays = persistence.write_arrays


def write_arrays_then_wait_for_everyone(path, arrays):
    write_arrays(path, arrays)
    inside.touch()
    deadline = time.monotonic() + 120  # only reached if the other never gets here
    while not all(path.exists() for path in everyone):
        if time.monotonic() > deadline:
            sys.exit("the other racer never got inside save with this one")
        time.sleep(0.001)


persistence.write_arrays = write_arrays_then_wait_for_everyone
try:
    fitted.save(target)
except FileExistsError as error:
    print("refused:", error)
else:
    print("saved")
"""


@backend_independent
def test_two_processes_saving_to_one_path_leave_exactly_one_ensemble(data, tmp_path):
    X, labels = data
    fits = [
        BaggedKerasClassifier(dense_classifier, n_estimators=4, epochs=1, random_state=seed)
        for seed in (1, 2)
    ]
    for k, clf in enumerate(fits):
        joblib.dump(clf.fit(X, labels), tmp_path / f"fit{k}.joblib")
    shared = tmp_path / "shared" / "ensemble"
    inside = [tmp_path / f"inside{k}" for k in range(2)]
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACING_SAVE, str(tmp_path / f"fit{k}.joblib"), shared,
             inside[k], *inside],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for k in range(2)
    ]
    outcomes = [racer.communicate(timeout=300) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], [err[-2000:] for _, err in outcomes]
    assert all(path.exists() for path in inside)  # both were inside save together
    said = [out.strip() for out, _ in outcomes]
    assert sorted(s.split(":")[0] for s in said) == ["refused", "saved"], said
    assert "not an empty folder" in next(s for s in said if s.startswith("refused"))
    # Refused by the rename, not by the check before staging: the saves did overlap.
    assert "another process may have saved there first" in next(
        s for s in said if s.startswith("refused")
    )
    winner = fits[said.index("saved")]
    loaded = load(shared, custom_objects={"dense_classifier": dense_classifier})
    np.testing.assert_array_equal(loaded.predict_proba(X), winner.predict_proba(X))
    # Nothing of the loser's is left, beside or inside the folder.
    assert [p.name for p in shared.parent.iterdir()] == ["ensemble"]
    assert sorted(p.name for p in shared.iterdir()) == sorted(
        ["estimator.json", "arrays.npz", *(f"member_{k:02d}.keras" for k in range(1, 5))]
    )


def test_a_failed_save_leaves_nothing_behind(saved, tmp_path, monkeypatch):
    clf = saved[0]
    from sk_kerasbag import persistence

    def broken(path, arrays):
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "write_arrays", broken)
    with pytest.raises(OSError, match="disk full"):
        clf.save(tmp_path / "clf")
    assert list(tmp_path.iterdir()) == []


# Each once gave a bare AttributeError, TypeError, IndexError, ZeroDivisionError
# or RecursionError, at load or only at the first prediction.
_MALFORMED = {
    "not an object": lambda m: [m],
    "fitted is null": lambda m: {**m, "fitted": None},
    "no members": lambda m: {
        **m, "members": [], "sha256": {"arrays.npz": m["sha256"]["arrays.npz"]}
    },
    "too few preprocessings": lambda m: _set(m, "preprocessing_", []),
    "statistics of other members": lambda m: _set(m, "fit_statistics_", {"member": [1, 2, 3]}),
    "nested without end": lambda m: _set(m, "histories_", "DEEP"),
    "a callable that is a number": lambda m: _set(m, "_seeds", {"__callable__": 5}),
    "classes are null": lambda m: _set(m, "classes_", None),
    "a tuple of a number": lambda m: _set(m, "input_shape_", {"__tuple__": 3}),
    "routing requests of no method": lambda m: {**m, "metadata_request": {"owner": {}}},
    "a routing request that is a number": lambda m: {
        **m, "metadata_request": {"fit": {"sample_weight": 5}}
    },
}


def _set(manifest, name, value):
    manifest["fitted"][name] = value
    return manifest


@pytest.mark.parametrize("case", list(_MALFORMED))
def test_a_malformed_manifest_is_an_error_naming_the_file(saved, tmp_path, case):
    _copy(saved[1], tmp_path)
    manifest_path = tmp_path / "clf" / "estimator.json"
    manifest = _MALFORMED[case](json.loads(manifest_path.read_text()))
    # Lists nested 5000 deep: too deep for json.dumps, so written as text.
    manifest_path.write_text(json.dumps(manifest).replace('"DEEP"', "[" * 5000 + "]" * 5000))
    with pytest.raises(ValueError, match=f"{manifest_path}.* (malformed|not an sk_kerasbag)"):
        load(tmp_path / "clf", custom_objects={"dense_classifier": dense_classifier})


def _rewrite_manifest(folder, change):
    """Apply ``change`` to the parsed ``estimator.json`` of ``folder`` and write it back."""
    path = folder / "estimator.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _link_elsewhere(folder, name):
    """``folder / name`` becomes a link to a copy of it outside ``folder``, hash unchanged."""
    target = folder.parent / f"elsewhere-{name}"
    shutil.copyfile(folder / name, target)
    (folder / name).unlink()
    (folder / name).symlink_to(target)  # its target's SHA-256 is the one recorded


def _add_notes(folder):
    (folder / "notes.txt").write_text("mine")
    digest = hashlib.sha256(b"mine").hexdigest()
    _rewrite_manifest(folder, lambda m: m["sha256"].update({"notes.txt": digest}))


def _replace_by_folder(folder, name):
    (folder / name).unlink()
    (folder / name).mkdir()


# Each tampering, and what the refusal must say: the file it names, then its problem.
_TAMPERED = {
    "no SHA-256 table": (
        lambda f: _rewrite_manifest(f, lambda m: m.pop("sha256")),
        r"{folder}/estimator\.json has no SHA-256 table \('sha256'\)",
    ),
    "a SHA-256 table that is a list": (
        lambda f: _rewrite_manifest(f, lambda m: m.update(sha256=list(m["sha256"]))),
        r"{folder}/estimator\.json's SHA-256 table \('sha256'\) is a list, not a table",
    ),
    "arrays.npz a link": (
        lambda f: _link_elsewhere(f, "arrays.npz"),
        r"{folder}/arrays\.npz is a symbolic link, not a file of the folder",
    ),
    "a member a link": (
        lambda f: _link_elsewhere(f, "member_02.keras"),
        r"{folder}/member_02\.keras is a symbolic link, not a file of the folder",
    ),
    "a folder in place of a member": (
        lambda f: _replace_by_folder(f, "member_02.keras"),
        r"{folder}/member_02\.keras is a folder, not a file",
    ),
    "a member without a hash": (
        lambda f: _rewrite_manifest(f, lambda m: m["sha256"].pop("member_02.keras")),
        r"{folder}/estimator\.json's SHA-256 table .* has no SHA-256 for member_02\.keras",
    ),
    "a hash of a file that is no part": (
        _add_notes,
        r"{folder}/estimator\.json's SHA-256 table .* lists notes\.txt, beyond the files",
    ),
    "a hash that is a number": (
        lambda f: _rewrite_manifest(f, lambda m: m["sha256"].update({"arrays.npz": 5})),
        r"{folder}/estimator\.json's SHA-256 table .* gives 5 for arrays\.npz, which is "
        "not a SHA-256",
    ),
    "a hash one digit short": (
        lambda f: _rewrite_manifest(
            f, lambda m: m["sha256"].update({"arrays.npz": m["sha256"]["arrays.npz"][1:]})
        ),
        r"{folder}/estimator\.json's SHA-256 table .* gives '[0-9a-f]{{63}}' for arrays\.npz",
    ),
}


@pytest.mark.parametrize("case", list(_TAMPERED))
def test_a_tampered_folder_is_refused_naming_the_file_and_its_problem(saved, tmp_path, case):
    folder = _copy(saved[1], tmp_path)
    tamper, message = _TAMPERED[case]
    tamper(folder)
    with pytest.raises(ValueError, match=message.format(folder=re.escape(str(folder)))):
        load(folder, custom_objects={"dense_classifier": dense_classifier})


def test_metadata_routing_requests_survive_save_and_load(saved, tmp_path):
    clf = copy.deepcopy(saved[0])  # the shared one stays without requests
    with sklearn.config_context(enable_metadata_routing=True):
        clf.set_fit_request(sample_weight=True, validation_data="held_out")
        clf.set_score_request(sample_weight=False)
    clf.save(tmp_path / "clf")
    loaded = load(tmp_path / "clf")
    routing = loaded.get_metadata_routing()
    assert repr(routing) == repr(clf.get_metadata_routing())
    assert routing.fit.requests == {"sample_weight": True, "validation_data": "held_out"}
    assert routing.score.requests == {"sample_weight": False}
    # An estimator that made no choices keeps no request of its own: it gets the
    # defaults of its class wherever it is loaded.
    manifest = json.loads((saved[1] / "estimator.json").read_text())
    assert manifest["metadata_request"] is None


def _member_of_other_shape(folder, input_shape, n_classes):
    """Replace member_02 by a model of another shape, its hash updated (a deliberate edit)."""
    from sk_kerasbag._files import save_model, sha256

    member = folder / "member_02.keras"
    save_model(dense_classifier(input_shape, n_classes, hidden=8), member)
    _rewrite_manifest(folder, lambda m: m["sha256"].update({member.name: sha256(member)}))


@pytest.mark.parametrize(
    "input_shape, n_classes, problem",
    [
        ((4,), 3, r"member 2 takes inputs of shape \(4,\), not the rows of shape \(5,\)"),
        ((5,), 4, r"member 2 gives \(4,\) outputs per row, not the 3 its attributes describe"),
    ],
    ids=["other rows", "other outputs"],
)
def test_a_member_of_another_shape_is_refused_at_load(
    saved, tmp_path, input_shape, n_classes, problem
):
    folder = _copy(saved[1], tmp_path)
    _member_of_other_shape(folder, input_shape, n_classes)
    with pytest.raises(ValueError, match=problem):
        load(folder, custom_objects={"dense_classifier": dense_classifier})


def test_load_checks_the_members_without_running_them(data, saved, monkeypatch):
    from sk_kerasbag import _predicting

    X, _ = data
    calls = []

    def counted(name, function):
        def count(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        return count

    # The ensemble's prediction path, and Keras's ways into a model's forward pass.
    monkeypatch.setattr(
        _predicting, "predict_members", counted("predict_members", _predicting.predict_members)
    )
    for name in ("__call__", "predict", "predict_on_batch"):
        monkeypatch.setattr(keras.Model, name, counted(name, getattr(keras.Model, name)))
    loaded = load(saved[1])
    assert calls == []
    np.testing.assert_array_equal(loaded.predict_proba(X), saved[0].predict_proba(X))
    assert "predict_members" in calls  # the counting sees a prediction


# -- custom Keras objects ----------------------------------------------------------


@worker_processes
@pytest.mark.parametrize("subclassed", [False, True], ids=["functional", "Model-subclass"])
def test_members_with_unregistered_custom_objects_travel_through_joblib_and_workers(
    tmp_path, subclassed
):
    # A custom loss class, layer, activation and metric function (or a Model
    # subclass), registered nowhere, as in a user's mymodels.py.
    X, y = builders.three_class_rows(60)
    y = y.astype(float)
    params = dict(n_splits=2, epochs=2, random_state=0, model__subclassed=subclassed)
    reg = KFoldKerasRegressor(builders.custom_objects_regressor, **params).fit(X, y)
    joblib.dump(reg, tmp_path / "reg.joblib")
    loaded = joblib.load(tmp_path / "reg.joblib")
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert type(loaded.estimators_[0].loss).__name__ == "ScaledSquaredError"

    in_workers = KFoldKerasRegressor(builders.custom_objects_regressor, n_jobs=2, **params)
    np.testing.assert_allclose(in_workers.fit(X, y).predict(X), reg.predict(X), rtol=1e-5)


def test_pickles_from_before_routed_arguments_moved_keep_them_and_copies_predict(data, saved):
    X, labels = data
    clf = saved[0]  # fitted with model__hidden=8
    # An older pickle held model__hidden as an attribute, and no _model_params.
    state = clf.__getstate__()
    state["model__hidden"] = state.pop("_model_params")["model__hidden"]
    old = BaggedKerasClassifier.__new__(BaggedKerasClassifier)
    old.__setstate__(state)
    assert old.get_params()["model__hidden"] == 8 and clone(old).get_params()["model__hidden"] == 8
    # copy.copy takes __getstate__'s members as they are: they are models again.
    shallow = copy.copy(clf)
    assert isinstance(shallow.estimators_[0], keras.Model)
    np.testing.assert_array_equal(shallow.predict_proba(X), clf.predict_proba(X))
