"""Behaviour of the four estimators: parameters, targets, splits, fitted attributes."""

import logging

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GroupKFold
from sklearn.utils.class_weight import compute_class_weight

from sk_kerasbag import (
    BaggedKerasClassifier,
    BaggedKerasRegressor,
    KFoldKerasClassifier,
    KFoldKerasRegressor,
)

from .builders import (
    dense_classifier,
    dense_regressor,
    sigmoid_classifier,
    small_cnn,
    three_class_rows,
)
from .marks import backend_independent, worker_processes
from .shared import shared_fixture

FAST = dict(epochs=3, batch_size=32, random_state=0)
CLASSIFIERS = [
    pytest.param(
        lambda **kw: BaggedKerasClassifier(dense_classifier, n_estimators=2, **{**FAST, **kw}),
        id="BaggedKerasClassifier",
    ),
    pytest.param(
        lambda **kw: KFoldKerasClassifier(dense_classifier, n_splits=2, **{**FAST, **kw}),
        id="KFoldKerasClassifier",
    ),
]
REGRESSORS = [
    pytest.param(
        lambda **kw: BaggedKerasRegressor(dense_regressor, n_estimators=2, **{**FAST, **kw}),
        id="BaggedKerasRegressor",
    ),
    pytest.param(
        lambda **kw: KFoldKerasRegressor(dense_regressor, n_splits=2, **{**FAST, **kw}),
        id="KFoldKerasRegressor",
    ),
]
# For fits whose tests check what the fit records (arguments, rows, shapes), not what it learns.
ONE_EPOCH = {**FAST, "epochs": 1}
# The seed of the four shared fits below, which test_same_seed_same_predictions refits.
SEEDED = {**FAST, "random_state": 3}


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def labels(clf_data):
    """clf_data's target as strings, sorted otherwise than the codes that stand for them."""
    return np.array(["zebra", "ant", "moth"])[clf_data[1]]


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=120, n_features=5, n_targets=2, noise=1.0, random_state=0)
    return X.astype(np.float32), (y / y.std(axis=0)).astype(np.float32)


# One seeded fit of each estimator, read by every test that needs such a fit rather
# than one of its own: the classifiers on string labels, the regressors on one target.
@shared_fixture
def bagged(clf_data, labels):
    return BaggedKerasClassifier(dense_classifier, n_estimators=2, **SEEDED).fit(
        clf_data[0], labels
    )


@shared_fixture
def kfold3(clf_data, labels):
    return KFoldKerasClassifier(dense_classifier, n_splits=3, **SEEDED).fit(clf_data[0], labels)


@shared_fixture
def bagged_regressor(reg_data):
    X, y = reg_data
    return BaggedKerasRegressor(dense_regressor, n_estimators=2, **SEEDED).fit(X, y[:, 0])


@shared_fixture
def kfold_regressor(reg_data):
    # Three folds of 10 epochs: test_regressor_oof scores its out-of-fold predictions.
    X, y = reg_data
    return KFoldKerasRegressor(dense_regressor, n_splits=3, **{**SEEDED, "epochs": 10}).fit(
        X, y[:, 0]
    )


@backend_independent  # builds no model: only the estimators' scikit-learn tags
def test_estimator_types():
    for param in CLASSIFIERS:
        make = param.values[0]
        assert is_classifier(make()) and not is_regressor(make())
    for param in REGRESSORS:
        make = param.values[0]
        assert is_regressor(make()) and not is_classifier(make())


def test_model_params_are_routed_listed_and_cloned(clf_data):
    X, y = clf_data
    seen = {}

    def builder(input_shape, n_classes, hidden):
        seen.update(input_shape=input_shape, n_classes=n_classes, hidden=hidden)
        return dense_classifier(input_shape, n_classes, hidden=hidden)

    clf = BaggedKerasClassifier(builder, n_estimators=1, model__hidden=7, **ONE_EPOCH)
    assert clf.get_params()["model__hidden"] == 7
    copy = clone(clf)
    assert copy.get_params()["model__hidden"] == 7
    copy.set_params(model__hidden=5).fit(X, y)
    assert seen == {"input_shape": (6,), "n_classes": 3, "hidden": 5}
    assert copy.estimators_[0].layers[-2].units == 5
    assert "model__hidden=5" in repr(copy)


