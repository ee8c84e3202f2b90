"""Metadata routing: sample_weight, groups and validation_data through scikit-learn's tools.

With ``sklearn.set_config(enable_metadata_routing=True)`` each estimator says
with ``set_fit_request`` which metadata it takes; ``Pipeline``,
``GridSearchCV``, ``cross_validate``, ``oof_predict`` and the OOF stackers
then hand those (and only those) to its ``fit``. Each test compares with the
estimator fitted directly on the same rows and metadata: what reached ``fit``
is what made its members.
"""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_predict, cross_validate
from sklearn.pipeline import Pipeline

from sk_kerasbag import (
    BaggedKerasClassifier,
    KFoldKerasClassifier,
    KFoldKerasRegressor,
    OOFStackingClassifier,
    oof_predict,
)

from .builders import dense_classifier, dense_regressor, three_class_rows
from .marks import backend_independent
from .shared import shared_fixture

FAST = dict(epochs=2, batch_size=16, random_state=0)


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


@pytest.fixture(scope="module")
def data():
    X, y = three_class_rows(48)
    rng = np.random.RandomState(1)
    # Weights far from uniform (a third of the rows 0), so weighted members differ.
    weights = rng.choice([0.0, 1.0, 3.0], size=len(X)).astype(np.float32)
    groups = np.arange(len(X)) % 6
    validation = (X[:8] + 0.01, y[:8])
    return X, y, weights, groups, validation


def _kfold(**params):
    return KFoldKerasClassifier(dense_classifier, cv=GroupKFold(n_splits=2), **FAST, **params)


def _respects_groups(folds, groups) -> bool:
    return all(not set(groups[train]) & set(groups[test]) for train, test in folds)


@shared_fixture
def direct_kfold(data):
    """The K-fold ensemble fitted directly with every metadata: what routing must reproduce."""
    X, y, weights, groups, validation = data
    with sklearn.config_context(enable_metadata_routing=True):
        return _kfold().fit(X, y, sample_weight=weights, groups=groups, validation_data=validation)


def test_pipeline_routes_each_requested_metadata_to_the_ensemble(routing, data, direct_kfold):
    X, y, weights, groups, validation = data
    metadata = dict(sample_weight=weights, groups=groups, validation_data=validation)
    requesting = _kfold().set_fit_request(sample_weight=True, groups=True, validation_data=True)
    pipe = Pipeline([("kfold", requesting)]).fit(X, y, **metadata)
    routed = pipe.named_steps["kfold"]
    assert _respects_groups(routed.folds_, groups)  # GroupKFold got the groups
    assert [len(h["val_loss"]) for h in routed.histories_] == [2, 2]  # validation_data
    assert_allclose(routed.histories_[0]["val_loss"], direct_kfold.histories_[0]["val_loss"])
    assert_array_equal(pipe.predict_proba(X), direct_kfold.predict_proba(X))
    unweighted = _kfold().fit(X, y, groups=groups, validation_data=validation)
    assert not np.allclose(pipe.predict_proba(X), unweighted.predict_proba(X))


@backend_independent  # the pipeline refuses the metadata before any model is built
def test_metadata_the_ensemble_did_not_request_is_an_error_naming_it(routing, data):
    # (A declined request, set_fit_request(sample_weight=False), is the stacker test's.)
    X, y, weights, groups, _ = data
    with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
        Pipeline([("kfold", _kfold())]).fit(X, y, sample_weight=weights, groups=groups)


def test_grid_search_routes_metadata_to_its_splitter_and_to_every_fit(routing, data):
    X, y, weights, groups, validation = data
    metadata = dict(sample_weight=weights, validation_data=validation)
    # One member per fit: the search's three fits (two folds, the refit) are what is checked.
    bag = BaggedKerasClassifier(dense_classifier, n_estimators=1, **FAST)
    bag.set_fit_request(sample_weight=True, validation_data=True)
    bag.set_score_request(sample_weight=True)
    # GroupKFold refuses to split without groups: the search's splitter got them.
    search = GridSearchCV(bag, {"epochs": [2]}, cv=GroupKFold(n_splits=2))
    search.fit(X, y, groups=groups, **metadata)
    direct = BaggedKerasClassifier(dense_classifier, n_estimators=1, **FAST).fit(X, y, **metadata)
    assert "val_loss" in search.best_estimator_.histories_[0]
    assert_array_equal(search.predict_proba(X), direct.predict_proba(X))


