"""oof_predict, and the stacking example built on it."""

import copy
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris, make_multilabel_classification, make_regression
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    cross_val_predict,
    train_test_split,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import estimator_checks_generator

from sk_kerasbag import (
    BaggedKerasClassifier,
    KFoldKerasClassifier,
    KFoldKerasRegressor,
    OOFStackingClassifier,
    OOFStackingRegressor,
    load_digits_images,
    oof_predict,
)
from sk_kerasbag._out_of_fold import majority_vote

from .builders import dense_classifier, dense_regressor, pid_logging_classifier
from .marks import backend_independent, worker_processes
from .shared import shared_fixture

FAST = dict(epochs=2, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    return X[order][:120], y[order][:120], X[order][120:]


@shared_fixture
def kfold(iris):
    """A three-fold Keras ensemble fitted on the iris rows, for the tests of cv="prefit"."""
    X, y, _ = iris
    return KFoldKerasClassifier(dense_classifier, n_splits=3, **FAST).fit(X, y)


@backend_independent
@pytest.mark.parametrize(
    "method", ["predict_proba", "predict", "decision_function", "predict_log_proba"]
)
@pytest.mark.parametrize("cv", [3, KFold(4, shuffle=True, random_state=1)], ids=["int", "KFold"])
def test_oof_train_equals_cross_val_predict(iris, method, cv):
    X, y, X_test = iris
    model = LogisticRegression(max_iter=1000)
    oof, _ = oof_predict(model, X, y, X_test, cv=cv, method=method)
    assert_array_equal(oof, cross_val_predict(model, X, y, cv=cv, method=method))


@backend_independent
def test_groups_and_fit_params_are_passed_as_cross_val_predict_does(iris):
    X, y, X_test = iris
    groups = np.arange(len(X)) % 6
    weights = np.linspace(0.5, 2.0, len(X))
    model = LogisticRegression(max_iter=1000)
    oof, _ = oof_predict(
        model, X, y, X_test, cv=GroupKFold(3), groups=groups, params={"sample_weight": weights}
    )
    expected = cross_val_predict(
        model,
        X,
        y,
        cv=GroupKFold(3),
        groups=groups,
        method="predict_proba",
        params={"sample_weight": weights},
    )
    assert_array_equal(oof, expected)


@backend_independent
def test_test_predictions_are_the_mean_of_the_fold_models(iris):
    X, y, X_test = iris
    cv = StratifiedKFold(3)
    model = LogisticRegression(max_iter=1000)
    _, test, folds = oof_predict(model, X, y, X_test, cv=cv, return_fold_predictions=True)
    assert len(folds) == 3
    for (train, _), fold in zip(cv.split(X, y), folds):
        assert_allclose(fold, clone(model).fit(X[train], y[train]).predict_proba(X_test))
    assert_allclose(test, np.mean(folds, axis=0))
    assert_allclose(test.sum(axis=1), 1.0)


@backend_independent
@worker_processes
def test_without_test_rows_and_in_parallel(iris):
    X, y, X_test = iris
    model = LogisticRegression(max_iter=1000)
    oof, test = oof_predict(model, X, y)
    assert test is None and oof.shape == (len(X), 3)
    assert oof_predict(model, X, y, return_fold_predictions=True)[2] is None
    parallel = oof_predict(model, X, y, X_test, n_jobs=2)
    assert_array_equal(parallel[0], oof)
    assert_allclose(parallel[1], oof_predict(model, X, y, X_test)[1])


@backend_independent
def test_regressor_predictions():
    X, y = make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)
    oof, test, folds = oof_predict(
        Ridge(), X[:50], y[:50], X[50:], cv=5, method="predict", return_fold_predictions=True
    )
    assert_array_equal(oof, cross_val_predict(Ridge(), X[:50], y[:50], cv=5))
    assert test.shape == (10,)
    assert_allclose(test, np.mean(folds, axis=0))