def test_builder_with_kwargs_gets_only_routed_params(clf_data):
    X, y = clf_data
    received = {}

    def builder(**kwargs):
        received.update(kwargs)
        return dense_classifier((6,), 3)

    BaggedKerasClassifier(builder, n_estimators=1, model__alpha=1, **ONE_EPOCH).fit(X, y)
    assert received == {"alpha": 1}


@pytest.mark.parametrize("kind", ["bagged", "kfold3"])
def test_classifier_string_labels(kind, clf_data, labels, bagged, kfold3):
    X, _ = clf_data
    clf = {"bagged": bagged, "kfold3": kfold3}[kind]  # both fitted on the string labels
    assert list(clf.classes_) == ["ant", "moth", "zebra"]
    assert set(clf.predict(X)) <= set(labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert clf.score(X, labels) > 0.6


@pytest.mark.parametrize(
    "builder",
    [
        sigmoid_classifier,
        lambda input_shape, n_classes: dense_classifier(input_shape, n_classes),
        lambda input_shape, n_classes: dense_classifier(
            input_shape, n_classes, loss="categorical_crossentropy"
        ),
    ],
    ids=["one-sigmoid-unit", "softmax-sparse", "softmax-onehot"],
)
def test_binary_classification_with_any_head(builder, clf_data):
    # One member: the mean of members' probabilities is a probability as each member's is.
    X, y = clf_data
    y = np.where(y == 0, "no", "yes")
    clf = BaggedKerasClassifier(builder, n_estimators=1, **{**FAST, "epochs": 10}).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert clf.score(X, y) > 0.75


def test_onehot_loss_and_logits_are_detected(clf_data):
    X, y = clf_data

    def logits_onehot(input_shape, n_classes):
        model = keras.Sequential(
            [
                keras.Input(input_shape),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(n_classes),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(0.05),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        )
        return model

    clf = KFoldKerasClassifier(logits_onehot, n_splits=2, **{**FAST, "epochs": 10}).fit(X, y)
    proba = clf.predict_proba(X)
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert clf.score(X, y) > 0.6


@pytest.mark.parametrize("kind", ["bagged_regressor", "kfold_regressor"])
def test_regressor_target_shapes(kind, reg_data, bagged_regressor, kfold_regressor):
    X, y = reg_data
    one_d = {"bagged_regressor": bagged_regressor, "kfold_regressor": kfold_regressor}[kind]
    assert one_d.n_outputs_ == 1 and one_d.predict(X).shape == (len(X),)
    assert one_d.score(X, y[:, 0]) > 0.5
    # Only shapes are checked of the 2-D fit: the fewest members, one epoch.
    fewest = {"n_estimators": 1} if kind == "bagged_regressor" else {"n_splits": 2}
    two_d = clone(one_d).set_params(epochs=1, **fewest).fit(X, y)
    assert two_d.n_outputs_ == 2 and two_d.predict(X).shape == (len(X), 2)


def test_bagging_samples_and_oob(clf_data):
    X, y = clf_data
    clf = BaggedKerasClassifier(dense_classifier, n_estimators=4, oob_score=True, **FAST).fit(X, y)
    assert len(clf.estimators_) == len(clf.estimators_samples_) == len(clf.histories_) == 4
    for rows in clf.estimators_samples_:
        assert len(rows) == len(X) and len(np.unique(rows)) < len(X)  # with replacement
    covered = ~np.isnan(clf.oob_decision_function_).any(axis=1)
    assert covered.sum() > 0.8 * len(X)
    np.testing.assert_allclose(clf.oob_decision_function_[covered].sum(axis=1), 1.0, atol=1e-6)
    oob_labels = clf.classes_[clf.oob_decision_function_[covered].argmax(axis=1)]
    expected = np.mean(oob_labels == y[covered])
    assert clf.oob_score_ == pytest.approx(expected)


def test_bagging_without_replacement_draws_distinct_rows(clf_data):
    X, y = clf_data
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, bootstrap=False, max_samples=0.5, **ONE_EPOCH
    ).fit(X, y)
    for rows in clf.estimators_samples_:
        assert len(rows) == len(np.unique(rows)) == 60


def test_kfold_oof_matches_each_fold_model(clf_data, labels, kfold3):
    X, _ = clf_data
    clf = kfold3
    heldout = np.concatenate([test for _, test in clf.folds_])
    assert sorted(heldout) == list(range(len(X)))
    member_proba = clf.member_predictions(X)
    for k, (train, test) in enumerate(clf.folds_):
        assert not np.intersect1d(train, test).size
        np.testing.assert_allclose(clf.oof_proba_[test], member_proba[k][test], rtol=1e-5)
    oof_labels = clf.classes_[clf.oof_proba_.argmax(axis=1)]
    assert clf.oof_score_ == pytest.approx(np.mean(oof_labels == labels))


def test_kfold_stratifies_and_accepts_group_splitters(clf_data, kfold3):
    X, y = clf_data
    for _, test in kfold3.folds_:  # y's codes stand for kfold3's string labels one to one
        counts = np.bincount(y[test], minlength=3)
        assert counts.max() - counts.min() <= 2
    groups = np.arange(len(X)) // 10
    clf = KFoldKerasClassifier(dense_classifier, cv=GroupKFold(n_splits=2), **ONE_EPOCH)
    clf.fit(X, y, groups=groups)
    for train, test in clf.folds_:
        assert not set(groups[train]) & set(groups[test])


def test_regressor_oof(reg_data, kfold_regressor):
    X, _ = reg_data
    assert kfold_regressor.oof_prediction_.shape == (len(X),)
    assert kfold_regressor.oof_score_ > 0.5


def _final_val_loss_is_heldout_loss(est, X, y):
    """Whether each member's reported val_loss equals its loss on its held-out rows."""
    matches = []
    for member, val_loss, (_, test) in zip(
        est.estimators_, est.fit_statistics_["val_loss"], est.folds_
    ):
        heldout_loss = member.evaluate(X[test], y[test], verbose=0, return_dict=True)["loss"]
        matches.append(np.isclose(val_loss, heldout_loss, rtol=1e-4))
    return all(matches)


def test_oof_is_honest_by_default_and_old_behaviour_is_opt_in(clf_data):
    X, y = clf_data
    honest = KFoldKerasClassifier(dense_classifier, n_splits=2, validation_split=0.2, **FAST)
    assert not _final_val_loss_is_heldout_loss(honest.fit(X, y), X, y)
    old = KFoldKerasClassifier(dense_classifier, n_splits=2, validate_on_heldout=True, **FAST)
    assert _final_val_loss_is_heldout_loss(old.fit(X, y), X, y)


def test_user_validation_data_is_used(clf_data):
    X, y = clf_data
    X_val, y_val = X[:30], y[:30]
    clf = BaggedKerasClassifier(dense_classifier, n_estimators=2, **FAST)
    clf.fit(X[30:], y[30:], validation_data=(X_val, y_val))
    for member, history in zip(clf.estimators_, clf.histories_):
        val_loss = member.evaluate(X_val, y_val, verbose=0, return_dict=True)["loss"]
        # The member holds its best epoch on those rows.
        assert min(history["val_loss"]) == pytest.approx(val_loss, rel=1e-4)


class CountingCallback(keras.callbacks.Callback):
    """Counts epochs; a fresh copy per member must start from zero."""

    starts = []

    def __init__(self):
        super().__init__()
        self.epochs_seen = 0

    def on_train_begin(self, logs=None):
        # The copy itself, not its id(): a collected copy's id can be reused.
        CountingCallback.starts.append((self, self.epochs_seen))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_seen += 1


def test_each_member_gets_fresh_callbacks(clf_data):
    X, y = clf_data
    callback = CountingCallback()
    CountingCallback.starts = []
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, callbacks=[callback, early], validation_split=0.2,
        **{**FAST, "epochs": 4},
    )
    clf.fit(X, y)
    clf.fit(X, y)
    assert len(CountingCallback.starts) == 4  # a copy per member, in each fit
    assert all(seen == 0 for _, seen in CountingCallback.starts)
    assert len({id(copy) for copy, _ in CountingCallback.starts}) == 4
    assert callback.epochs_seen == 0 and early.model is None  # the user's objects are untouched


