"""2-D targets: one-hot y as classes, multilabel y with sigmoid heads, multi-output regression."""

import copy
import pickle
import warnings

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPClassifier
from sklearn.utils.estimator_checks import (
    check_classifiers_multilabel_output_format_predict,
    check_classifiers_multilabel_output_format_predict_proba,
    check_classifiers_multilabel_representation_invariance,
    check_regressor_multioutput,
)

from sk_kerasbag import (
    BaggedKerasClassifier,
    BaggedKerasRegressor,
    KFoldKerasClassifier,
    KFoldKerasRegressor,
    load,
    oof_predict,
)
from sk_kerasbag._out_of_fold import majority_vote
from sk_kerasbag.models import basic_cnn, dense_net

from .builders import dense_classifier, dense_regressor, three_class_rows
from .marks import backend_independent
from .shared import fingerprint, shared_fixture

TINY = dict(epochs=1, batch_size=16, random_state=0)
# dense_classifier with one sigmoid unit per label: the head a multilabel y needs.
SIGMOID = dict(model__activation="sigmoid", model__loss="binary_crossentropy")
CUSTOM = {"dense_classifier": dense_classifier, "dense_regressor": dense_regressor}


@pytest.fixture(scope="module")
def rows():
    """Rows, their 3-class labels, those labels one-hot, and a 3-label multilabel target."""
    X, labels = three_class_rows(60)
    one_hot = np.eye(3, dtype=np.float32)[labels]
    multilabel = np.column_stack([X[:, 0] > 0.5, X[:, 1] > 0.5, X[:, 2] + X[:, 3] > 1])
    multilabel = multilabel.astype(int)
    # Rows with no label and with several: not one-hot.
    assert (multilabel.sum(axis=1) == 0).any() and (multilabel.sum(axis=1) > 1).any()
    return X, labels, one_hot, multilabel


@shared_fixture
def one_hot_and_labels(rows):
    """A K-fold classifier fitted on one-hot y, and its twin fitted on the same labels."""
    X, labels, one_hot, _ = rows
    params = dict(n_splits=2, class_weight="balanced", **TINY)
    clf = KFoldKerasClassifier(dense_classifier, **params).fit(X, one_hot)
    return clf, KFoldKerasClassifier(dense_classifier, **params).fit(X, labels)


@shared_fixture
def multilabel_kfold(rows):
    """A K-fold classifier with sigmoid heads fitted on the multilabel y, ready to grow."""
    X, _, _, multilabel = rows
    clf = KFoldKerasClassifier(dense_classifier, n_splits=2, warm_start=True, **SIGMOID, **TINY)
    return clf.fit(X, multilabel)  # stratify=True (the default): StratifiedKFold would refuse y


def assert_same_folds(a, b):
    assert len(a) == len(b)
    for (a_train, a_test), (b_train, b_test) in zip(a, b):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


# -- one-hot y ---------------------------------------------------------------------