@backend_independent
def test_classifier_labels_are_voted():
    assert_array_equal(
        majority_vote([np.array([1, 2, 0]), np.array([1, 0, 2]), np.array([3, 0, 2])]), [1, 0, 2]
    )
    # A tie goes to the smallest label.
    assert_array_equal(majority_vote([np.array(["b", "a"]), np.array(["a", "b"])]), ["a", "a"])


def test_keras_ensemble_equals_cross_val_predict(iris):
    X, y, X_test = iris
    ensemble = BaggedKerasClassifier(dense_classifier, n_estimators=1, **FAST)
    cv = KFold(2, shuffle=True, random_state=0)
    oof, test = oof_predict(ensemble, X, y, X_test, cv=cv)
    assert_array_equal(oof, cross_val_predict(ensemble, X, y, cv=cv, method="predict_proba"))
    assert_allclose(oof.sum(axis=1), 1.0, atol=1e-6)  # cross-validated probabilities
    assert test.shape == (len(X_test), 3)


def test_prefit_kfold_ensemble_reuses_its_folds(iris, kfold):
    X, y, X_test = iris
    oof, test, folds = oof_predict(kfold, X, y, X_test, cv="prefit", return_fold_predictions=True)
    assert_array_equal(oof, kfold.oof_proba_)
    assert_allclose(test, kfold.predict_proba(X_test))
    assert_allclose(folds, kfold.member_predictions(X_test))
    labels, voted = oof_predict(kfold, X, y, X_test, cv="prefit", method="predict")
    assert_array_equal(labels, kfold.classes_[kfold.oof_proba_.argmax(axis=1)])
    member_labels = [kfold.classes_[p.argmax(axis=1)] for p in kfold.member_predictions(X_test)]
    assert_array_equal(voted, majority_vote(member_labels))