@pytest.mark.parametrize("kind", ["bagged", "kfold3", "bagged_regressor", "kfold_regressor"])
def test_same_seed_same_predictions_and_a_verbose_fit_logs_each_member_leaving_global_seed_alone(
    kind, clf_data, labels, reg_data, bagged, kfold3, bagged_regressor, kfold_regressor, caplog
):
    """A refit of a shared seeded fit repeats it; two unseeded fits differ.

    The seeded refit, verbose, also checks that a fit logs one line per member
    and leaves NumPy's global random state alone.
    """
    fitted = {
        "bagged": bagged, "kfold3": kfold3,
        "bagged_regressor": bagged_regressor, "kfold_regressor": kfold_regressor,
    }[kind]  # fmt: skip
    X, y = (clf_data[0], labels) if is_classifier(fitted) else (reg_data[0], reg_data[1][:, 0])
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    with caplog.at_level(logging.INFO, logger="sk_kerasbag"):
        again = clone(fitted).set_params(verbose=1).fit(X, y)  # verbose changes no result
    assert np.random.rand() == expected
    lines = [r.getMessage() for r in caplog.records if r.name == "sk_kerasbag"]
    n = len(fitted.estimators_)
    assert [line.split(":")[0] for line in lines] == [f"member {k}/{n}" for k in range(1, n + 1)]
    np.testing.assert_array_equal(_outputs(fitted, X), _outputs(again, X))
    # Two unseeded fits differ from their first member and epoch on: one epoch of the fewest.
    fewest = {"n_estimators": 1} if hasattr(fitted, "n_estimators") else {"n_splits": 2}
    unseeded = clone(fitted).set_params(random_state=None, epochs=1, **fewest)
    c = clone(unseeded).fit(X, y)
    d = clone(unseeded).fit(X, y)
    assert not np.allclose(_outputs(c, X), _outputs(d, X))


