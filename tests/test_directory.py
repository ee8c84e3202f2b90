"""Ensembles trained on image folders and path lists."""

import contextlib
import hashlib
import importlib.util
import os
import re
import signal
import warnings
from pathlib import Path

import joblib
import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image
from sklearn.model_selection import cross_val_predict, cross_val_score

from sk_kerasbag import (
    DirectoryBaggedClassifier,
    DirectoryKFoldClassifier,
    list_images,
    load_digits_images,
    oof_predict,
)
from sk_kerasbag.folders import ImageFiles, read_image

from .builders import dense_classifier
from .marks import backend_independent
from .shared import shared_fixture

IMAGES = dict(image_size=(8, 8), color_mode="grayscale", rescale=1 / 255)
FAST = dict(epochs=3, batch_size=16, random_state=0, **IMAGES)


def _write_digits(root: Path, start: int, stop: int) -> None:
    X, y = load_digits_images()
    for i in range(start, stop):
        folder = root / f"digit_{y[i]}"
        if i % 7 == 0:  # images may sit at any depth below their class folder
            folder = folder / "more"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((X[i, :, :, 0] * 255).round().astype(np.uint8)).save(
            folder / f"{i:04d}.png"
        )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    _write_digits(root, 0, 200)
    (root / "digit_0" / "notes.txt").write_text("not an image")
    (root / "digit_1" / ".hidden.png").write_bytes(b"hidden files are skipped")
    return root


def _tree_fingerprint(root: Path) -> dict:
    """Every file and folder below root, with the hash of each file's bytes."""
    return {
        str(path.relative_to(root)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
        for path in sorted(root.rglob("*"))
    }


@shared_fixture
def bagged(folder):
    """A bagged classifier fitted on the folder, with the folder's fingerprint before the fit."""
    before = _tree_fingerprint(folder)
    clf = DirectoryBaggedClassifier(
        dense_classifier, n_estimators=2, oob_score=True, **{**FAST, "epochs": 15}
    ).fit(folder)
    return clf, before


@backend_independent
def test_list_images_order_labels_and_filtering(folder, tmp_path):
    paths, labels = list_images(folder)
    assert len(paths) == 200
    assert all(p.endswith(".png") and "/." not in p for p in paths)
    parts = [Path(p).relative_to(folder).parts for p in paths]
    assert parts == sorted(parts)
    assert_array_equal(labels, [part[0] for part in parts])
    image = Path(list_images(folder)[0][0]).read_bytes()
    (tmp_path / "loose.png").write_bytes(image)
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "a.PNG").write_bytes(image)
    paths, labels = list_images(tmp_path)
    assert [Path(p).name for p in paths] == ["a.PNG", "loose.png"]
    assert list(labels) == ["cls", None]


def test_bagging_from_a_folder_learns_and_predicts_in_list_images_order(folder, bagged):
    clf, before = bagged
    assert_array_equal(clf.classes_, [f"digit_{d}" for d in range(10)])
    assert clf.input_shape_ == (8, 8, 1)
    paths, labels = list_images(folder)
    proba = clf.predict_proba(folder)
    assert proba.shape == (200, 10)
    assert_allclose(clf.predict_proba(list(paths)), proba)
    assert_allclose(clf.predict_proba(paths[::-1])[::-1], proba, rtol=1e-6)
    # Row i is image i: the members' outputs on the images read by hand.
    images = np.stack([read_image(p, (8, 8), "grayscale") for p in paths]) / 255
    by_hand = np.mean([np.asarray(m(images.astype(np.float32))) for m in clf.estimators_], axis=0)
    assert_allclose(proba, by_hand, rtol=1e-5, atol=1e-6)
    assert clf.score(folder, labels) > 0.8
    assert 0.5 < clf.oob_score_ <= 1.0
    assert _tree_fingerprint(folder) == before  # nothing created, changed or removed


def test_kfold_from_a_path_list_gives_out_of_fold_predictions_and_prefit_stacking(folder):
    before = _tree_fingerprint(folder)
    paths, labels = list_images(folder)
    kfold = DirectoryKFoldClassifier(dense_classifier, n_splits=2, n_repeats=2, **FAST)
    # A list of paths, and labels as a column vector (raveled, with a warning).
    with pytest.warns(UserWarning, match="column-vector y"):
        kfold.fit(list(paths), labels.reshape(-1, 1))
    assert kfold.oof_proba_.shape == (200, 10) and len(kfold.estimators_) == 4
    # Each row's mean over the two rounds (two folds each) that held it out.
    expected = np.zeros_like(kfold.oof_proba_)
    for member, (_, heldout) in zip(kfold.estimators_, kfold.folds_):
        images = ImageFiles(paths[heldout], **IMAGES)[:]
        expected[heldout] += np.asarray(member(images)) / 2
    assert_allclose(kfold.oof_proba_, expected, rtol=1e-5, atol=1e-7)
    assert set(kfold.predict(paths[:20])) <= set(labels)
    assert _tree_fingerprint(folder) == before

    # An empty path list is refused; prefit stacking reads the folder, in list_images order.
    with pytest.raises(ValueError, match="X has no image paths"):
        kfold.predict([])
    oof, _ = oof_predict(kfold, folder, None, cv="prefit")
    assert_array_equal(oof, kfold.oof_proba_)


