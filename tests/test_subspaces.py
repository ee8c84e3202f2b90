"""Random subspaces: max_features, bootstrap_features and estimators_features_.

Semantics of scikit-learn's BaggingClassifier (its test_bagging.py checks the
same things of estimators_features_): each member draws its own columns,
trains on them and predicts from them.
"""

import copy
import io
import logging
import pickle
import shutil

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sk_kerasbag import BaggedKerasClassifier, BaggedKerasRegressor, load
from sk_kerasbag._inference import predict_rows

from .builders import dense_classifier, dense_regressor, small_cnn, three_class_rows
from .marks import backend_independent
from .shared import shared_fixture

TINY = dict(epochs=1, batch_size=32, random_state=0)
# The shared subspace ensemble: each of three members on 3 of the 6 columns.
SUBSPACED = dict(n_estimators=3, max_features=0.5, oob_score=True, **TINY)


@pytest.fixture(scope="module")
def rows():
    return three_class_rows(60)


# The fits below are read by several tests each (a test that changes one works on a copy).
@shared_fixture
def subspaced(rows, tmp_path_factory):
    """Fitted with strategy="auto" (which trains such members one by one) into a run folder,
    which test_a_resumed_run_gives_its_members_the_columns_they_trained_on resumes a copy of."""
    X, y = rows
    run = tmp_path_factory.mktemp("subspaced") / "run"
    return BaggedKerasClassifier(
        dense_classifier, strategy="auto", save_dir=run, **SUBSPACED
    ).fit(X, y)


@shared_fixture
def whole(rows):
    """The same three members on every column (max_features's default)."""
    X, y = rows
    return BaggedKerasClassifier(dense_classifier, n_estimators=3, **TINY).fit(X, y)


@shared_fixture
def packed_repeat(rows, tmp_path_factory):
    """``subspaced`` fitted again, asked to pack its members; and the warnings it logged.

    Into a run folder too: with save_dir sk_kerasbag shuffles the rows, so a fit
    without one would differ from ``subspaced``.
    """
    X, y = rows
    run = tmp_path_factory.mktemp("packed_repeat") / "run"
    log = io.StringIO()
    logger, handler = logging.getLogger("sk_kerasbag"), logging.StreamHandler(log)
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        again = BaggedKerasClassifier(
            dense_classifier, strategy="packed", save_dir=run, **SUBSPACED
        ).fit(X, y)
    finally:
        logger.removeHandler(handler)
    return again, log.getvalue()


def test_each_member_trains_and_predicts_on_its_own_columns(rows, subspaced):
    X, _ = rows
    features = subspaced.estimators_features_
    assert len(features) == 3
    for columns in features:  # without replacement: 3 distinct columns of the 6
        assert len(columns) == 3 and len(set(columns)) == 3 and columns.max() < 6
    assert len({tuple(c) for c in features}) > 1  # members draw their own
    members = subspaced.member_predictions(X)
    for k, (model, columns) in enumerate(zip(subspaced.estimators_, features)):
        assert model.input_shape == (None, 3)  # the builder got input_shape=(3,)
        own = predict_rows(model, X[:, columns], 256)
        np.testing.assert_allclose(members[k], own, rtol=1e-6)
    assert_array_equal(subspaced.predict_proba(X), members.mean(axis=0))


def test_columns_change_neither_the_rows_nor_a_repeat_fit(rows, subspaced, whole, packed_repeat):
    X, _ = rows
    for a, b in zip(subspaced.estimators_samples_, whole.estimators_samples_):
        assert_array_equal(a, b)  # the columns come from a stream of their own
    for columns in whole.estimators_features_:  # the default: every column, in order
        assert_array_equal(columns, np.arange(6))
    again, _ = packed_repeat  # (which trains one by one, as subspaced did)
    assert_array_equal(again.predict_proba(X), subspaced.predict_proba(X))
    assert again.oob_score_ == subspaced.oob_score_
    for a, b in zip(again.estimators_features_, subspaced.estimators_features_):
        assert_array_equal(a, b)


def test_bootstrap_features_draws_columns_with_replacement(rows):
    X, y = rows
    bag = BaggedKerasRegressor(
        dense_regressor, n_estimators=2, max_features=6, bootstrap_features=True, **TINY
    ).fit(X, y.astype(float))
    features = bag.estimators_features_
    assert all(len(columns) == 6 for columns in features)
    # 6 draws of 6 columns repeat one with probability 1 - 6!/6**6 (98%): some member does.
    assert any(len(set(columns)) < 6 for columns in features)
    assert bag.predict(X).shape == (60,)


