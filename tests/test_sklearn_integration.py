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
from .shared import shared_fixture

FAST = dict(epochs=3, batch_size=32, random_state=0)
ONE, TWO = dict(n_estimators=1, **FAST), dict(n_splits=2, **FAST)


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=1)
    return X * 10 + 3, y


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=100, n_features=4, noise=1.0, random_state=0)
    return X, y / y.std()


# Fitted once for the tests that read them: test_pipeline scores the pipeline and
# test_joblib_round_trip pickles its ensemble; the stacker's fitted K-fold base is
# the other ensemble that test_joblib_round_trip pickles.
@shared_fixture
def pipe(clf_data):
    X, y = clf_data
    return make_pipeline(
        StandardScaler(),
        BaggedKerasClassifier(dense_classifier, n_estimators=2, oob_score=True, **FAST),
    ).fit(X, y)


@shared_fixture
def stacked_regressor(reg_data):
    return StackingRegressor(
        [
            ("bag", BaggedKerasRegressor(dense_regressor, n_estimators=1, **FAST)),
            ("kfold", KFoldKerasRegressor(dense_regressor, n_splits=2, **FAST)),
        ],
        final_estimator=LinearRegression(),
        cv=2,
    ).fit(*reg_data)


def test_pipeline(clf_data, pipe):
    X, y = clf_data
    assert pipe.score(X, y) > 0.7
    assert pipe.predict_proba(X).shape == (len(X), 2)


@worker_processes
def test_grid_search_over_model_params_in_worker_processes(clf_data):
    # One member per candidate: what is checked is the search, not the ensembles.
    X, y = clf_data
    search = GridSearchCV(
        BaggedKerasClassifier(dense_classifier, n_estimators=1, **FAST),
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


def test_stacking_regressor(reg_data, stacked_regressor):
    assert stacked_regressor.score(*reg_data) > 0.5


def test_calibrated_classifier(clf_data):
    X, y = clf_data
    calibrated = CalibratedClassifierCV(
        make_pipeline(StandardScaler(), BaggedKerasClassifier(dense_classifier, **ONE)),
        cv=2,
    ).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert calibrated.score(X, y) > 0.7


@pytest.mark.parametrize("kind", ["bagged-classifier", "kfold-regressor"])
def test_joblib_round_trip(kind, clf_data, reg_data, pipe, stacked_regressor, tmp_path):
    if kind == "bagged-classifier":  # the pipeline's ensemble, on the rows its scaler gives it
        estimator, X = pipe[-1], pipe[0].transform(clf_data[0])
        assert isinstance(estimator, BaggedKerasClassifier) and estimator.oob_score
    else:  # the stacker's K-fold base, refitted on all rows
        estimator, X = stacked_regressor.estimators_[1], reg_data[0]
        assert isinstance(estimator, KFoldKerasRegressor)
    path = tmp_path / "ensemble.joblib"
    joblib.dump(estimator, path)
    loaded = joblib.load(path)
    method = "predict_proba" if hasattr(estimator, "predict_proba") else "predict"
    np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(estimator, method)(X))
    assert len(loaded.estimators_) == 2 and loaded.histories_ == estimator.histories_