def test_path_arrays_work_with_scikit_learn_model_selection(folder):
    paths, labels = list_images(folder)
    clf = DirectoryBaggedClassifier(dense_classifier, n_estimators=1, **FAST)
    scores = cross_val_score(clf, paths, labels, cv=2)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    oof, test = oof_predict(clf, paths, labels, paths[:10], cv=2)
    assert_array_equal(oof, cross_val_predict(clf, paths, labels, cv=2, method="predict_proba"))
    assert test.shape == (10, 10)


def test_joblib_round_trip(folder, bagged, tmp_path):
    clf = bagged[0]
    joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert_array_equal(loaded.predict_proba(folder), clf.predict_proba(folder))


def test_reading_threads_and_the_cache_change_nothing_and_threads_are_shared(folder):
    import threading

    def reading_threads():
        return sum(t.name.startswith("sk_kerasbag-images") for t in threading.enumerate())

    paths, labels = list_images(folder)
    settings = dict(n_estimators=1, augmentation={"featurewise_center": True}, **FAST)
    one = DirectoryBaggedClassifier(dense_classifier, workers=1, **settings).fit(paths, labels)
    two = DirectoryBaggedClassifier(dense_classifier, workers=2, **settings).fit(paths, labels)
    uncached = DirectoryBaggedClassifier(
        dense_classifier, workers=2, cache_mb=0, **settings
    ).fit(paths, labels)
    assert_array_equal(one.predict_proba(paths), two.predict_proba(paths))  # only threads differ
    assert_array_equal(two.predict_proba(paths), uncached.predict_proba(paths))  # only the cache
    rows = one.estimators_samples_[0]
    images = ImageFiles(paths, **IMAGES)[rows]
    assert_allclose(one.preprocessing_[0].mean, images.mean(axis=(0, 1, 2)), rtol=1e-5)
    # Two fits and three predictions with workers=2: threads left behind by each
    # (or by each member, or each read) would add up past 2.
    assert reading_threads() <= 2


def test_augmentation_and_tta_from_files(folder):
    clf = DirectoryKFoldClassifier(
        dense_classifier, n_splits=2, augmentation={"rotation_range": 10}, tta=2, **FAST
    ).fit(folder)
    proba = clf.predict_proba(folder)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(proba, clf.set_params(tta=0).predict_proba(folder))


@pytest.fixture
def copy_of(folder, tmp_path):
    def make(n_images=40):
        root = tmp_path / "data"
        for path in list_images(folder)[0][:n_images]:
            target = root / Path(path).relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(Path(path).read_bytes())
        return root

    return make


def test_corrupt_image_is_named(copy_of, bagged):
    root = copy_of()
    (root / "digit_0" / "broken.png").write_bytes(b"this is not a PNG")
    before = _tree_fingerprint(root)
    clf = DirectoryBaggedClassifier(dense_classifier, n_estimators=1, **FAST)
    with pytest.raises(ValueError, match=r"Cannot read image file .*broken\.png"):
        clf.fit(root)
    paths = list_images(root)[0]
    with pytest.raises(ValueError, match=r"Cannot read image file .*broken\.png"):
        bagged[0].predict(paths)
    assert _tree_fingerprint(root) == before


@backend_independent
def test_truncated_image_is_named_when_read(copy_of):
    root = copy_of()
    image = Path(list_images(root)[0][0])
    image.write_bytes(image.read_bytes()[:60])
    with pytest.raises(ValueError, match=rf"Cannot read image file .*{image.name}"):
        ImageFiles([str(image)], **IMAGES)[:]


@backend_independent
@pytest.mark.parametrize(
    "arrange, message",
    [
        (
            lambda root: (root / "empty").mkdir(),
            "has no images",
        ),
        (
            lambda root: (root / "loose.png").write_bytes(
                Path(list_images(root)[0][0]).read_bytes()
            ),
            "not in a class sub-folder",
        ),
    ],
    ids=["empty class folder", "image outside class folders"],
)
def test_folder_layout_errors(copy_of, arrange, message):
    root = copy_of()
    arrange(root)
    with pytest.raises(ValueError, match=message):
        DirectoryBaggedClassifier(dense_classifier, **FAST).fit(root)


