"""scikit-learn's own estimator checks.

CI runs the suite once per backend. Each run checks two of the four estimators,
together covering both families (bagging, K-fold) and both tasks
(classification, regression) on each backend, and every estimator on one of
them: the checks fit hundreds of small ensembles, and running all four on both
backends would double the suite's time for no extra code covered.

The ensembles are the smallest of their family: one bagged member, two folds,
of the cheapest members (``model__hidden=None``, no metrics). The checks are
about the estimator's contract (input validation, dtypes, pickling,
idempotence, fitted attributes, ...), which no member count or architecture
changes, and a Keras member fit, mostly the backend tracing or compiling its
train step, is what they cost: a second bagged member doubled this module's
time, a hidden layer and an accuracy metric added a quarter (82 s of worker
time instead of 66 under TensorFlow, 62 instead of 49 under JAX). Averaging
several members and deeper members are tested elsewhere
(tests/test_estimators.py, tests/test_scaling.py).
"""

import functools

import keras
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import estimator_checks_generator

from sk_kerasbag import (
    BaggedKerasClassifier,
    BaggedKerasRegressor,
    KFoldKerasClassifier,
    KFoldKerasRegressor,
)

from .builders import dense_classifier, dense_regressor

# With a routed builder argument set, as users set them: every check must hold with it.
FAST = dict(epochs=2, batch_size=16, random_state=0, model__hidden=None)
NO_METRICS = dict(model__metrics=None)

ESTIMATORS_BY_BACKEND = {
    "tensorflow": [
        BaggedKerasClassifier(dense_classifier, n_estimators=1, **NO_METRICS, **FAST),
        KFoldKerasRegressor(dense_regressor, n_splits=2, **FAST),
    ],
    "jax": [
        KFoldKerasClassifier(dense_classifier, n_splits=2, **NO_METRICS, **FAST),
        BaggedKerasRegressor(dense_regressor, n_estimators=1, **FAST),
    ],
}
ESTIMATORS = ESTIMATORS_BY_BACKEND.get(
    keras.backend.backend(), [e for pair in ESTIMATORS_BY_BACKEND.values() for e in pair]
)

# Every check not listed here passes. These two are limits of the design, not bugs.
EXPECTED_FAILURES = {
    "check_do_not_raise_errors_in_init_or_set_params": (
        "__init__ takes **model_params so that builder arguments can be given as "
        "model__<name>=...; the check passes the literal keyword 'model_params', "
        "which is not a parameter and is rejected."
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch gradient descent: weighting a row by 2 scales its loss term "
        "but is not the same as seeing the row twice in shuffled batches, so the "
        "networks differ."
    ),
}


# The checks a linear head cannot pass, run with dense_classifier's hidden layer:
# check_class_weight_classifiers wants class 0 predicted for 87% of its noisy,
# unscaled blobs under class weights of 1000 to 0.0001, which a linear head's
# logits, following the features' large values, do not give even in 20 epochs.
# (With the weights ignored it fails with any head: its classes are balanced.)
NEEDS_A_HIDDEN_LAYER = {"check_class_weight_classifiers"}


def _check_name(check):
    return check.func.__name__ if isinstance(check, functools.partial) else check.__name__


# Test ids name the class and check only: the default ids contain the builder's
# memory address, which differs between pytest-xdist workers.
def _case(estimator, check):
    name = _check_name(check)
    marks = []
    if name in EXPECTED_FAILURES:
        marks = [pytest.mark.xfail(reason=EXPECTED_FAILURES[name], strict=True)]
    if name in NEEDS_A_HIDDEN_LAYER:
        estimator = clone(estimator).set_params(model__hidden=32)
    return pytest.param(estimator, check, marks=marks, id=f"{type(estimator).__name__}-{name}")


# The array-API checks are left out: the estimators take NumPy input (Keras
# converts it for its backend) and do not declare array-API support. No
# multilabel check comes: these softmax builders take no target_kind, so the
# classifiers do not declare multilabel support (tests/test_targets.py runs
# those checks with a builder that does).
CASES = [
    _case(estimator, check)
    for candidate in ESTIMATORS
    for estimator, check in estimator_checks_generator(candidate)
    if not _check_name(check).startswith("check_array_api")
]


@pytest.mark.parametrize("estimator, check", CASES)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