def test_prefit_warns_when_test_predictions_use_other_tta():
    X, y = load_digits_images()
    kfold = KFoldKerasClassifier(
        dense_classifier, n_splits=2, augmentation={"horizontal_flip": True}, **FAST
    ).fit(X[:100], y[:100])
    kfold.set_params(tta=2)
    with pytest.warns(UserWarning, match="made with 0 TTA passes at fit"):
        oof_predict(kfold, X[:100], y[:100], X[100:120], cv="prefit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no test rows, no test predictions to differ
        oof_predict(kfold, X[:100], y[:100], cv="prefit")


def test_prefit_kfold_regressor():
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    y = y / y.std()
    kfold = KFoldKerasRegressor(dense_regressor, n_splits=2, **FAST).fit(X[:50], y[:50])
    oof, test = oof_predict(kfold, X[:50], y[:50], X[50:], cv="prefit", method="predict")
    assert_array_equal(oof, kfold.oof_prediction_)
    assert_allclose(test, kfold.predict(X[50:]), rtol=1e-5)


def test_prefit_errors(iris, kfold):
    X, y, X_test = iris
    with pytest.raises(TypeError, match='cv="prefit" needs a fitted KFoldKerasClassifier'):
        oof_predict(LogisticRegression(), X, y, cv="prefit")
    with pytest.raises(Exception, match="not fitted"):
        oof_predict(clone(kfold), X, y, cv="prefit")
    with pytest.raises(ValueError, match="X has 20 rows, but the estimator was fitted on 120"):
        oof_predict(kfold, X[:20], y[:20], cv="prefit")
    with pytest.raises(ValueError, match="has no decision_function"):
        oof_predict(kfold, X, y, cv="prefit", method="decision_function")
    oof, _ = oof_predict(kfold, X, y, cv="prefit")
    oof[:] = 0  # a copy, not the estimator's own array
    assert kfold.oof_proba_.sum() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an augmentation that moves nothing adds no passes
        changed = copy.copy(kfold).set_params(augmentation={"rescale": 1.0}, tta=2)
        oof_predict(changed, X, y, X_test, cv="prefit")


def test_prefit_needs_folds_that_partition_the_rows(iris):
    X, y, _ = iris
    kfold = KFoldKerasClassifier(
        dense_classifier, cv=ShuffleSplit(2, test_size=0.3, random_state=0), **FAST
    )
    with pytest.warns(UserWarning, match="never held out"):  # fit says so already
        kfold.fit(X, y)
    with pytest.raises(ValueError, match="hold out every row equally often"):
        oof_predict(kfold, X, y, cv="prefit")


@backend_independent
def test_method_is_checked_before_any_fold_trains():
    X, y = make_regression(n_samples=30, n_features=3, random_state=0)
    with pytest.raises(ValueError, match=r"Ridge has no predict_proba\(\)"):
        oof_predict(Ridge(), X, y)
    with pytest.raises(ValueError, match="method must be one of"):
        oof_predict(Ridge(), X, y, method="predict_probas")


@backend_independent
def test_multilabel_targets_as_cross_val_predict():
    X, Y = make_multilabel_classification(n_samples=60, n_classes=3, random_state=0)
    model = OneVsRestClassifier(LogisticRegression(max_iter=500))
    oof, test = oof_predict(model, X[:50], Y[:50], X[50:], cv=3)
    assert_array_equal(oof, cross_val_predict(model, X[:50], Y[:50], cv=3, method="predict_proba"))
    assert test.shape == (10, 3)


@backend_independent
def test_cv_must_partition_the_rows(iris):
    X, y, _ = iris
    with pytest.raises(ValueError, match="partition the rows"):
        oof_predict(LogisticRegression(), X, y, cv=ShuffleSplit(3, test_size=0.2, random_state=0))


def _stacking_example():
    path = Path(__file__).resolve().parents[1] / "examples" / "stacking.py"
    spec = importlib.util.spec_from_file_location("stacking_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@backend_independent
def test_stacking_example_is_within_one_point_of_its_best_base_model():
    example = _stacking_example()
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    # The smallest run that still stacks: one member, two folds (13 Keras members in
    # all, against 21 with members=2, cv=3 for the blend). Base models near 0.92-0.96;
    # a broken base model or blend falls well below these bounds.
    settings = dict(epochs=3, members=1, cv=2)
    base_scores, blend_score = example.blend(X_train, y_train, X_test, y_test, **settings)
    assert set(base_scores) == {"bagged CNN", "K-fold dense net", "logistic regression"}
    assert min(base_scores.values()) > 0.8
    assert blend_score >= max(base_scores.values()) - 0.01
    stack_score = example.stack(X_train, y_train, X_test, y_test, **settings)
    assert stack_score >= max(base_scores.values()) - 0.01


# -- OOFStackingClassifier / OOFStackingRegressor ----------------------------------

SKLEARN_BASES = [("lr", LogisticRegression(max_iter=500)), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]  # noqa: E501


@backend_independent
@pytest.mark.parametrize("cv", [3, KFold(4, shuffle=True, random_state=1)], ids=["int", "KFold"])
@pytest.mark.parametrize("passthrough", [False, True])
def test_without_a_kfold_base_the_stackers_are_scikit_learns(iris, cv, passthrough):
    X, y, X_test = iris
    ours = OOFStackingClassifier(SKLEARN_BASES, cv=cv, passthrough=passthrough).fit(X, y)
    theirs = StackingClassifier(SKLEARN_BASES, cv=cv, passthrough=passthrough).fit(X, y)
    assert_array_equal(ours.transform(X_test), theirs.transform(X_test))
    assert_array_equal(ours.predict_proba(X_test), theirs.predict_proba(X_test))
    assert ours.stack_method_ == theirs.stack_method_
    names = [name.replace("stackingclassifier", "oofstackingclassifier", 1)
             for name in theirs.get_feature_names_out()]  # fmt: skip
    assert list(ours.get_feature_names_out()) == names
    Xr, yr = make_regression(n_samples=60, n_features=4, random_state=0)
    bases = [("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=3, random_state=0))]
    reg = OOFStackingRegressor(bases, cv=cv, passthrough=passthrough).fit(Xr, yr)
    assert_array_equal(reg.predict(Xr), StackingRegressor(bases, cv=cv, passthrough=passthrough).fit(Xr, yr).predict(Xr))  # noqa: E501


def test_a_kfold_base_trains_once_on_the_stackers_folds(iris, tmp_path):
    X, y, X_test = iris
    X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    log = tmp_path / "builds.txt"
    kfold = KFoldKerasClassifier(pid_logging_classifier, model__log=str(log), **FAST)
    stacker = OOFStackingClassifier(
        [("kfold", kfold), ("lr", LogisticRegression(max_iter=500))],
        final_estimator=LogisticRegression(C=0.5, max_iter=500),
        cv=2,
    ).fit(X, y)
    # One throw-away build and two fold members. StackingClassifier would fit the
    # base (n_splits=5: 1 + 5 builds) on every row and once per fold: 18 builds.
    assert len(log.read_text().split()) == 1 + 2
    fitted = stacker.named_estimators_["kfold"]
    assert fitted is stacker.estimators_[0] and len(fitted.estimators_) == 2
    for (train, test), (train_cv, test_cv) in zip(fitted.folds_, StratifiedKFold(2).split(X, y)):
        assert_array_equal(test, test_cv)
        assert_array_equal(train, train_cv)
    # The final estimator learned from the K-fold ensemble's own out-of-fold probabilities...
    linear_oof = cross_val_predict(
        LogisticRegression(max_iter=500), X, y, cv=StratifiedKFold(2), method="predict_proba"
    )
    features = np.hstack([fitted.oof_proba_, linear_oof])
    expected = LogisticRegression(C=0.5, max_iter=500).fit(features, y)
    assert_allclose(stacker.final_estimator_.coef_, expected.coef_, rtol=1e-5, atol=1e-6)
    # ...and new rows get the mean of its fold members.
    assert_allclose(stacker.transform(X_test)[:, :3], fitted.predict_proba(X_test), rtol=1e-6)
    assert stacker.n_features_in_ == 4 and list(stacker.classes_) == [0, 1, 2]
    assert set(stacker.predict(X_test)) <= {0, 1, 2}


def test_the_stackers_follow_scikit_learns_conventions(iris):
    X, y, _ = iris
    X = X.astype(np.float32)
    stacker = OOFStackingClassifier(
        [("kfold", KFoldKerasClassifier(dense_classifier, n_splits=2, **FAST))], cv=2
    )
    assert clone(stacker).get_params()["kfold__epochs"] == 2
    assert "final_estimator" in stacker.get_params()
    # One split (not two) is enough to route the nested parameter: 3 stacker fits, not 5.
    one_split = ShuffleSplit(1, test_size=0.5, random_state=0)
    search = GridSearchCV(stacker, {"kfold__epochs": [1, 2]}, cv=one_split).fit(X, y)
    assert search.best_params_["kfold__epochs"] in (1, 2)
    assert search.best_estimator_.named_estimators_["kfold"].epochs in (1, 2)
    with pytest.raises(ValueError, match='cv="prefit" is'):
        OOFStackingClassifier([("lr", LogisticRegression())], cv="prefit").fit(X, y)
    repeated = KFoldKerasClassifier(dense_classifier, n_repeats=2, **FAST)
    with pytest.raises(ValueError, match="n_repeats=2 cannot apply"):
        OOFStackingClassifier([("kfold", repeated)], cv=2).fit(X, y)
    reg = OOFStackingRegressor([("kfold", KFoldKerasRegressor(dense_regressor, **FAST))], cv=2)
    fitted = reg.fit(X, X[:, 0] + X[:, 1]).named_estimators_["kfold"]
    assert len(fitted.estimators_) == 2 and reg.predict(X).shape == (len(X),)


@backend_independent
@pytest.mark.parametrize(
    "estimator, check",
    [
        pytest.param(estimator, check, id=f"{type(estimator).__name__}-{check.func.__name__}")
        for estimator in (
            OOFStackingClassifier([("lr", LogisticRegression())], cv=3),
            OOFStackingRegressor([("ridge", Ridge())], cv=3),
        )
        for estimator, check in estimator_checks_generator(estimator)
        if not check.func.__name__.startswith("check_array_api")
    ],
)
def test_the_stackers_pass_scikit_learns_estimator_checks(estimator, check):
    check(estimator)