def test_cross_validate_slices_per_row_metadata_with_the_training_rows(routing, data):
    X, y, weights, groups, validation = data
    rng = np.random.RandomState(0)
    targets = X[:, :2] @ np.array([1.0, -2.0], dtype=np.float32) + rng.rand(len(X)) * 0.1
    val = (X[:8], targets[:8])
    regressor = KFoldKerasRegressor(dense_regressor, cv=GroupKFold(n_splits=2), **FAST)
    regressor.set_fit_request(sample_weight=True, groups=True, validation_data=True)
    regressor.set_score_request(sample_weight=True)
    params = dict(sample_weight=weights, groups=groups, validation_data=val)
    result = cross_validate(
        regressor, X, targets, cv=GroupKFold(n_splits=2), params=params,
        return_estimator=True, return_indices=True,
    )  # fmt: skip
    train = result["indices"]["train"][0]
    fitted = result["estimator"][0]
    assert _respects_groups(fitted.folds_, groups[train])  # the inner folds got the groups
    direct = KFoldKerasRegressor(dense_regressor, cv=GroupKFold(n_splits=2), **FAST).fit(
        X[train], targets[train], sample_weight=weights[train], groups=groups[train],
        validation_data=val,
    )  # fmt: skip
    assert "val_loss" in fitted.histories_[0]
    assert_array_equal(fitted.predict(X), direct.predict(X))


def test_oof_stacker_routes_groups_to_its_folds_and_metadata_to_requesting_bases(
    routing, data, direct_kfold
):
    X, y, weights, groups, validation = data
    kfold = KFoldKerasClassifier(dense_classifier, **FAST)
    # groups=False: a K-fold base of a stacker trains on the stacker's folds.
    kfold.set_fit_request(sample_weight=True, validation_data=True, groups=False)
    linear = LogisticRegression(max_iter=500).set_fit_request(sample_weight=False)
    # A base may be named "splitter": the stacker's own cv route does not take its place.
    stacker = OOFStackingClassifier(
        [("kfold", kfold), ("splitter", linear)], cv=GroupKFold(n_splits=2)
    ).fit(X, y, sample_weight=weights, groups=groups, validation_data=validation)
    fitted = stacker.named_estimators_["kfold"]
    assert _respects_groups(fitted.folds_, groups)  # the stacker's folds, group-aware
    # Those of GroupKFold(n_splits=2): the base equals the ensemble fitted directly on them.
    assert len(fitted.folds_) == len(direct_kfold.folds_) == 2
    for (train, test), (train_direct, test_direct) in zip(fitted.folds_, direct_kfold.folds_):
        assert_array_equal(train, train_direct)
        assert_array_equal(test, test_direct)
    assert_array_equal(fitted.oof_proba_, direct_kfold.oof_proba_)
    unweighted = LogisticRegression(max_iter=500).fit(X, y)  # it declined the weights
    assert_allclose(stacker.named_estimators_["splitter"].coef_, unweighted.coef_)
    # The final estimator is fitted with the weights on both bases' out-of-fold output.
    linear_oof = cross_val_predict(  # params={}: scikit-learn 1.6 routes params=None as **None
        LogisticRegression(max_iter=500), X, y, cv=fitted.folds_, method="predict_proba",
        params={},
    )  # fmt: skip
    meta = LogisticRegression().fit(
        np.hstack([fitted.oof_proba_, linear_oof]), y, sample_weight=weights
    )
    assert_allclose(stacker.final_estimator_.coef_, meta.coef_, rtol=1e-5)


@backend_independent  # scikit-learn models only
def test_without_routing_the_stacker_takes_sample_weight_alone(data):
    X, y, weights, groups, _ = data
    stacker = OOFStackingClassifier([("linear", LogisticRegression(max_iter=500))], cv=2)
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        stacker.fit(X, y, groups=groups)
    stacker.fit(X, y, sample_weight=weights)
    weighted = LogisticRegression(max_iter=500).fit(X, y, sample_weight=weights)
    assert_allclose(stacker.named_estimators_["linear"].coef_, weighted.coef_)


@backend_independent  # scikit-learn models only
def test_oof_predict_routes_params_as_cross_val_predict(data):
    X, y, weights, groups, _ = data
    cv = GroupKFold(n_splits=3)
    expected = oof_predict(
        LogisticRegression(max_iter=500), X, y, X[:5], cv=cv, groups=groups,
        params={"sample_weight": weights},
    )  # fmt: skip
    with sklearn.config_context(enable_metadata_routing=True):
        model = LogisticRegression(max_iter=500).set_fit_request(sample_weight=True)
        routed = oof_predict(
            model, X, y, X[:5], cv=cv, params={"sample_weight": weights, "groups": groups}
        )
        with pytest.raises(ValueError, match="pass them in params"):
            oof_predict(model, X, y, cv=cv, groups=groups)
        with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
            oof_predict(LogisticRegression(), X, y, cv=cv, params={"sample_weight": weights,
                                                                    "groups": groups})
    for routed_part, expected_part in zip(routed, expected):
        assert_allclose(routed_part, expected_part)