@backend_independent
def test_input_errors(folder, tmp_path):
    clf = DirectoryBaggedClassifier(dense_classifier, **FAST)
    with pytest.raises(ValueError, match="No images found below"):
        clf.fit(tmp_path)
    with pytest.raises(ValueError, match="is not a folder"):
        clf.fit(tmp_path / "missing")
    with pytest.raises(ValueError, match="y must be None when X is a folder"):
        clf.fit(folder, np.zeros(200))
    paths = list_images(folder)[0]
    with pytest.raises(ValueError, match="requires y"):
        clf.fit(paths)
    with pytest.raises(ValueError, match="single file"):
        clf.fit(paths[0])
    with pytest.raises(ValueError, match="image_size must be"):
        DirectoryBaggedClassifier(dense_classifier, image_size=(8, 0)).fit(folder)
    with pytest.raises(ValueError, match="flows in-memory arrays"):
        DirectoryBaggedClassifier(dense_classifier, augmentation=_ArrayOnlyGenerator(), **FAST).fit(
            folder
        )
    missing = os.fspath(tmp_path / "gone.png")
    with pytest.raises(ValueError, match="gone.png"):
        clf.fit([missing], ["a"])


class _ArrayOnlyGenerator:
    def flow(self, X, y=None, batch_size=32, shuffle=True, seed=None):
        raise AssertionError("never reached")