def _outputs(est, X):
    return est.predict_proba(X) if is_classifier(est) else est.predict(X)


@worker_processes
def test_parallel_members_equal_sequential(clf_data, labels, bagged):
    X, _ = clf_data
    parallel = clone(bagged).set_params(n_jobs=2).fit(X, labels)
    np.testing.assert_allclose(bagged.predict_proba(X), parallel.predict_proba(X), rtol=1e-5)


def test_class_weight(clf_data):
    X, y = clf_data
    labels = np.array(["a", "b", "c"])[y]
    base = BaggedKerasClassifier(dense_classifier, n_estimators=1, **FAST).fit(X, labels)
    heavy = BaggedKerasClassifier(
        dense_classifier, n_estimators=1, class_weight={"a": 20.0, "b": 1.0, "c": 1.0}, **FAST
    ).fit(X, labels)
    assert (heavy.predict(X) == "a").sum() > (base.predict(X) == "a").sum()
    # A class that y does not have (a typo, another data set's label) is refused, not ignored.
    with pytest.raises(ValueError, match=r"names 'd', not among the classes of y \('a', 'b'"):
        clone(heavy).set_params(class_weight={"a": 2.0, "d": 1.0}).fit(X, labels)
    # "balanced" on rows where "a" is rare (8 rows of 87): the weights the member is
    # trained with, as Keras receives them, are scikit-learn's balanced weights of
    # the classes in the y given to fit (3.6 for "a", 0.7 to 0.75 for the others), row by row.
    rows = np.r_[np.flatnonzero(labels == "a")[:8], np.flatnonzero(labels != "a")]
    trained_with = []
    fit = keras.Model.fit

    def recording_fit(model, *args, **kwargs):
        batches = kwargs["x"]  # the first epoch's batches, as Keras will ask for them
        codes, weights = zip(*(batches[i][1:] for i in range(len(batches))))
        trained_with.append((np.concatenate(codes), np.concatenate(weights)))
        return fit(model, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "fit", recording_fit)
        balanced = BaggedKerasClassifier(  # one by one, so that each member's fit is Keras's
            dense_classifier, n_estimators=1, class_weight="balanced", strategy="sequential",
            **FAST,
        ).fit(X[rows], labels[rows])  # fmt: skip
    assert balanced.predict_proba(X).shape == (len(X), 3)
    per_class = compute_class_weight("balanced", classes=balanced.classes_, y=labels[rows])
    assert per_class[0] > 3 * per_class[1]  # the rare class weighs more
    ((codes, weights),) = trained_with  # the one member's own (bootstrap) rows
    assert weights is not None and len(weights) == len(codes) == len(rows)
    assert set(np.unique(codes)) == {0, 1, 2}
    np.testing.assert_allclose(weights, per_class[codes], rtol=1e-6)


