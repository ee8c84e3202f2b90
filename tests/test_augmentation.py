"""Augmentation during training and test-time augmentation (TTA)."""

import copy

import keras
import numpy as np
import pytest

# The legacy generator Keras 3 still ships, though it no longer exports it.
from keras.src.legacy.preprocessing.image import ImageDataGenerator
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError

from sk_kerasbag import (
    BaggedKerasClassifier,
    BaggedKerasRegressor,
    KFoldKerasClassifier,
    load_digits_images,
)
from sk_kerasbag._augmentation import ImageAugmentation, Preprocessing, make_augmentation
from sk_kerasbag.models import basic_cnn

from .builders import dense_classifier, small_cnn
from .marks import backend_independent
from .shared import shared_fixture

FAST = dict(epochs=2, batch_size=32, random_state=0)
MILD = {
    "rotation_range": 10,
    "width_shift_range": 0.1,
    "height_shift_range": 0.1,
    "zoom_range": 0.1,
}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images()
    return train_test_split(X, y, test_size=300, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def images():
    X, y = load_digits_images()
    return X[:160], y[:160]


@shared_fixture
def plain_and_rescaled(images):
    """One member on the images' pixels, and one on pixels 16 times larger rescaled by 1/16."""
    X, y = images
    plain = BaggedKerasClassifier(small_cnn, n_estimators=1, **FAST).fit(X, y)
    rescaled = BaggedKerasClassifier(
        small_cnn, n_estimators=1, augmentation={"rescale": 1 / 16}, **FAST
    ).fit(X * 16, y)
    return plain, rescaled


@shared_fixture
def mild_kfold(images):
    """K-fold members trained on mildly augmented images, predicting with two TTA passes."""
    X, y = images
    return KFoldKerasClassifier(
        small_cnn, n_splits=2, epochs=2, augmentation=MILD, tta=2, random_state=0
    ).fit(X, y)


@shared_fixture
def centred_kfold(images):
    """K-fold members on images centred by their own rows' mean: no random transform."""
    X, y = images
    return KFoldKerasClassifier(
        small_cnn, n_splits=2, augmentation={"featurewise_center": True}, **FAST
    ).fit(X, y)


class HorizontalFlipper:
    """A minimal generator object: every augmented image is the mirror image."""

    def flow(self, X, y=None, batch_size=32, shuffle=True, seed=None, sample_weight=None):
        return _FlippedBatches(X, y, batch_size)


class _FlippedBatches(keras.utils.PyDataset):
    def __init__(self, X, y, batch_size):
        super().__init__()
        self.X, self.y, self.batch_size = X, y, batch_size

    def __len__(self):
        return -(-len(self.X) // self.batch_size)

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        flipped = self.X[rows, :, ::-1]
        return flipped if self.y is None else (flipped, self.y[rows])


# -- the vectorised transforms ------------------------------------------------
# NumPy, identical under every backend: they run under TensorFlow only.


@backend_independent
@pytest.mark.parametrize(
    "fill_mode, scipy_mode",
    [
        ("nearest", "nearest"),
        ("reflect", "reflect"),
        ("wrap", "grid-wrap"),
        ("constant", "grid-constant"),
    ],
)
def test_rotation_matches_scipy(fill_mode, scipy_mode):
    X = np.random.default_rng(0).random((1, 9, 7, 1)).astype(np.float32)
    augmentation = ImageAugmentation({"rotation_range": 40, "fill_mode": fill_mode, "cval": 0.5})
    draws = np.full((1, 10), 0.5)
    draws[0, 0] = 0.9  # the rotation's draw: 0.9 of the way from -40 to 40 degrees
    rotated = augmentation.random_transform(X, draws)
    theta = np.deg2rad(32.0)
    matrix = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    centre = np.array([4.0, 3.0])
    expected = ndimage.affine_transform(
        X[0, :, :, 0], matrix, offset=centre - matrix @ centre, order=1, mode=scipy_mode, cval=0.5
    )
    assert_allclose(rotated[0, :, :, 0], expected, atol=1e-5)


@backend_independent
def test_flips_and_identity_are_exact():
    X = np.random.default_rng(0).random((6, 5, 4, 3)).astype(np.float32)
    draws = np.full((6, 10), 0.5)  # the middle of every range: no change
    moves = ImageAugmentation({"rotation_range": 30, "shear_range": 10, "width_shift_range": 0.2})
    assert_array_equal(moves.random_transform(X, draws), X)
    draws[:, 7] = [0.1, 0.9, 0.2, 0.8, 0.3, 0.7]  # the horizontal flip's draw: < 0.5 flips
    flipped = ImageAugmentation({"horizontal_flip": True}).random_transform(X, draws)
    assert_array_equal(flipped[0::2], X[0::2, :, ::-1])
    assert_array_equal(flipped[1::2], X[1::2])


@backend_independent
@pytest.mark.parametrize(
    "settings, column, draw, keras_transform",
    [
        ({"rotation_range": 40}, 0, 0.75, {"theta": -20}),  # Keras turns the other way
        ({"shear_range": 20}, 3, 0.75, {"shear": 10}),
        ({"zoom_range": 0.2}, 4, 0.75, {"zy": 1.1}),
        ({"zoom_range": 0.2}, 5, 0.25, {"zx": 0.9}),
        ({"channel_shift_range": 0.4}, 8, 0.875, {"channel_shift_intensity": 0.3}),
    ],
)
def test_transforms_match_image_data_generator(settings, column, draw, keras_transform):
    X = np.random.default_rng(0).random((1, 9, 9, 2)).astype(np.float32)
    draws = np.full((1, 10), 0.5)
    draws[0, column] = draw
    ours = ImageAugmentation(settings).random_transform(X, draws)[0]
    theirs = ImageDataGenerator(fill_mode="nearest").apply_transform(X[0], keras_transform)
    assert_allclose(ours, theirs, atol=1e-6)


@backend_independent
def test_tta_passes_are_reproducible_and_seeded_by_image_content():
    X = np.random.default_rng(0).random((20, 8, 8, 1)).astype(np.float32)
    augmentation = ImageAugmentation(MILD)
    first = augmentation.augment(X, Preprocessing(), seed=7)
    assert_array_equal(first, augmentation.augment(X, Preprocessing(), seed=7))
    assert not np.allclose(first, augmentation.augment(X, Preprocessing(), seed=8))
    # An image's transform does not depend on the other rows or its position.
    assert_array_equal(first[5:6], augmentation.augment(X[5:6], Preprocessing(), seed=7))
    assert_array_equal(first[::-1], augmentation.augment(X[::-1], Preprocessing(), seed=7))


@backend_independent
def test_training_batches_differ_per_member_and_epoch():
    X = np.random.default_rng(0).random((40, 8, 8, 1)).astype(np.float32)
    y, weights = np.arange(40), np.linspace(0.1, 1, 40).astype(np.float32)

    def batches(seed):
        return make_augmentation(MILD).training_data(
            X, y, weights, batch_size=16, seed=seed, preprocessing=Preprocessing()
        )["x"]

    member = batches(1)
    x0, y0, w0 = member[0]
    assert len(member) == 3 and x0.shape == (16, 8, 8, 1)
    assert_array_equal(w0, weights[y0])  # weights travel with their rows
    assert_array_equal(x0, batches(1)[0][0])
    assert not np.array_equal(x0, batches(2)[0][0])
    member.on_epoch_end()
    assert not np.array_equal(x0, member[0][0])


def test_deterministic_settings_are_applied_identically(digits, plain_and_rescaled):
    """rescale on raw pixels trains and predicts exactly as pre-scaled input."""
    _, X_test, _, _ = digits
    plain, rescaled = plain_and_rescaled
    assert_array_equal(plain.predict_proba(X_test), rescaled.predict_proba(X_test * 16))


def test_featurewise_statistics_come_from_each_members_rows(images):
    X, y = images
    X_val, y_val = X[:40], y[:40]
    augmentation = {"featurewise_center": True, "featurewise_std_normalization": True}
    bag = BaggedKerasClassifier(small_cnn, n_estimators=2, augmentation=augmentation, **FAST).fit(
        X, y, validation_data=(X_val, y_val)
    )
    held_epochs = bag.fit_statistics_["held_epoch"] - 1
    for member, rows, fitted, history, held in zip(
        bag.estimators_, bag.estimators_samples_, bag.preprocessing_, bag.histories_, held_epochs
    ):
        assert_allclose(fitted.mean, X[rows].mean(axis=(0, 1, 2)), rtol=1e-5)
        assert_allclose(fitted.std, X[rows].std(axis=(0, 1, 2)), rtol=1e-4)
        # Validation rows got the member's own preprocessing.
        standardized = (X_val - fitted.mean) / (fitted.std + 1e-6)
        assert history["val_loss"][held] == pytest.approx(
            member.evaluate(standardized, y_val, verbose=0), rel=1e-4
        )
    assert not np.allclose(bag.preprocessing_[0].mean, bag.preprocessing_[1].mean)


def test_heldout_rows_get_the_members_preprocessing(images, centred_kfold):
    X, _ = images
    kfold = centred_kfold
    for member, (_, heldout), fitted in zip(kfold.estimators_, kfold.folds_, kfold.preprocessing_):
        expected = member(X[heldout] - fitted.mean, training=False)
        assert_allclose(kfold.oof_proba_[heldout], keras.ops.convert_to_numpy(expected), rtol=1e-5)


def test_augmented_training_learns_and_tta_keeps_rows_aligned(digits):
    X_train, X_test, y_train, y_test = digits
    clf = BaggedKerasClassifier(
        basic_cnn, n_estimators=1, epochs=6, augmentation=MILD, model__filters=8, random_state=0
    ).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.85
    clf.set_params(tta=3)
    # Shuffled or mis-summed rows would collapse the accuracy.
    assert clf.score(X_test, y_test) > 0.85


def test_tta_is_read_at_predict_time(images, mild_kfold):
    X, _ = images
    clf = copy.deepcopy(mild_kfold).set_params(tta=0)
    plain = clf.predict_proba(X)
    clf.set_params(tta=3)
    with_tta = clf.predict_proba(X)
    assert not np.allclose(plain, with_tta)
    assert_allclose(with_tta.sum(axis=1), 1.0, rtol=1e-6)
    # Each image's passes depend on the image, not on its position or neighbours.
    assert_allclose(clf.predict_proba(X[5:6]), with_tta[5:6], rtol=1e-6)
    assert_allclose(clf.predict_proba(X[::-1])[::-1], with_tta, rtol=1e-6)
    # augmentation is read at predict time too: milder TTA, other predictions.
    clf.set_params(augmentation={"horizontal_flip": True})
    assert not np.allclose(clf.predict_proba(X), with_tta)
    clf.set_params(augmentation=MILD, tta=0)
    assert_array_equal(clf.predict_proba(X), plain)


def test_tta_with_only_transforms_that_move_nothing_is_the_plain_prediction(
    images, centred_kfold
):
    # Centring is fitted, not drawn: every TTA pass would be the clean one.
    X, _ = images
    clf = copy.deepcopy(centred_kfold)
    plain = clf.predict_proba(X)
    clf.set_params(tta=4)
    assert_allclose(clf.predict_proba(X), plain, rtol=1e-6)


def test_tta_is_the_mean_of_the_clean_and_augmented_passes(images):
    X, y = images
    clf = BaggedKerasClassifier(small_cnn, n_estimators=2, augmentation=HorizontalFlipper(), **FAST)
    clf.fit(X, y)
    clf.set_params(tta=3)
    flipped = X[:, :, ::-1]
    expected = np.mean(
        [
            (
                keras.ops.convert_to_numpy(m(X, training=False))
                + 3 * keras.ops.convert_to_numpy(m(flipped, training=False))
            )
            / 4
            for m in clf.estimators_
        ],
        axis=0,
    )
    assert_allclose(clf.predict_proba(X), expected, rtol=1e-5)
    assert_allclose(clf.member_predictions(X).mean(axis=0), expected, rtol=1e-5)


def test_tta_for_regressors(images):
    X, _ = images
    y = X.mean(axis=(1, 2, 3)) * 10  # invariant to flips
    reg = BaggedKerasRegressor(
        _flat_regressor, n_estimators=1, augmentation={"horizontal_flip": True}, tta=2, **FAST
    ).fit(X, y)
    prediction = reg.predict(X)
    assert prediction.shape == (len(X),)
    reg.set_params(tta=0)
    assert not np.allclose(prediction, reg.predict(X))


def _flat_regressor(input_shape, n_outputs):
    model = keras.Sequential(
        [keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(n_outputs)]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def test_same_seed_same_augmented_predictions(images, mild_kfold):
    X, y = images

    def fit(seed):
        return KFoldKerasClassifier(
            small_cnn, n_splits=2, epochs=2, augmentation=MILD, tta=2, random_state=seed
        ).fit(X, y)

    first, again = mild_kfold, fit(0)
    assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    assert_array_equal(first.oof_proba_, again.oof_proba_)
    assert not np.allclose(first.predict_proba(X), fit(1).predict_proba(X))


def test_legacy_image_data_generator_object(images):
    X, y = images
    generator = ImageDataGenerator(rotation_range=10, featurewise_center=True, rescale=2.0)

    def fit():
        return BaggedKerasClassifier(
            small_cnn, n_estimators=2, augmentation=generator, tta=2, **FAST
        ).fit(X, y, sample_weight=np.ones(len(X)))

    bag = fit()
    assert generator.mean is None  # the user's object is never fitted itself
    numpy_state = np.random.get_state()[1].copy()
    for rows, fitted in zip(bag.estimators_samples_, bag.preprocessing_):
        assert_allclose(
            fitted.generator.mean.ravel(), 2.0 * X[rows].mean(axis=(0, 1, 2)), rtol=1e-5
        )
    proba = bag.predict_proba(X)
    # The legacy generator seeds NumPy's global generator; the caller's state is kept.
    assert_array_equal(np.random.get_state()[1], numpy_state)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert_array_equal(proba, fit().predict_proba(X))
    assert_allclose(bag.predict_proba(X[::-1])[::-1], proba, rtol=1e-6)


@pytest.mark.parametrize(
    "augmentation, message",
    [
        ({"rotation": 10}, "Unknown augmentation setting 'rotation'"),
        ({"zca_whitening": True}, "'zca_whitening' is not supported"),
        ({"zoom_range": (1.2, 0.8)}, "'zoom_range' must be a pair"),
        ({"zoom_range": 1.5}, r"must be in \[0, 1.0\)"),
        ({"fill_mode": "mirror"}, "'fill_mode' must be one of"),
        ({"horizontal_flip": "yes"}, "'horizontal_flip' must be True or False"),
    ],
)
@backend_independent  # refused before any model is built
def test_bad_augmentation_settings_are_named(images, augmentation, message):
    X, y = images
    with pytest.raises(ValueError, match=message):
        BaggedKerasClassifier(small_cnn, augmentation=augmentation, **FAST).fit(X, y)


@backend_independent  # refused before any model is built
def test_image_transforms_need_images():
    X, y = np.random.default_rng(0).random((40, 6)), np.arange(40) % 2
    with pytest.raises(ValueError, match=r"must have shape \(n_samples, height, width, channels\)"):
        BaggedKerasClassifier(dense_classifier, augmentation={"rotation_range": 5}, **FAST).fit(
            X, y
        )


def test_tta_without_augmentation_or_with_bad_values_is_refused(images, plain_and_rescaled):
    X, y = images
    unfitted = KFoldKerasClassifier(small_cnn, tta=2, **FAST)
    with pytest.raises(ValueError, match="tta=2 needs an augmentation"):
        unfitted.fit(X, y)
    assert not hasattr(unfitted, "estimators_")  # refused before any member trained
    clf = copy.deepcopy(plain_and_rescaled[0])  # fitted without augmentation
    with pytest.raises(ValueError, match="tta=2 needs an augmentation"):
        clf.set_params(tta=2).predict(X)
    with pytest.raises(InvalidParameterError, match="tta"):
        clf.set_params(tta=-1).predict(X)
    with pytest.raises(InvalidParameterError, match="augmentation"):
        clf.set_params(tta=0, augmentation="flip").predict(X)


def test_tta_with_a_generator_needs_members_fitted_with_one(images, mild_kfold):
    X, _ = images
    clf = copy.deepcopy(mild_kfold)  # fitted with a dict of settings
    clf.set_params(augmentation=ImageDataGenerator(rotation_range=10), tta=1)
    with pytest.raises(ValueError, match="needs members fitted with a generator object"):
        clf.predict(X)


def test_deterministic_preprocessing_stays_as_fitted(images):
    X, y = images
    clf = BaggedKerasClassifier(
        small_cnn, n_estimators=1, augmentation={"rescale": 0.5, "rotation_range": 20}, **FAST
    ).fit(X, y)
    plain = clf.predict_proba(X)
    for later in [None, {"horizontal_flip": True}, {"featurewise_center": True}]:
        assert_array_equal(clf.set_params(augmentation=later).predict_proba(X), plain)


def test_preprocessing_function_never_changes_the_callers_arrays(images):
    X, y = images

    def shift_in_place(image):
        image -= 0.5
        return image

    original = X.copy()
    X_val = X[:20].copy()
    clf = BaggedKerasClassifier(
        small_cnn, n_estimators=1, augmentation={"preprocessing_function": shift_in_place}, **FAST
    ).fit(X, y, validation_data=(X_val, y[:20]))
    clf.predict_proba(X)
    assert_array_equal(X, original)
    assert_array_equal(X_val, original[:20])
    fitted = clf.preprocessing_[0]
    assert_allclose(fitted.transform(X[:3]), X[:3] - 0.5)