def test_folder_images_example(tmp_path):
    path = Path(__file__).resolve().parents[1] / "examples" / "folder_images.py"
    spec = importlib.util.spec_from_file_location("folder_images_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    scores = example.run(tmp_path, epochs=3, members=1, folds=2)
    assert len(scores) == 4
    assert all(0.6 < score <= 1.0 for score in scores.values())


@backend_independent
def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")
    pixels = read_image(str(tmp_path / "deep.png"), (8, 8), "grayscale")[..., 0]
    assert_allclose(pixels, ramp // 257)


@backend_independent
def test_a_link_back_up_the_tree_neither_loops_nor_lists_images_twice(folder, tmp_path):
    paths, _ = list_images(folder)
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "a.png").write_bytes(Path(paths[0]).read_bytes())
    (tmp_path / "cls" / "up").symlink_to(tmp_path, target_is_directory=True)
    assert len(list_images(tmp_path)[0]) == 1


@backend_independent
def test_decoded_images_are_cached_up_to_the_budget(copy_of):
    paths = list_images(copy_of(10))[0]
    one_image = 8 * 8  # bytes of one decoded 8x8 grayscale image
    files = ImageFiles(paths, **IMAGES, cache_bytes=4 * one_image)
    first = files[:]
    assert len(files._cache) == 4 and files._cached_bytes <= files.cache_bytes
    for path in paths:  # cached rows no longer need their files; the others do
        os.remove(path)
    assert_array_equal(files[np.array([3, 0, 2])], first[[3, 0, 2]])
    with pytest.raises(ValueError, match="Cannot read image file"):
        files[4:5]
    assert files.take(np.arange(3))._cache == {}  # a subset starts empty


@contextlib.contextmanager
def _never_blocks(seconds=60):
    """Fail, instead of hanging the run, if the block opens a FIFO or reads a device."""

    def hung(signum, frame):
        raise TimeoutError("a FIFO or device named like an image was opened")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_fifo_named_like_an_image_never_blocks(copy_of):
    root = copy_of()
    fifo = root / "digit_0" / "pipe.png"
    os.mkfifo(fifo)
    skipped = rf"1 file named like an image .* skipped: {re.escape(repr(str(fifo)))} \(a FIFO\)\.$"
    with _never_blocks():
        # In a folder it is not an image: skipped, with a warning. Named in a path list: an error.
        with pytest.warns(UserWarning, match=skipped):
            assert str(fifo) not in list(list_images(root)[0])
        with pytest.warns(UserWarning, match=skipped):
            clf = DirectoryBaggedClassifier(dense_classifier, n_estimators=1, **FAST).fit(root)
        with pytest.raises(ValueError, match=r"pipe\.png.*is not a regular file"):
            clf.predict([str(fifo)])
        with pytest.raises(ValueError, match=r"pipe\.png.*is not a regular file"):
            read_image(str(fifo), (8, 8))


def _returns_none(input_shape, n_classes):
    """A builder that forgot to return its model: fit stops at it, after checking the data."""


def _named_like_images_but_no_files(root: Path, elsewhere: Path) -> Path:
    """Entries named like images in a class folder of ``root`` that are no image files.

    Four to warn about, in sorted order, and a few skipped without a word:
    hidden, of other extensions, and a real folder named like an image (it
    is walked into like any folder). Returns the class folder.
    """
    folder = root / "digit_0"
    os.symlink(elsewhere / "gone.png", folder / "a_broken.png")
    os.symlink("/dev/zero", folder / "b_zero.png")
    elsewhere.mkdir()
    os.symlink(elsewhere, folder / "c_linked.png", target_is_directory=True)
    os.mkfifo(folder / "d_pipe.png")
    os.mkfifo(folder / ".hidden.png")
    os.mkfifo(folder / "pipe.txt")
    (folder / "e_folder.png").mkdir()
    return folder


SKIPPED = "4 files named like images in {root!r} are not regular files and are skipped: "


@backend_independent
def test_entries_named_like_images_but_no_files_are_skipped_with_one_warning(copy_of, tmp_path):
    root = copy_of()
    folder = _named_like_images_but_no_files(root, tmp_path / "elsewhere")
    before = _tree_fingerprint(root)
    with _never_blocks(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths, labels = list_images(root)
        # fit lists the folder once, checks the images it found, then stops at the builder.
        clf = DirectoryBaggedClassifier(_returns_none, n_estimators=1, **FAST)
        with pytest.raises(TypeError, match="_returns_none returned NoneType"):
            clf.fit(root)
    assert len(paths) == 40 and set(labels) == {"digit_0", "digit_1"}
    expected = SKIPPED.format(root=str(root)) + ", ".join(
        [
            f"{str(folder / 'a_broken.png')!r} (a broken link)",
            f"{str(folder / 'b_zero.png')!r} (a link to a device)",
            f"{str(folder / 'c_linked.png')!r} (a link to a folder)",
        ]
    ) + " and 1 more."
    ours = [w for w in caught if "named like images" in str(w.message)]
    assert [str(w.message) for w in ours] == [expected, expected]  # one a listing
    # Each pointing at the line here that listed the folder, not into the library.
    assert {(w.category, w.filename) for w in ours} == {(UserWarning, __file__)}
    assert _tree_fingerprint(root) == before  # nothing created, changed or removed


def test_predicting_a_folder_warns_once_of_what_it_skips(copy_of, bagged, tmp_path):
    root = copy_of()
    _named_like_images_but_no_files(root, tmp_path / "elsewhere")
    with _never_blocks(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proba = bagged[0].predict_proba(root)
    assert proba.shape == (40, 10)
    (warning,) = [w for w in caught if "named like images" in str(w.message)]
    assert str(warning.message).startswith(SKIPPED.format(root=str(root)))
    assert warning.filename == __file__


@backend_independent
@pytest.mark.parametrize("inside", ["runs", "digit_0/runs", "."])
def test_save_dir_inside_the_training_folder_is_refused_before_writing(copy_of, inside):
    root = copy_of()
    before = _tree_fingerprint(root)
    clf = DirectoryKFoldClassifier(
        dense_classifier, n_splits=2, save_dir=root / inside, **FAST
    )
    with pytest.raises(ValueError, match="inside the training image folder"):
        clf.fit(root)
    assert _tree_fingerprint(root) == before


class _EpochCounter(keras.callbacks.Callback):
    epochs = 0

    def on_epoch_begin(self, epoch, logs=None):
        type(self).epochs += 1


@backend_independent
def test_a_32_bit_image_is_refused_before_training_naming_it(tmp_path):
    root = tmp_path / "images"
    _write_digits(root, 0, 40)
    deep = root / "digit_1" / "float.tif"
    Image.fromarray(np.random.RandomState(0).rand(8, 8).astype(np.float32)).save(deep)
    assert Image.open(deep).mode == "F"
    _EpochCounter.epochs = 0
    clf = DirectoryBaggedClassifier(
        dense_classifier, n_estimators=1, callbacks=[_EpochCounter()], **FAST
    )
    with pytest.raises(ValueError, match=r"float\.tif.*32-bit 'F' pixels"):
        clf.fit(root)
    assert _EpochCounter.epochs == 0  # refused from the header, before any epoch


@backend_independent
def test_a_symlinked_class_folder_is_named_as_a_link_not_followed(tmp_path):
    root = tmp_path / "images"
    _write_digits(root, 0, 40)
    (tmp_path / "elsewhere").mkdir()
    _write_digits(tmp_path / "elsewhere", 40, 60)
    os.symlink(tmp_path / "elsewhere" / "digit_5", root / "linked_fives")
    with pytest.raises(ValueError, match="linked_fives' is a symbolic link.*not followed"):
        DirectoryBaggedClassifier(dense_classifier, n_estimators=1, **FAST).fit(root)


@backend_independent
@pytest.mark.parametrize("estimator_class", [DirectoryBaggedClassifier, DirectoryKFoldClassifier])
def test_parameter_constraints_name_exactly_the_parameters(estimator_class):
    # scikit-learn's check_param_validation's first test. The array estimators'
    # random subspaces (max_features, bootstrap_features) are not the folders'.
    params = estimator_class(dense_classifier).get_params(deep=False)
    assert set(estimator_class._parameter_constraints) == set(params)
