"""``sk-kerasbag run experiment.toml``: experiment files, end to end and their mistakes."""

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from PIL import Image

from sk_kerasbag import BaggedKerasClassifier, load_digits_images
from sk_kerasbag.cli import main
from sk_kerasbag.experiment import ExperimentError, load_experiment, run_experiment

from .builders import dense_classifier
from .marks import backend_independent

# A builder module that only exists next to the experiment file.
MY_MODELS = """
import keras


def tiny(input_shape, n_classes, hidden=8):
    model = keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model
"""

FAST = {"epochs": 1, "batch_size": 32, "random_state": 0}


def _toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)  # JSON scalars and strings are valid TOML


def write_toml(path: Path, document: dict) -> Path:
    """Write ``document`` as TOML: tables, and lists of tables as ``[[name]]``."""
    lines = []
    for section, content in document.items():
        for table in content if isinstance(content, list) else [content]:
            lines.append(f"[[{section}]]" if isinstance(content, list) else f"[{section}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _tree(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


def test_cli_runs_a_schedule_with_a_builder_next_to_the_file(tmp_path, capsys):
    (tmp_path / "my_models.py").write_text(MY_MODELS)
    toml = write_toml(
        tmp_path / "experiment.toml",
        {
            "model": {"builder": "my_models:tiny", "params": {"hidden": 8}},
            "estimator": {"class": "KFoldKerasClassifier", "params": {"n_splits": 2, **FAST}},
            "data": {"source": "digits", "n_samples": 200, "test_size": 0.25},
            "output": {"dir": "runs", "oof": True},
            "schedule": [
                {"name": "narrow", "params": {"model__hidden": 4}},
                {"name": "wide", "params": {"model__hidden": 16, "epochs": 2}},
            ],
        },
    )

    assert main(["run", str(toml)]) == 0

    printed = capsys.readouterr().out
    table = printed[printed.index("changed params") :]
    assert "narrow" in table and "model__hidden=4" in table
    assert "wide" in table and "model__hidden=16, epochs=2" in table
    for name in ("narrow", "wide"):
        test_proba = np.load(tmp_path / "runs" / name / "test_predictions.npy")
        oof_proba = np.load(tmp_path / "runs" / name / "oof_predictions.npy")
        assert test_proba.shape == (50, 10) and oof_proba.shape == (150, 10)
        # Two folds hold out every training row once: no NaN, rows are probabilities.
        assert_allclose(oof_proba.sum(axis=1), 1, rtol=1e-5)
        assert_allclose(test_proba.sum(axis=1), 1, rtol=1e-5)


def test_npz_data_regressor_csv_and_oof_by_cross_fitting(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    y = X @ [1.0, -2.0, 0.5, 0.0]
    np.savez(tmp_path / "table.npz", Xa=X[:60], ya=y[:60], Xb=X[60:], yb=y[60:])
    names = {"X_train": "Xa", "y_train": "ya", "X_test": "Xb", "y_test": "yb"}
    toml = write_toml(
        tmp_path / "reg.toml",
        {
            "model": {"builder": "tests.builders:dense_regressor", "params": {"hidden": 8}},
            # One member: the ensemble and each of the 2 cross-fitted ones train one model.
            "estimator": {"class": "BaggedKerasRegressor", "params": {"n_estimators": 1, **FAST}},
            "data": {"source": "npz", "path": "table.npz", **names},
            "output": {"dir": "out", "oof": True, "oof_cv": 2, "format": "csv"},
        },
    )
    lines = []

    (result,) = run_experiment(toml, out=lines.append)

    assert result["name"] == "reg" and result["changed"] == {}
    assert result["heldout_score"] is None  # oob_score is off
    assert result["test_score"] == pytest.approx(result["estimator"].score(X[60:], y[60:]))
    assert any("cross-fitting 2 more ensembles" in line for line in lines)
    test_csv = (tmp_path / "out" / "reg" / "test_predictions.csv").read_text().splitlines()
    oof_csv = (tmp_path / "out" / "reg" / "oof_predictions.csv").read_text().splitlines()
    assert test_csv[0] == "output_0" and len(test_csv) == 1 + 20
    assert oof_csv[0] == "output_0" and len(oof_csv) == 1 + 60
    assert not any("changed params" in line for line in lines)  # no schedule, no table


def _write_images(root: Path, labels, images) -> None:
    for i, (label, image) in enumerate(zip(labels, images)):
        (root / f"class_{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[:, :, 0] * 255).astype(np.uint8)).save(
            root / f"class_{label}" / f"{i:03d}.png"
        )


def test_folder_data_with_a_bundled_builder_leaves_the_folders_untouched(tmp_path):
    X, y = load_digits_images()
    keep = np.flatnonzero(y < 2)[:60]
    _write_images(tmp_path / "images" / "train", y[keep[:40]], X[keep[:40]])
    _write_images(tmp_path / "images" / "test", y[keep[40:]], X[keep[40:]])
    before = _tree(tmp_path / "images")
    image_params = {"image_size": [8, 8], "color_mode": "grayscale", "rescale": 1 / 255}
    toml = write_toml(
        tmp_path / "folders.toml",
        {
            "model": {
                "builder": "sk_kerasbag.models:basic_cnn",
                "params": {"filters": 2, "dense_units": 4},
            },
            "estimator": {
                "class": "DirectoryBaggedClassifier",
                "params": {"n_estimators": 2, "oob_score": True, **image_params, **FAST},
            },
            "data": {"source": "folder", "train": "images/train", "test": "images/test"},
            "output": {"dir": "runs", "oof": True},
        },
    )

    (result,) = run_experiment(toml, out=lambda line: None)

    run_dir = tmp_path / "runs" / "folders"
    assert np.load(run_dir / "test_predictions.npy").shape == (20, 2)
    assert np.load(run_dir / "oof_predictions.npy").shape == (40, 2)
    test_files = (run_dir / "test_files.txt").read_text().split()
    assert len(test_files) == 20 and all(Path(f).parent.parent.name == "test" for f in test_files)
    assert 0 <= result["test_score"] <= 1 and result["heldout_score"] is not None
    assert _tree(tmp_path / "images") == before


def test_artifacts_go_into_the_run_folder_and_a_second_run_is_refused_before_training(tmp_path):
    toml = write_toml(
        tmp_path / "art.toml",
        {
            "model": {"builder": "tests.builders:dense_classifier", "params": {"hidden": 4}},
            "estimator": {"class": "BaggedKerasClassifier", "params": {"n_estimators": 1, **FAST}},
            "data": {"source": "digits", "n_samples": 100},
            "output": {"dir": "runs", "predictions": False, "artifacts": True},
        },
    )
    lines = []
    run_experiment(toml, out=lines.append)

    if "save_dir" not in BaggedKerasClassifier(dense_classifier).get_params():
        assert any("artifacts" in line and "skipped" in line for line in lines)
        return
    artifacts = tmp_path / "runs" / "art" / "artifacts"
    assert any(artifacts.iterdir())
    assert not (tmp_path / "runs" / "art" / "test_predictions.npy").exists()
    with pytest.raises(ExperimentError, match=r"^output\.artifacts: .* already holds a run"):
        run_experiment(toml, out=lines.append)


# -- mistakes: each names the key at fault, before anything trains --------------------

BASE = {
    "model": {"builder": "tests.builders:dense_classifier", "params": {"hidden": 4}},
    "estimator": {"class": "BaggedKerasClassifier", "params": {"n_estimators": 2, "epochs": 1}},
    "data": {"source": "npz", "path": "data.npz"},
    "output": {"dir": "runs"},
    "schedule": [{"name": "a", "params": {"epochs": 1}}, {"name": "b", "params": {}}],
}
DELETE = object()

MISTAKES = {
    "unknown section": ({"modle": {"x": 1}}, r"^modle: unknown key"),
    "missing section": ({"data": DELETE}, r"^data: missing section"),
    "unknown key": ({"estimator.klass": "x"}, r"^estimator\.klass: unknown key; expected .*class"),
    "missing builder": ({"model.builder": DELETE}, r"^model\.builder: missing"),
    "builder not a reference": ({"model.builder": "tests.builders"}, r"^model\.builder: expected"),
    "builder module": ({"model.builder": "no_such_module:f"}, r"^model\.builder: cannot import"),
    "builder function": (
        {"model.builder": "tests.builders:nope"},
        r"^model\.builder: 'tests\.builders' has no attribute 'nope'",
    ),
    "builder argument": ({"model.params.hiddn": 3}, r"^model\.params\.hiddn: not an argument"),
    "estimator class": ({"estimator.class": "Bagged"}, r"^estimator\.class: unknown estimator"),
    "params not a table": ({"estimator.params": 3}, r"^estimator\.params: expected a table"),
    "estimator param": (
        {"estimator.params.n_estimatorz": 3},
        r"^estimator\.params\.n_estimatorz: not a parameter of BaggedKerasClassifier$",
    ),
    "estimator param value": (
        {"estimator.params.n_estimators": 0},
        r"^estimator\.params\.n_estimators: The 'n_estimators' parameter",
    ),
    "builder set twice": ({"estimator.params.model": "x"}, r"^estimator\.params\.model: "),
    "data source": ({"data.source": "csv"}, r"^data\.source: 'csv'; expected one of"),
    "npz file": ({"data.path": "missing.npz"}, r"^data\.path: file not found: .*missing\.npz$"),
    "npz array": ({"data.X_train": "X"}, r"^data\.X_train: no array 'X' in"),
    "test size type": (
        {"data.source": "digits", "data.path": DELETE, "data.test_size": "big"},
        r"^data\.test_size: expected a number, got a string 'big'",
    ),
    "too few digits to split": (
        {"data.source": "digits", "data.path": DELETE, "data.n_samples": 20},
        r"^data\.test_size: The test_size = 5 should be greater or equal to the number of classes",
    ),
    "key of another source": ({"data.test_size": 0.2}, r"^data\.test_size: unknown key"),
    "folder for an array estimator": (
        {"data.source": "folder", "data.path": DELETE, "data.train": "."},
        r"^estimator\.class: BaggedKerasClassifier does not take",
    ),
    "folder missing": (
        {
            "estimator.class": "DirectoryBaggedClassifier",
            "data.source": "folder",
            "data.path": DELETE,
            "data.train": "no/such/folder",
        },
        r"^data\.train: folder not found",
    ),
    "schedule param": ({"schedule.1.params.epochz": 2}, r"^schedule\[1\]\.params\.epochz: not a"),
    "schedule builder argument": (
        {"schedule.0.params.model__hiddn": 2},
        r"^schedule\[0\]\.params\.model__hiddn: not an argument of the model builder",
    ),
    "schedule value": ({"schedule.1.params.epochs": 0}, r"^schedule\[1\]\.params\.epochs: The"),
    "schedule name twice": ({"schedule.1.name": "a"}, r"^schedule\[1\]\.name: 'a' is used twice"),
    "schedule name missing": ({"schedule.0.name": DELETE}, r"^schedule\[0\]\.name: missing"),
    "schedule name path": ({"schedule.0.name": "../x"}, r"^schedule\[0\]\.name: '\.\./x' is no"),
    "output format": ({"output.format": "parquet"}, r"^output\.format: 'parquet'"),
    "output flag type": ({"output.oof": "yes"}, r"^output\.oof: expected a boolean"),
    "output inside the data folder": (
        {
            "estimator.class": "DirectoryBaggedClassifier",
            "data.source": "folder",
            "data.path": DELETE,
            "data.train": "images",
            "output.dir": "images/runs",
        },
        r"^output\.dir: inside the data folder data\.train",
    ),
}


def _edit(document: dict, dotted: str, value) -> None:
    *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    for part in parents:
        document = document[part]
    if value is DELETE:
        del document[last]
    else:
        document[last] = value


@pytest.fixture
def valid_folder(tmp_path):
    np.savez(tmp_path / "data.npz", X_train=np.zeros((20, 3)), y_train=np.arange(20) % 2)
    _write_images(tmp_path / "images", [0, 0, 1, 1], np.zeros((4, 8, 8, 1)))
    return tmp_path


@backend_independent
def test_the_base_of_the_mistakes_is_valid(valid_folder):
    experiment = load_experiment(write_toml(valid_folder / "ok.toml", BASE))
    assert [run.name for run in experiment.runs] == ["a", "b"]
    assert experiment.runs[1].params == {"model__hidden": 4, "n_estimators": 2, "epochs": 1}


@backend_independent
@pytest.mark.parametrize("edits, message", MISTAKES.values(), ids=MISTAKES.keys())
def test_mistakes_name_the_key_at_fault(valid_folder, capsys, edits, message):
    document = copy.deepcopy(BASE)
    for dotted, value in edits.items():
        _edit(document, dotted, value)
    toml = write_toml(valid_folder / "bad.toml", document)

    with pytest.raises(ExperimentError, match=message):
        load_experiment(toml)
    assert main(["run", str(toml)]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith(f"sk-kerasbag run: error: {toml}: ") and "Traceback" not in stderr
    assert not (valid_folder / "runs").exists()  # nothing trained, nothing written


@backend_independent
@pytest.mark.parametrize(
    "text, message",
    [
        ("[model\nbuilder = 1", r"^not valid TOML: "),
        ("[model]\nbuilder = 1", r"^model\.builder: expected a string, got an integer 1$"),
    ],
)
def test_unreadable_files(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ExperimentError, match=message):
        load_experiment(tmp_path / "bad.toml")
    with pytest.raises(ExperimentError, match=r"^file not found: "):
        load_experiment(tmp_path / "missing.toml")


@backend_independent
def test_each_file_gets_the_builder_module_next_to_it(valid_folder):
    # Same module name in two folders, with different arguments: the check of
    # model.params passes only if each file resolves its own module.
    documents = []
    for argument in ("alpha", "beta"):
        folder = valid_folder / argument
        folder.mkdir()
        (folder / "shadow_models.py").write_text(
            MY_MODELS.replace("hidden=8", f"{argument}=8").replace("(hidden,", f"({argument},")
        )
        document = copy.deepcopy(BASE)
        document["model"] = {"builder": "shadow_models:tiny", "params": {argument: 4}}
        document["data"]["path"] = "../data.npz"
        documents.append(write_toml(folder / "exp.toml", document))
    builders = [load_experiment(toml).builder for toml in documents]
    assert "alpha" in builders[0].__code__.co_varnames
    assert "beta" in builders[1].__code__.co_varnames


def test_check_lists_the_runs_without_training(valid_folder, capsys):
    toml = write_toml(valid_folder / "ok.toml", BASE)
    assert main(["run", "--check", str(toml)]) == 0
    printed = capsys.readouterr().out
    assert "a: model__hidden=4, n_estimators=2, epochs=1" in printed
    assert not (valid_folder / "runs").exists()


def test_check_builds_the_model_and_refuses_a_builder_that_returns_none(valid_folder, capsys):
    document = copy.deepcopy(BASE)
    document["model"] = {"builder": "tests.builders:returns_nothing"}
    toml = write_toml(valid_folder / "none.toml", document)
    assert main(["run", "--check", str(toml)]) == 2
    error = capsys.readouterr().err
    assert "model.builder (a): The model builder returns_nothing returned NoneType" in error
    assert not (valid_folder / "runs").exists()
