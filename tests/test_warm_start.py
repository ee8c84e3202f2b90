"""warm_start: growing a fitted ensemble trains only the new members, as a cold fit would."""

import copy

import numpy as np
import pytest

from sk_kerasbag import BaggedKerasClassifier, KFoldKerasClassifier, KFoldKerasRegressor

from .builders import dense_classifier, dense_regressor, three_class_rows
from .shared import shared_fixture

TINY = dict(epochs=1, batch_size=32, random_state=0)
# The bagged ensembles grown here, with held-out rows of both kinds (out-of-bag, validation).
BAGGED = dict(oob_score=True, validation_split=0.2, **TINY)


@pytest.fixture(scope="module")
def rows():
    return three_class_rows(60)


@shared_fixture
def cold(rows):
    """A cold four-member fit: what a bagged ensemble grown to four members must equal."""
    X, y = rows
    return BaggedKerasClassifier(dense_classifier, n_estimators=4, **BAGGED).fit(X, y)


def assert_same_members(grown, cold):
    assert len(grown.estimators_) == len(cold.estimators_)
    for member, twin in zip(grown.estimators_, cold.estimators_):
        for weights, expected in zip(member.get_weights(), twin.get_weights()):
            np.testing.assert_array_equal(weights, expected)
    assert grown._seeds == cold._seeds
    for name in cold.fit_statistics_:
        if name != "seconds":
            np.testing.assert_array_equal(grown.fit_statistics_[name], cold.fit_statistics_[name])


def test_growing_a_bagged_ensemble_trains_only_new_members_and_equals_a_cold_fit(rows, cold):
    X, y = rows
    grown = BaggedKerasClassifier(dense_classifier, n_estimators=2, warm_start=True, **BAGGED)
    first = grown.fit(X, y).estimators_[:]
    first_seconds = grown.fit_statistics_["seconds"].copy()
    assert grown.set_params(n_estimators=4).fit(X, y) is grown
    # The fitted members are kept as they were: the same objects, their statistics unchanged.
    assert all(a is b for a, b in zip(grown.estimators_[:2], first))
    np.testing.assert_array_equal(grown.fit_statistics_["seconds"][:2], first_seconds)
    np.testing.assert_array_equal(grown.fit_statistics_["member"], [1, 2, 3, 4])

    assert_same_members(grown, cold)
    for rows_grown, rows_cold in zip(grown.estimators_samples_, cold.estimators_samples_):
        np.testing.assert_array_equal(rows_grown, rows_cold)
    # Out-of-bag predictions over all four members (NaN where no member left a row out).
    np.testing.assert_array_equal(grown.oob_decision_function_, cold.oob_decision_function_)
    assert grown.oob_score_ == cold.oob_score_
    np.testing.assert_array_equal(grown.predict_proba(X), cold.predict_proba(X))


def test_growing_a_kfold_ensemble_by_repeats_equals_a_cold_repeated_fit(rows):
    X, y = rows
    grown = KFoldKerasClassifier(dense_classifier, n_splits=2, warm_start=True, **TINY)
    grown.fit(X, y).set_params(n_repeats=2).fit(X, y)
    cold = KFoldKerasClassifier(dense_classifier, n_splits=2, n_repeats=2, **TINY).fit(X, y)
    assert_same_members(grown, cold)
    for (train, test), (train_cold, test_cold) in zip(grown.folds_, cold.folds_):
        np.testing.assert_array_equal(train, train_cold)
        np.testing.assert_array_equal(test, test_cold)
    np.testing.assert_array_equal(grown.oof_proba_, cold.oof_proba_)
    assert grown.oof_score_ == cold.oof_score_


def test_a_smaller_count_is_refused_and_the_same_count_trains_nothing(rows):
    X, y = rows
    reg = KFoldKerasRegressor(dense_regressor, n_splits=2, n_repeats=2, warm_start=True, **TINY)
    members = reg.fit(X, X[:, 0]).estimators_[:]
    with pytest.warns(UserWarning, match="without increasing n_repeats trains no new member") as w:
        reg.fit(X, X[:, 0])
    assert [warning.filename for warning in w] == [__file__]  # the user's line, not the library's
    assert all(a is b for a, b in zip(reg.estimators_, members)) and len(reg.estimators_) == 4
    with pytest.raises(ValueError, match="n_repeats=1 gives 2 members, fewer than the 4 fitted"):
        reg.set_params(n_repeats=1).fit(X, X[:, 0])
    # Growing what another split made is refused: n_splits is not the grown parameter.
    with pytest.raises(ValueError, match="split the rows of its 4 members otherwise"):
        reg.set_params(n_repeats=3, n_splits=3).fit(X, X[:, 0])
    # Without warm_start, fit starts again.
    reg.set_params(warm_start=False, n_repeats=1, n_splits=2).fit(X, X[:, 0])
    assert len(reg.estimators_) == 2 and reg.estimators_[0] is not members[0]


def test_a_grown_run_folder_gains_the_new_members_and_resumes_as_the_grown_ensemble(
    rows, cold, tmp_path
):
    # Grown from one member to two: a fit with save_dir shuffles the rows itself, so it
    # equals only a cold fit with save_dir (not the shared one), which costs its members.
    X, y = rows
    run = tmp_path / "run"
    grown = BaggedKerasClassifier(
        dense_classifier, n_estimators=1, warm_start=True, save_dir=run, **TINY
    ).fit(X, y)
    grown.set_params(n_estimators=2).fit(X, y)
    assert (run / "member_02.keras").is_file()
    assert len((run / "statistics.csv").read_text().splitlines()) == 1 + 2 + 4  # + mean/std/...
    cold_saved = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, save_dir=tmp_path / "cold", **TINY
    ).fit(X, y)
    assert_same_members(grown, cold_saved)
    # The folder now holds a two-member run: resuming it reloads both, training none.
    resumed = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, save_dir=run, resume=True, **TINY
    ).fit(X, y)
    assert_same_members(resumed, cold_saved)
    seconds = resumed.fit_statistics_["seconds"]
    np.testing.assert_array_equal(seconds, grown.fit_statistics_["seconds"])

    # A fitted ensemble (saved nowhere) grown into a folder: no run there to add members to.
    elsewhere = copy.deepcopy(cold)
    elsewhere.set_params(warm_start=True, n_estimators=5, save_dir=tmp_path / "new")
    with pytest.raises(ValueError, match="holds no run"):
        elsewhere.fit(X, y)


def test_a_packed_ensemble_grows_by_packed_members(rows, cold):
    X, y = rows
    packed = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, strategy="packed", warm_start=True, **TINY
    )
    first = packed.fit(X, y).estimators_[:]
    weights = [member.get_weights() for member in first]
    packed.set_params(n_estimators=4).fit(X, y)
    assert len(packed.estimators_) == 4 and packed.fit_strategy_ != "sequential"
    for member, before in zip(packed.estimators_[:2], weights):
        for now, then in zip(member.get_weights(), before):
            np.testing.assert_array_equal(now, then)
    # The new members have their own rows and seeds, those of a cold four-member fit.
    assert packed._seeds == cold._seeds
    for rows_packed, rows_cold in zip(packed.estimators_samples_, cold.estimators_samples_):
        np.testing.assert_array_equal(rows_packed, rows_cold)
    assert np.isfinite(packed.predict_proba(X)).all()
