"""Repeated K-fold (``n_repeats``) and quantile-stratified folds for regressors."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import KFold
from sklearn.utils._param_validation import InvalidParameterError

from sk_kerasbag import KFoldKerasClassifier, KFoldKerasRegressor, oof_predict
from sk_kerasbag._splitting import quantile_bins

from .builders import dense_classifier, dense_regressor, three_class_rows
from .marks import backend_independent
from .shared import shared_fixture

TINY = dict(epochs=1, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def rows():
    return three_class_rows(60)


def _skewed_target(n_rows):
    """A skewed target in row order: unshuffled plain folds each take one end of it."""
    return np.sort(np.random.RandomState(1).exponential(size=n_rows)).astype(np.float32)


@shared_fixture
def unshuffled(rows, tmp_path_factory):
    """A plain, unshuffled two-fold regressor of the skewed target, and its run folder."""
    X, _ = rows
    run = tmp_path_factory.mktemp("unshuffled") / "run"
    reg = KFoldKerasRegressor(dense_regressor, n_splits=2, shuffle=False, save_dir=run, **TINY)
    return reg.fit(X, _skewed_target(len(X))), run


def _rounds(folds, n_splits):
    return [folds[r : r + n_splits] for r in range(0, len(folds), n_splits)]


def test_each_round_holds_every_row_out_once_and_oof_is_the_mean_over_rounds(rows):
    X, y = rows
    # Two folds a round (not three): all that is checked here holds for any number.
    repeated = KFoldKerasClassifier(dense_classifier, n_splits=2, n_repeats=2, **TINY).fit(X, y)
    assert len(repeated.estimators_) == len(repeated.folds_) == 4
    rounds = _rounds(repeated.folds_, 2)
    for folds in rounds:
        assert sorted(np.concatenate([test for _, test in folds])) == list(range(len(X)))
        for train, test in folds:
            assert not np.intersect1d(train, test).size
            # Stratified within each round, as RepeatedStratifiedKFold is.
            counts = [np.bincount(y[test], minlength=3) for _, test in folds]
            assert np.ptp(counts, axis=0).max() <= 1
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(*rounds))  # shuffled anew

    # Each row's out-of-fold probabilities: the mean of the two members that held it out.
    members = repeated.member_predictions(X)
    expected = np.zeros_like(repeated.oof_proba_)
    for k, (_, test) in enumerate(repeated.folds_):
        expected[test] += members[k][test] / 2
    np.testing.assert_allclose(repeated.oof_proba_, expected, rtol=1e-5, atol=1e-7)
    accuracy = np.mean(repeated.classes_[expected.argmax(axis=1)] == y)
    assert repeated.oof_score_ == pytest.approx(accuracy)

    # Round one is the plain K-fold of the same random_state, member for member.
    single = KFoldKerasClassifier(dense_classifier, n_splits=2, **TINY).fit(X, y)
    for (train, test), (train1, test1) in zip(repeated.folds_[:2], single.folds_):
        np.testing.assert_array_equal(test, test1)
        np.testing.assert_array_equal(train, train1)
    for member, same in zip(repeated.estimators_, single.estimators_):
        for weights, expected_weights in zip(member.get_weights(), same.get_weights()):
            np.testing.assert_array_equal(weights, expected_weights)

    # Stacking from the fitted ensemble: its averaged OOF, and every member on the test rows.
    oof, test_pred = oof_predict(repeated, X, y, X[:7], cv="prefit")
    np.testing.assert_array_equal(oof, repeated.oof_proba_)
    np.testing.assert_allclose(test_pred, np.mean(members[:, :7], axis=0), rtol=1e-6)
    log_oof, _ = oof_predict(repeated, X, y, cv="prefit", method="predict_log_proba")
    np.testing.assert_allclose(log_oof, np.log(repeated.oof_proba_), rtol=1e-6)


@backend_independent
def test_repeats_are_refused_where_they_cannot_mean_anything(rows):
    X, y = rows
    with pytest.raises(ValueError, match="n_repeats=2 needs shuffle=True"):
        KFoldKerasClassifier(dense_classifier, n_repeats=2, shuffle=False, **TINY).fit(X, y)
    with pytest.raises(ValueError, match="n_repeats=2 repeats the default folds, but cv=3 "):
        KFoldKerasClassifier(dense_classifier, n_repeats=2, cv=3, **TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"but cv \(a KFold splitter\) replaces them"):
        KFoldKerasClassifier(dense_classifier, n_repeats=2, cv=KFold(3), **TINY).fit(X, y)
    # A list of folds is described, not printed: 120 folds' indices would fill the screen.
    folds = list(KFold(3).split(X)) * 40
    with pytest.raises(ValueError) as refused:
        KFoldKerasClassifier(dense_classifier, n_repeats=3, cv=folds, **TINY).fit(X, y)
    message = str(refused.value)
    assert message.startswith(
        "n_repeats=3 repeats the default folds, but cv (a list of 120 given folds) replaces them."
    )
    assert "array" not in message and len(message) < 300
    with pytest.raises(InvalidParameterError, match="n_repeats"):
        KFoldKerasRegressor(dense_regressor, n_repeats=0, **TINY).fit(X, X[:, 0])


def test_prefit_stacking_refuses_folds_that_hold_rows_out_unequally(rows):
    X, y = rows
    # Every row held out, rows 20-29 twice: no row lacks a prediction, yet the
    # held-out predictions of those rows average two fold models, the others' one.
    uneven = [(np.arange(30, 60), np.arange(30)), (np.arange(20), np.arange(20, 60))]
    clf = KFoldKerasClassifier(dense_classifier, cv=uneven, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every row is held out: no coverage warning
        clf.fit(X, y)
    with pytest.raises(ValueError, match="hold out every row equally often"):
        oof_predict(clf, X, y, cv="prefit")


@backend_independent
def test_quantile_bins_have_equal_counts_of_at_least_n_splits_rows():
    y = np.random.RandomState(0).lognormal(size=103)
    bins = quantile_bins(y, n_splits=5)
    counts = np.bincount(bins)
    assert len(counts) == 103 // 5 and counts.min() >= 5 and np.ptp(counts) <= 1
    # Ordered as the target is: a higher bin never holds a smaller target.
    assert all(y[bins == b].max() <= y[bins == b + 1].min() for b in range(len(counts) - 1))
    np.testing.assert_array_equal(quantile_bins(y[:, None], 5), bins)
    with pytest.raises(ValueError, match="y has 2 columns"):
        quantile_bins(np.zeros((10, 2)), 5)


def test_stratified_regressor_folds_each_cover_the_whole_target_range_and_repeats_average(
    rows, unshuffled
):
    X, _ = rows
    y = _skewed_target(len(X))
    bins = quantile_bins(y, n_splits=2)
    plain = unshuffled[0]
    assert all(len(np.unique(bins[test])) < bins.max() + 1 for _, test in plain.folds_)
    for shuffle, n_repeats in ((False, 1), (True, 2)):
        stratified = KFoldKerasRegressor(
            dense_regressor, n_splits=2, n_repeats=n_repeats, shuffle=shuffle, stratify=True,
            **TINY,
        ).fit(X, y)  # fmt: skip
        assert len(stratified.folds_) == 2 * n_repeats
        for _, test in stratified.folds_:
            assert set(bins[test]) == set(bins)  # a row of every bin in every fold
            assert y[test].min() <= np.quantile(y, 0.05) and y[test].max() >= np.quantile(y, 0.95)
        assert stratified.oof_prediction_.shape == (len(X),)
    # The repeated regressor (two rounds) averages its rounds: each row's out-of-fold
    # prediction is the mean of the two members that held it out.
    members = stratified.member_predictions(X)
    expected = np.zeros(len(X))
    for k, (_, test) in enumerate(stratified.folds_):
        expected[test] += members[k][test].ravel() / 2
    np.testing.assert_allclose(stratified.oof_prediction_, expected, rtol=1e-5, atol=1e-6)
    # A splitter given as cv overrides stratify, as it overrides n_splits and shuffle.
    given = KFoldKerasRegressor(dense_regressor, cv=KFold(2), stratify=True, **TINY).fit(X, y)
    for (_, test), (_, expected_test) in zip(given.folds_, KFold(2).split(X)):
        np.testing.assert_array_equal(test, expected_test)


def test_runs_and_pickles_from_before_n_repeats_and_stratify_carry_on(
    rows, unshuffled, tmp_path
):
    import json
    import pickle
    import shutil

    X, _ = rows
    y = _skewed_target(len(X))
    fitted = unshuffled[0]
    run = shutil.copytree(unshuffled[1], tmp_path / "run")  # a copy: the shared run stays
    params = dict(n_splits=2, shuffle=False, save_dir=run, **TINY)
    # A run folder and a pickle as an older version wrote them, without these parameters.
    record = json.loads((run / "run.json").read_text())
    for name in ("n_repeats", "stratify"):
        del record["params"][name]
    (run / "run.json").write_text(json.dumps(record))
    resumed = KFoldKerasRegressor(dense_regressor, resume=True, **params).fit(X, y)
    np.testing.assert_array_equal(resumed.predict(X), fitted.predict(X))
    state = fitted.__getstate__()
    for name in ("n_repeats", "stratify", "warm_start"):
        del state[name]
    old = pickle.loads(pickle.dumps(fitted))
    old.__dict__.clear()
    old.__setstate__(state)
    assert (old.n_repeats, old.stratify, old.warm_start) == (1, False, False)
    np.testing.assert_array_equal(old.predict(X), fitted.predict(X))