def test_dataframe_input_records_feature_names(clf_data):
    X, y = clf_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = BaggedKerasClassifier(dense_classifier, n_estimators=1, **ONE_EPOCH).fit(frame, y)
    assert clf.n_features_in_ == 6
    assert list(clf.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(frame), from_array, rtol=1e-6)


def test_image_input():
    rng = np.random.RandomState(0)
    X = rng.rand(60, 8, 8, 1).astype(np.float32)
    y = (X[:, :4].mean(axis=(1, 2, 3)) > X[:, 4:].mean(axis=(1, 2, 3))).astype(int)
    clf = KFoldKerasClassifier(small_cnn, n_splits=2, **ONE_EPOCH).fit(X, y)
    assert clf.input_shape_ == (8, 8, 1)
    assert clf.predict_proba(X).shape == (60, 2)
    assert clf.oof_proba_.shape == (60, 2)


# -- members that output scores ----------------------------------------------------


def test_a_classifier_of_scores_offers_decision_function_and_no_predict_proba(bagged):
    X, y = three_class_rows(150)
    # Two members: decision_function is checked to be their mean.
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=2, epochs=3, random_state=0,
        model__loss="categorical_hinge", model__activation=None,
    ).fit(X, y)  # fmt: skip
    assert not hasattr(clf, "predict_proba") and not hasattr(clf, "predict_log_proba")
    with pytest.raises(AttributeError, match="has no attribute 'predict_proba'") as caught:
        clf.predict_proba(X)
    # scikit-learn's message, caused by ours, which says why and what instead.
    assert "output scores, not probabilities" in str(caught.value.__cause__)
    assert "use decision_function" in str(caught.value.__cause__)
    scores = clf.decision_function(X)
    members = np.mean([m.predict(X, verbose=0) for m in clf.estimators_], axis=0)
    np.testing.assert_allclose(scores, members, rtol=1e-4, atol=1e-5)
    assert (scores < 0).any() or (scores > 1).any()  # scores, not probabilities
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(members, axis=1)])
    # A probability head (the shared fit's softmax) has predict_proba and no
    # decision_function, as in scikit-learn.
    assert hasattr(bagged, "predict_proba") and not hasattr(bagged, "decision_function")
    assert hasattr(BaggedKerasClassifier(dense_classifier), "predict_proba")  # before fit


