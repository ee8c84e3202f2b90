"""The estimators inside scikit-learn's meta-estimators and persistence tools."""

import joblib
import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_kerasbag import (
    BaggedKerasClassifier,
    BaggedKerasRegressor,
    KFoldKerasClassifier,
    KFoldKerasRegressor,
)

from .builders import dense_classifier, dense_regressor
from .marks import worker_processes

FAST = dict(epochs=3, batch_size=32, random_state=0)
ONE, TWO = dict(n_estimators=1, **FAST), dict(n_splits=2, **FAST)


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=1)
    return X * 10 + 3, y


def test_pipeline(clf_data):
    X, y = clf_data
    pipe = make_pipeline(
        StandardScaler(), BaggedKerasClassifier(dense_classifier, n_estimators=2, **FAST)
    )
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.7
    assert pipe.predict_proba(X).shape == (len(X), 2)


@worker_processes
def test_grid_search_over_model_params_in_worker_processes(clf_data):
    X, y = clf_data
    search = GridSearchCV(
        KFoldKerasClassifier(dense_classifier, n_splits=2, **FAST),
        {"model__hidden": [2, 16]},
        cv=2,
        n_jobs=2,
    ).fit(X, y)
    assert search.best_params_["model__hidden"] in (2, 16)
    assert len(search.cv_results_["mean_test_score"]) == 2
    best_hidden = search.best_params_["model__hidden"]
    assert search.best_estimator_.estimators_[0].layers[-2].units == best_hidden


def test_stacking_classifier(clf_data):
    X, y = clf_data
    bag = make_pipeline(StandardScaler(), BaggedKerasClassifier(dense_classifier, **ONE))
    kfold = make_pipeline(StandardScaler(), KFoldKerasClassifier(dense_classifier, **TWO))
    stack = StackingClassifier(
        [("bag", bag), ("kfold", kfold)],
        final_estimator=LogisticRegression(),
        cv=2,
    ).fit(X, y)
    assert stack.score(X, y) > 0.7


def test_stacking_regressor():
    X, y = make_regression(n_samples=100, n_features=4, noise=1.0, random_state=0)
    y = y / y.std()
    stack = StackingRegressor(
        [
            ("bag", BaggedKerasRegressor(dense_regressor, n_estimators=1, **FAST)),
            ("kfold", KFoldKerasRegressor(dense_regressor, n_splits=2, **FAST)),
        ],
        final_estimator=LinearRegression(),
        cv=2,
    ).fit(X, y)
    assert stack.score(X, y) > 0.5


def test_calibrated_classifier(clf_data):
    X, y = clf_data
    calibrated = CalibratedClassifierCV(
        make_pipeline(
            StandardScaler(), BaggedKerasClassifier(dense_classifier, n_estimators=2, **FAST)
        ),
        cv=2,
    ).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert calibrated.score(X, y) > 0.7


@pytest.mark.parametrize(
    "estimator",
    [
        BaggedKerasClassifier(dense_classifier, n_estimators=2, oob_score=True, **FAST),
        KFoldKerasRegressor(dense_regressor, n_splits=2, **FAST),
    ],
    ids=["bagged-classifier", "kfold-regressor"],
)
def test_joblib_round_trip(estimator, clf_data, tmp_path):
    X, y = clf_data
    X = StandardScaler().fit_transform(X)
    estimator.fit(X, y)
    path = tmp_path / "ensemble.joblib"
    joblib.dump(estimator, path)
    loaded = joblib.load(path)
    method = "predict_proba" if hasattr(estimator, "predict_proba") else "predict"
    np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(estimator, method)(X))
    assert len(loaded.estimators_) == 2 and loaded.histories_ == estimator.histories_