def _mlp_predict_dtype(X, y) -> np.dtype:
    """The dtype of scikit-learn's MLPClassifier's predictions for an indicator-matrix ``y``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one iteration is enough
        return MLPClassifier(hidden_layer_sizes=(2,), max_iter=1).fit(X, y).predict(X).dtype


def test_one_hot_y_trains_on_its_classes_and_predicts_one_hot_rows(rows, one_hot_and_labels):
    X, labels, one_hot, _ = rows
    clf, twin = one_hot_and_labels

    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    # The members trained on the class codes: stratified folds, balanced weights and
    # sparse targets are those of the labels, so every output is too.
    assert_same_folds(clf.folds_, twin.folds_)
    np.testing.assert_allclose(clf.predict_proba(X), twin.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(clf.oof_proba_, twin.oof_proba_, atol=1e-6)
    assert clf.oof_proba_.shape == (len(X), 3) and clf.oof_score_ == twin.oof_score_

    predicted = clf.predict(X)
    # An indicator matrix of scikit-learn's dtype (one_hot is float32), as MLPClassifier's.
    assert predicted.shape == one_hot.shape and predicted.dtype == _mlp_predict_dtype(X, one_hot)
    np.testing.assert_array_equal(predicted, np.eye(3)[twin.predict(X)])
    assert clf.score(X, one_hot) == twin.score(X, labels) == accuracy_score(one_hot, predicted)


def test_one_hot_y_with_a_categorical_loss_and_its_validation_data(rows):
    X, labels, one_hot, multilabel = rows
    params = dict(n_estimators=1, model__loss="categorical_crossentropy", **TINY)
    # Integer one-hot rows come back as integers.
    one_hot = one_hot.astype(np.int64)
    clf = BaggedKerasClassifier(dense_classifier, oob_score=True, **params)
    clf.fit(X, one_hot, validation_data=(X[:10], one_hot[:10]))
    assert "val_loss" in clf.histories_[0]
    assert clf.predict(X[:5]).dtype == np.int64
    np.testing.assert_array_equal(clf.predict(X[:5]).sum(axis=1), 1)
    assert clf.oob_decision_function_.shape == (len(X), 3)
    # Its validation target must be one-hot rows of as many classes.
    for y_val in (labels[:10], one_hot[:10, :2], multilabel[:10]):
        with pytest.raises(ValueError, match="y_val must be a one-hot matrix of 3 columns"):
            clone(clf).fit(X, one_hot, validation_data=(X[:10], y_val))
    # and a 2-D y_val for a 1-D y is refused as plainly.
    with pytest.raises(ValueError, match="the y given to fit had one label per row"):
        clone(clf).fit(X, labels, validation_data=(X[:10], one_hot[:10]))


@backend_independent  # the vote of predictions, no model
def test_one_hot_rows_are_voted_on_as_classes():
    # Three folds naming three classes: column by column that is a row of zeros.
    folds = [np.eye(3, dtype=np.float32)[[k, 1]] for k in (2, 0, 1)]
    voted = majority_vote(folds, one_hot=True)
    np.testing.assert_array_equal(voted, [[1, 0, 0], [0, 1, 0]])
    assert voted.dtype == np.float32


# -- multilabel y ------------------------------------------------------------------


def test_multilabel_y_averages_per_label_probabilities_and_folds_unstratified(
    rows, multilabel_kfold
):
    X, _, _, multilabel = rows
    clf = multilabel_kfold
    # The folds of a shuffled KFold, seeded by the first draw from random_state.
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    assert_same_folds(clf.folds_, list(KFold(2, shuffle=True, random_state=seed).split(X)))
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])

    proba = clf.predict_proba(X)
    # The members' mean probability of each label, rows not normalised to sum to 1.
    raw = np.mean([member.predict(X, verbose=0) for member in clf.estimators_], axis=0)
    np.testing.assert_allclose(proba, raw, atol=1e-5)
    assert not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3)

    predicted = clf.predict(X)
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))
    assert predicted.shape == multilabel.shape
    assert predicted.dtype == _mlp_predict_dtype(X, multilabel.astype(np.float32))
    # Subset accuracy: a row counts when every label of it is right.
    subset = np.mean((predicted == multilabel).all(axis=1))
    assert clf.score(X, multilabel) == pytest.approx(subset)
    assert clf.oof_proba_.shape == (len(X), 3)
    assert clf.oof_score_ == pytest.approx(
        np.mean(((clf.oof_proba_ > 0.5) == multilabel).all(axis=1))
    )
    assert not hasattr(clf, "decision_function")  # probabilities: predict_proba


def test_multilabel_logits_become_per_label_sigmoids(rows):
    X, _, _, multilabel = rows
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, model__activation=None, model__loss=loss, **TINY
    ).fit(X, multilabel)
    logits = np.stack([member.predict(X, verbose=0) for member in clf.estimators_])
    expected = (1.0 / (1.0 + np.exp(-logits))).mean(axis=0)
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-5)


def test_multilabel_y_refuses_what_cannot_learn_it_before_training(rows):
    X, labels, _, multilabel = rows
    cases = {
        "softmax head": dict(model__loss="binary_crossentropy"),
        "sparse loss": dict(model__activation="sigmoid"),
        "categorical loss": dict(
            model__activation="sigmoid", model__loss="categorical_crossentropy"
        ),
        "scores": dict(model__activation=None, model__loss="hinge"),
    }
    for case, params in cases.items():
        clf = BaggedKerasClassifier(dense_classifier, n_estimators=1, **params, **TINY)
        with pytest.raises(ValueError, match="3 sigmoid units .* loss='binary_crossentropy'"):
            clf.fit(X, multilabel)
        # Left unfitted: not even the attributes read from the refused y.
        assert vars(clf).keys() == vars(clone(clf)).keys(), case
    sigmoid = BaggedKerasClassifier(dense_classifier, n_estimators=1, **SIGMOID, **TINY)
    with pytest.raises(ValueError, match="multilabel y has labels that rows share"):
        clone(sigmoid).set_params(class_weight="balanced").fit(X, multilabel)
    with pytest.raises(ValueError, match="y_val must be a 0/1 indicator matrix of 3 columns"):
        clone(sigmoid).fit(X, multilabel, validation_data=(X[:5], labels[:5]))
    with pytest.raises(ValueError, match="3 columns of class labels"):  # multiclass-multioutput
        clone(sigmoid).fit(X, np.c_[labels, labels, labels])
    with pytest.raises(ValueError, match="indicator matrix, but not of 0s and 1s"):
        clone(sigmoid).fit(X, 3 + 2 * multilabel)  # two values: scikit-learn's "indicator"


def test_a_refit_refused_after_its_target_was_read_leaves_the_fitted_ensemble_as_it_was(
    rows, one_hot_and_labels
):
    X, labels, _, multilabel = rows
    clf = copy.deepcopy(one_hot_and_labels[1])  # softmax heads, fitted on labels
    clf.set_params(class_weight=None)  # which a multilabel y would refuse first
    before = (dict(vars(clf)), fingerprint(clf), clf.predict(X))
    # The target is read (a multilabel y, its classes) before the model is refused.
    with pytest.raises(ValueError, match="3 sigmoid units"):
        clf.fit(X, multilabel)
    assert vars(clf).keys() == before[0].keys()
    assert all(vars(clf)[name] is value for name, value in before[0].items())
    assert fingerprint(clf) == before[1]
    np.testing.assert_array_equal(clf.predict(X), before[2])  # labels, not indicator rows


def test_multilabel_rows_weighted_to_one_label_set_still_train(rows):
    X, _, _, multilabel = rows
    # Every row with positive weight has no label: one "class" to a 1-D check, not a problem.
    weights = (multilabel.sum(axis=1) == 0).astype(np.float32)
    clf = BaggedKerasClassifier(dense_classifier, n_estimators=1, **SIGMOID, **TINY)
    clf.fit(X, multilabel, sample_weight=weights)
    assert clf.predict(X).shape == multilabel.shape


# -- clone, pickle, save/load, warm start, packing, oof_predict --------------------


def _check_copies_saving_and_oof_predict(clf, X, y, kind, tmp_path):
    assert clone(clf).get_params() == clf.get_params()
    for copied in (pickle.loads(pickle.dumps(clf)), _saved_and_loaded(clf, tmp_path)):
        np.testing.assert_array_equal(copied.predict(X), clf.predict(X))
        np.testing.assert_array_equal(copied.predict_proba(X), clf.predict_proba(X))
        assert copied.predict(X).dtype == clf.predict(X).dtype
        assert copied.score(X, y) == clf.score(X, y)

    # cv="prefit": the out-of-fold predictions in the form of y.
    oof, test = oof_predict(clf, X, y, X[:8], cv="prefit", method="predict")
    np.testing.assert_array_equal(oof, clf._predictions_of(clf.oof_proba_))
    assert oof.shape == y.shape and test.shape == (8, 3)
    if kind == "one-hot":
        np.testing.assert_array_equal(oof.sum(axis=1), 1)
        np.testing.assert_array_equal(test.sum(axis=1), 1)
    else:
        np.testing.assert_array_equal(oof, (clf.oof_proba_ > 0.5).astype(int))


def test_one_hot_targets_survive_copies_saving_and_oof_predict(
    rows, one_hot_and_labels, tmp_path
):
    X, _, one_hot, _ = rows
    # No growth: its members train on class codes, as a warm fit on labels does.
    _check_copies_saving_and_oof_predict(one_hot_and_labels[0], X, one_hot, "one-hot", tmp_path)


def test_multilabel_targets_survive_copies_saving_growth_and_oof_predict(
    rows, multilabel_kfold, tmp_path
):
    X, _, _, multilabel = rows
    _check_copies_saving_and_oof_predict(multilabel_kfold, X, multilabel, "multilabel", tmp_path)
    # A warm fit grows it as a cold fit of as many repeats would be.
    clf = copy.deepcopy(multilabel_kfold).set_params(n_repeats=2).fit(X, multilabel)
    cold = KFoldKerasClassifier(dense_classifier, n_splits=2, n_repeats=2, **SIGMOID, **TINY)
    cold.fit(X, multilabel)
    assert len(clf.estimators_) == 4
    np.testing.assert_allclose(clf.predict_proba(X), cold.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(clf.oof_proba_, cold.oof_proba_, atol=1e-6)


def _saved_and_loaded(estimator, tmp_path):
    folder = tmp_path / "saved"
    estimator.save(folder)
    return load(folder, custom_objects=CUSTOM)


def test_a_saved_target_kind_is_checked_on_load(multilabel_kfold, tmp_path):
    import json

    folder = tmp_path / "clf"
    multilabel_kfold.save(folder)
    assert load(folder, custom_objects=CUSTOM)._target_kind == "multilabel"
    manifest_path = folder / "estimator.json"
    manifest = json.loads(manifest_path.read_text())
    for change, problem in [
        ({"_target_kind": "matrix"}, "_target_kind is 'matrix'"),
    ]:
        changed = {**manifest, "fitted": {**manifest["fitted"], **change}}
        manifest_path.write_text(json.dumps(changed))
        with pytest.raises(ValueError, match=f"malformed: {problem}"):
            load(folder, custom_objects=CUSTOM)


@pytest.mark.parametrize("kind", ["one-hot", "multilabel"])
def test_packed_members_learn_two_d_targets(rows, kind):
    X, labels, one_hot, multilabel = rows
    y, params = (one_hot, {}) if kind == "one-hot" else (multilabel, SIGMOID)
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, strategy="packed", oob_score=True, **params,
        **{**TINY, "epochs": 3},
    ).fit(X, y)  # fmt: skip
    assert clf.fit_strategy_ != "sequential"
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and clf.predict(X).shape == y.shape
    if kind == "one-hot":
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert clf.score(X, y) > np.bincount(labels).max() / len(X)  # beats the majority class
    else:
        assert not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3)
        # Each label is learned better than by always predicting its majority value.
        per_label = ((proba > 0.5) == multilabel).mean(axis=0)
        majority = np.maximum(multilabel.mean(axis=0), 1 - multilabel.mean(axis=0))
        assert (per_label > majority).any()


# -- multi-output regression -------------------------------------------------------


@pytest.mark.parametrize("family", ["bagging", "kfold"])
def test_multi_output_regressors_keep_the_shape_of_y(rows, family, tmp_path):
    X = rows[0]
    y = np.c_[X[:, 0] + X[:, 1], 2 * X[:, 2] - X[:, 3]].astype(np.float32)
    if family == "bagging":
        reg = BaggedKerasRegressor(dense_regressor, n_estimators=2, oob_score=True, **TINY)
        heldout, score = "oob_prediction_", "oob_score_"
    else:
        reg = KFoldKerasRegressor(dense_regressor, n_splits=2, **TINY)
        heldout, score = "oof_prediction_", "oof_score_"
    reg.fit(X, y)
    predicted = reg.predict(X)
    assert reg.n_outputs_ == 2 and predicted.shape == (len(X), 2)
    assert reg.member_predictions(X).shape == (2, len(X), 2)
    assert getattr(reg, heldout).shape == (len(X), 2)
    assert reg.score(X, y) == pytest.approx(r2_score(y, predicted))  # uniform average
    held_out = getattr(reg, heldout)
    covered = ~np.isnan(held_out).any(axis=1)
    assert getattr(reg, score) == pytest.approx(r2_score(y[covered], held_out[covered]))
    np.testing.assert_array_equal(_saved_and_loaded(reg, tmp_path).predict(X), predicted)

    # One column stays one column.
    column = clone(reg).fit(X, y[:, :1])
    assert column.n_outputs_ == 1 and column.predict(X).shape == (len(X), 1)
    assert getattr(column, heldout).shape == (len(X), 1)


def test_scikit_learn_multi_output_regression_check():
    # The check asks for the shape and type of predictions: one member gives them.
    for reg in (
        BaggedKerasRegressor(dense_regressor, n_estimators=1, **TINY),
        KFoldKerasRegressor(dense_regressor, n_splits=2, **TINY),
    ):
        check_regressor_multioutput(type(reg).__name__, reg)


@pytest.mark.parametrize(
    "check",
    [
        check_classifiers_multilabel_representation_invariance,
        check_classifiers_multilabel_output_format_predict,
        # (..._decision_function skips: a probability head gives no decision_function.)
        check_classifiers_multilabel_output_format_predict_proba,
    ],
)
def test_scikit_learns_multilabel_checks_pass_with_a_builder_told_the_target_kind(check):
    # dense_net takes target_kind, so the classifier declares multilabel support
    # (tests/test_sklearn_checks.py's softmax builder does not, and its checks then
    # leave these out) and the checks' multilabel y reach sigmoid heads. They ask for
    # the form of predictions, which one member gives as several do.
    clf = BaggedKerasClassifier(dense_net, n_estimators=1, model__hidden=8, **TINY)
    assert clf.__sklearn_tags__().classifier_tags.multi_label
    check(type(clf).__name__, clf)


@backend_independent  # tags and signatures: no model is built
def test_multilabel_support_is_declared_only_for_a_builder_taking_target_kind():
    def any_kwargs(input_shape, n_classes, **kwargs):  # given the data arguments it names only
        return dense_classifier(input_shape, n_classes, **kwargs)

    for builder, declared in [(dense_net, True), (basic_cnn, True), (dense_classifier, False),
                              (any_kwargs, False)]:  # fmt: skip
        for family in (BaggedKerasClassifier, KFoldKerasClassifier):
            tags = family(builder).__sklearn_tags__()
            assert tags.classifier_tags.multi_label is declared, (builder, family)
    # Sigmoid heads routed to a builder that is not told the kind: it can serve a
    # multilabel y, but nothing says so before fit.
    assert not BaggedKerasClassifier(dense_classifier, **SIGMOID).__sklearn_tags__(
    ).classifier_tags.multi_label  # fmt: skip


def test_the_bundled_builders_build_the_head_each_target_kind_needs(one_hot_and_labels):
    heads = {"labels": ("softmax", "sparse_categorical_crossentropy"),
             "onehot": ("softmax", "sparse_categorical_crossentropy"),
             "multilabel": ("sigmoid", "binary_crossentropy")}  # fmt: skip
    for kind, (activation, loss) in heads.items():
        for builder, shape in [(dense_net, (6,)), (basic_cnn, (8, 8, 1))]:
            model = builder(shape, 3, target_kind=kind)
            assert model.layers[-1].activation.__name__ == activation, (builder, kind)
            assert model.loss == loss, (builder, kind)
            assert model.output_shape == (None, 3)
    with pytest.raises(ValueError, match="target_kind is 'matrix', not one of"):
        dense_net((6,), 3, target_kind="matrix")
    # A fitted classifier names the kind of the y it was fitted on to its builder.
    for clf, kind in zip(one_hot_and_labels, ("onehot", "labels")):
        assert clf._data_arguments() == {"n_classes": 3, "target_kind": kind}


@backend_independent  # refused with the target, before any model is built
def test_balanced_class_weight_names_a_one_hot_column_without_rows(rows):
    X, labels, one_hot, _ = rows
    padded = np.hstack([one_hot, np.zeros((len(X), 1), dtype=one_hot.dtype)])
    with pytest.raises(ValueError, match=r"column\(s\) \[3\] of the one-hot y have no row"):
        BaggedKerasClassifier(dense_classifier, class_weight="balanced", **TINY).fit(X, padded)