# Binary heads: (builder, loss, last activation), and whether they output probabilities.
BINARY_HEADS = {
    "sigmoid": (sigmoid_classifier, "binary_crossentropy", "sigmoid", True),
    "logits": (sigmoid_classifier, "logits", None, True),
    "hinge-1": (sigmoid_classifier, "hinge", None, False),
    "hinge-2": (dense_classifier, "categorical_hinge", None, False),
}


@pytest.mark.parametrize("head", list(BINARY_HEADS))
def test_held_out_predictions_and_every_method_agree_for_every_binary_head(head):
    X, y = three_class_rows(150)
    y = (y > 0).astype(int)
    builder, loss, activation, probabilities = BINARY_HEADS[head]
    logits = loss == "logits"
    if logits:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
    clf = KFoldKerasClassifier(
        builder, n_splits=2, epochs=3, random_state=0, model__loss=loss,
        model__activation=activation,
    ).fit(X, y)  # fmt: skip
    members = np.array([m.predict(X, verbose=0) for m in clf.estimators_])

    def expected(outputs):
        """The definition: mean probability of classes_[1], or mean score (positive for it)."""
        if outputs.shape[2] == 2:  # two score units: the difference, as scikit-learn's
            return (outputs[:, :, 1] - outputs[:, :, 0]).mean(axis=0)
        return (1 / (1 + np.exp(-outputs[:, :, 0])) if logits else outputs[:, :, 0]).mean(axis=0)

    heldout = clf.oof_proba_
    if probabilities:  # predict_proba, and held-out probabilities: a row of two per row
        assert not hasattr(clf, "decision_function")
        proba = clf.predict_proba(X)
        np.testing.assert_allclose(proba[:, 1], expected(members), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        decided, heldout_decided = np.argmax(proba, axis=1), np.argmax(heldout, axis=1)
        assert heldout.shape == (len(X), 2) and ((heldout >= 0) & (heldout <= 1)).all()
        heldout_public = heldout[:, 1]
    else:  # decision_function, and held-out scores in its form: one per row
        assert not hasattr(clf, "predict_proba")
        scores = clf.decision_function(X)
        assert scores.shape == heldout.shape == (len(X),)
        np.testing.assert_allclose(scores, expected(members), rtol=1e-4, atol=1e-5)
        decided, heldout_decided = (scores > 0).astype(int), (heldout > 0).astype(int)
        heldout_public = heldout
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[decided])
    assert clf.oof_score_ == accuracy_score(y, clf.classes_[heldout_decided])
    # Each row's held-out output is that of the member that held it out.
    for k, (_, rows) in enumerate(clf.folds_):
        np.testing.assert_allclose(
            heldout_public[rows], expected(members[k : k + 1, rows]), rtol=1e-4, atol=1e-5
        )


def test_a_linear_head_with_a_loss_that_takes_probabilities_is_refused_before_training():
    X, y = three_class_rows(40)
    clf = KFoldKerasClassifier(dense_classifier, n_splits=2, epochs=1, model__activation=None)
    with pytest.raises(ValueError, match="last layer is linear, but its loss .* from_logits=True"):
        clf.fit(X, y)
    assert not hasattr(clf, "estimators_")


def test_members_are_reachable_as_scikit_learn_ensembles_offer_them(clf_data, kfold3):
    X, _ = clf_data
    assert len(kfold3) == 3
    assert list(kfold3) == kfold3.estimators_ and kfold3[1] is kfold3.estimators_[1]
    assert kfold3[:2] == kfold3.estimators_[:2]
    unfitted = KFoldKerasClassifier(dense_classifier)
    assert unfitted  # an estimator is true whether fitted or not, as before it had a length
    with pytest.raises(NotFittedError):
        len(unfitted)
    with pytest.raises(NotFittedError):
        iter(unfitted)
    # Log-probabilities: the log of the members' mean, as BaggingClassifier's.
    np.testing.assert_allclose(
        kfold3.predict_log_proba(X), np.log(kfold3.predict_proba(X)), rtol=1e-6
    )