def test_a_grown_subspace_ensemble_equals_a_cold_fit(rows):
    X, y = rows
    params = dict(max_features=3, bootstrap_features=True, **TINY)
    grown = BaggedKerasClassifier(dense_classifier, n_estimators=1, warm_start=True, **params)
    grown.fit(X, y).set_params(n_estimators=2).fit(X, y)
    cold = BaggedKerasClassifier(dense_classifier, n_estimators=2, **params).fit(X, y)
    for a, b in zip(grown.estimators_features_, cold.estimators_features_):
        assert_array_equal(a, b)
    assert_array_equal(grown.predict_proba(X), cold.predict_proba(X))


def test_subspace_members_survive_save_load_and_pickle(rows, subspaced, whole, tmp_path):
    X, _ = rows
    expected = subspaced.predict_proba(X)
    subspaced.save(tmp_path / "saved")
    loaded = load(tmp_path / "saved")
    assert_array_equal(loaded.predict_proba(X), expected)
    for a, b in zip(loaded.estimators_features_, subspaced.estimators_features_):
        assert_array_equal(a, b)
    assert_array_equal(pickle.loads(pickle.dumps(subspaced)).predict_proba(X), expected)
    # Saved before max_features existed: no estimators_features_, every member took every column.
    old = copy.deepcopy(whole)
    expected_old = old.predict_proba(X)
    del old.estimators_features_
    assert_array_equal(old.predict_proba(X), expected_old)


def test_a_saved_column_index_out_of_range_is_refused_at_load(subspaced, tmp_path):
    broken = pickle.loads(pickle.dumps(subspaced))
    broken.estimators_features_[1] = np.array([0, 1, 9])
    broken.save(tmp_path / "broken")
    with pytest.raises(ValueError, match="estimators_features_"):
        load(tmp_path / "broken")


@backend_independent  # refused before any model is built
def test_bad_max_features_are_clear_errors_before_training(rows):
    X, y = rows
    with pytest.raises(ValueError, match="max_features=7 asks for 7 columns, but X has 6"):
        BaggedKerasClassifier(dense_classifier, max_features=7, **TINY).fit(X, y)
    images = np.random.RandomState(0).rand(len(X), 8, 8, 1).astype(np.float32)
    for max_features in (0.5, 20):  # 20 columns: more than an image has rows, still this error
        with pytest.raises(ValueError, match="draw columns of 2-D X"):
            BaggedKerasClassifier(small_cnn, max_features=max_features, **TINY).fit(images, y)


def test_members_with_own_columns_train_one_by_one_not_packed(rows, subspaced, packed_repeat):
    X, _ = rows
    auto = subspaced  # strategy="auto"
    assert auto.fit_strategy_ == "sequential"
    packed, log = packed_repeat  # strategy="packed"
    assert packed.fit_strategy_ == "sequential"
    assert "each member takes its own columns" in log
    assert_array_equal(packed.predict_proba(X), auto.predict_proba(X))


def test_a_resumed_run_gives_its_members_the_columns_they_trained_on(rows, subspaced, tmp_path):
    X, y = rows
    saved = subspaced
    run = shutil.copytree(saved.save_dir, tmp_path / "run")  # resuming writes to the folder
    resumed = BaggedKerasClassifier(
        dense_classifier, strategy="auto", save_dir=run, resume=True, **SUBSPACED
    ).fit(X, y)  # every member finished: all are reloaded
    for a, b in zip(resumed.estimators_features_, saved.estimators_features_):
        assert_array_equal(a, b)
    assert_array_equal(resumed.predict_proba(X), saved.predict_proba(X))
    assert resumed.oob_score_ == saved.oob_score_


def test_a_warm_fit_refuses_other_columns_and_reads_an_ensemble_fitted_before_them(
    rows, subspaced, whole
):
    X, y = rows
    bag = copy.deepcopy(subspaced).set_params(warm_start=True, save_dir=None)  # 3 of 6 columns
    with pytest.raises(ValueError, match="other columns"):
        bag.set_params(n_estimators=4, max_features=1.0).fit(X, y)
    assert len(bag.estimators_) == 3  # refused before training
    # Fitted (saved, pickled) before max_features existed: its members took every column.
    old = BaggedKerasClassifier(dense_classifier, n_estimators=2, warm_start=True, **TINY)
    del old.fit(X, y).estimators_features_
    old.set_params(n_estimators=3).fit(X, y)
    cold = whole
    assert_array_equal(old.predict_proba(X), cold.predict_proba(X))
    assert [len(columns) for columns in old.estimators_features_] == [6, 6, 6]


def test_a_refit_on_images_forgets_the_columns_of_a_table(rows, subspaced):
    X, y = rows
    bag = copy.deepcopy(subspaced).set_params(save_dir=None, n_estimators=1)  # 3 of 6 columns
    bag.set_params(max_features=1.0).fit(X.reshape(len(X), 3, 2), y)
    assert not hasattr(bag, "estimators_features_")
    assert bag.predict_proba(X.reshape(len(X), 3, 2)).shape == (len(X), 3)
