"""plot_history: per-member training and validation curves."""

import importlib
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError

from sk_kerasbag import BaggedKerasClassifier, KFoldKerasRegressor, plotting
from sk_kerasbag.plotting import plot_history, plot_training

from .builders import dense_classifier
from .marks import backend_independent

pytestmark = backend_independent  # plots of recorded histories

matplotlib.use("Agg")

EPOCHS = 3
N_MEMBERS = 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=60, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    return X.astype(np.float32), y


def _fit(data, validation_split):
    return BaggedKerasClassifier(
        dense_classifier,
        n_estimators=N_MEMBERS,
        epochs=EPOCHS,
        batch_size=32,
        validation_split=validation_split,
        random_state=0,
    ).fit(*data)


@pytest.fixture(scope="module")
def validated(data):
    return _fit(data, validation_split=0.2)


@pytest.fixture(scope="module")
def unvalidated(data):
    return _fit(data, validation_split=0.0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("metric", ["loss", "accuracy"])
def test_curves_follow_the_histories(validated, metric):
    ax = plot_history(validated, metric=metric)
    lines = ax.get_lines()
    assert len(lines) == 2 * N_MEMBERS
    for k, history in enumerate(validated.histories_):
        train, val = lines[2 * k], lines[2 * k + 1]
        np.testing.assert_array_equal(train.get_ydata(), history[metric])
        np.testing.assert_array_equal(val.get_ydata(), history[f"val_{metric}"])
        for line in (train, val):
            np.testing.assert_array_equal(line.get_xdata(), np.arange(1, EPOCHS + 1))
        assert train.get_linestyle() == "-" and val.get_linestyle() == "--"
        assert train.get_color() == val.get_color()
    colors = {line.get_color() for line in lines}
    assert len(colors) == N_MEMBERS
    assert metric in ax.get_title() and ax.get_ylabel() == metric
    assert ax.get_xlabel() == "epoch"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    members = [f"member {k}" for k in range(1, N_MEMBERS + 1)]
    assert legend == members + ["training", "validation", "held epoch"]


def test_held_epochs_are_marked_on_the_curve_that_chose_them(data):
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=N_MEMBERS, epochs=6, validation_split=0.3,
        random_state=0, model__learning_rate=0.3,
    ).fit(*data)  # fmt: skip
    held = clf.fit_statistics_["held_epoch"]
    assert list(held) == [int(np.argmin(h["val_loss"])) + 1 for h in clf.histories_]
    ax = plot_history(clf)
    for k, (dots, history) in enumerate(zip(ax.collections, clf.histories_)):
        (x, value), = dots.get_offsets()
        assert x == held[k] and value == pytest.approx(history["val_loss"][held[k] - 1])
    assert len(ax.collections) == N_MEMBERS


def test_without_validation_one_line_per_member(unvalidated):
    assert not any(key.startswith("val_") for key in unvalidated.histories_[0])
    ax = plot_history(unvalidated)
    lines = ax.get_lines()
    assert len(lines) == N_MEMBERS
    for line, history in zip(lines, unvalidated.histories_):
        np.testing.assert_array_equal(line.get_ydata(), history["loss"])
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, EPOCHS + 1))
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [f"member {k}" for k in range(1, N_MEMBERS + 1)] + ["held epoch"]
    # Without validation a member holds its last epoch, marked on its training curve.
    for dots, history in zip(ax.collections, unvalidated.histories_):
        np.testing.assert_allclose(dots.get_offsets(), [[EPOCHS, history["loss"][-1]]])


def test_draws_on_a_given_ax(validated):
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_history(validated, ax=right) is right
    assert len(right.get_lines()) == 2 * N_MEMBERS and not left.get_lines()
    assert len(plt.get_fignums()) == 1


def test_new_figure_without_ax(validated):
    before = len(plt.get_fignums())
    ax = plot_history(validated)
    assert len(plt.get_fignums()) == before + 1
    assert ax.figure.number == plt.get_fignums()[-1]


def test_plain_list_of_histories_of_any_lengths():
    # Members stopped early have shorter histories.
    histories = [
        {"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.6]},
        {"loss": [0.9, 0.4], "val_loss": [1.0, 0.8]},
        {"loss": [0.8]},
    ]
    lines = plot_history(histories).get_lines()
    assert len(lines) == 5
    for line, values in zip(lines, [h[key] for h in histories for key in sorted(h)]):
        np.testing.assert_array_equal(line.get_ydata(), values)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, len(values) + 1))


def test_many_members_get_distinct_colours_and_a_compact_legend():
    histories = [{"loss": [float(k), k / 2], "val_loss": [k + 1.0, k / 3]} for k in range(25)]
    ax = plot_history(histories)
    train_colors = [tuple(line.get_color()) for line in ax.get_lines()[::2]]
    assert len(set(train_colors)) == 25
    legend = ax.get_legend()
    assert len(legend.get_texts()) == 25 + 2
    ax.figure.canvas.draw()
    columns = {round(text.get_window_extent().x0) for text in legend.get_texts()}
    assert len(columns) > 1


def test_unknown_metric_names_it_and_the_available_ones(validated):
    with pytest.raises(ValueError, match="'auc'") as info:
        plot_history(validated, metric="auc")
    message = str(info.value)
    assert "'accuracy', 'loss'" in message
    assert "val_" not in message


def test_metric_missing_from_some_members():
    with pytest.raises(ValueError, match=r"'accuracy'.*member\(s\) \[2\]"):
        plot_history([{"loss": [1.0], "accuracy": [0.5]}, {"loss": [1.0]}], metric="accuracy")


def test_not_fitted():
    with pytest.raises(NotFittedError):
        plot_history(BaggedKerasClassifier(dense_classifier))


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]]])
def test_bad_history_lists(bad):
    with pytest.raises((ValueError, TypeError)):
        plot_history(bad)


class _NoMetricInCommon(BaseEstimator):
    """As an ensemble whose members, once fitted, recorded no metric in common."""

    def fit(self, X=None, y=None):
        self.histories_ = [{"loss": [1.0]}, {"accuracy": [0.5]}]
        return self


@pytest.mark.parametrize(
    "estimator, metrics, error, message",
    [
        (
            "validated",
            [],
            ValueError,
            r"one panel per metric, and metrics is empty; name at least one of the "
            r"available metrics: 'accuracy', 'loss'\.$",
        ),
        (_NoMetricInCommon().fit(), None, ValueError, "no metric is in every member's"),
        ("validated", "loss", TypeError, r"got the string 'loss': pass \['loss'\]\.$"),
        ("validated", [["loss"]], TypeError, r"named by a str, such as 'loss'; got list"),
        ([{"loss": [1.0]}], None, TypeError, "not its histories; draw a list of histories with"),
    ],
    ids=["empty metrics", "none in common", "a string", "a list in the list", "histories"],
)
def test_plot_training_refuses_odd_input_clearly_before_drawing(
    request, estimator, metrics, error, message
):
    if estimator == "validated":
        estimator = request.getfixturevalue("validated")
    with pytest.raises(error, match=message):
        plot_training(estimator, metrics=metrics)
    assert plt.get_fignums() == []  # refused before any figure was made


@pytest.mark.parametrize(
    "histories, metric, message",
    [
        ({"loss": [1.0, 0.5]}, "loss", r"got a single history: pass \[history\]"),
        ([{"loss": [1.0, 0.5]}], ["loss"], r"got list \['loss'\]\. plot_training"),
    ],
    ids=["one history", "a list of metrics"],
)
def test_plot_history_refuses_odd_input_clearly(histories, metric, message):
    with pytest.raises(TypeError, match=message):
        plot_history(histories, metric=metric)
    assert plt.get_fignums() == []


def test_missing_matplotlib_says_how_to_install(validated, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError) as info:
        plot_history(validated)
    assert str(info.value) == 'plot_history needs matplotlib: pip install "sk-kerasbag[plot]"'


def test_module_imports_without_matplotlib(validated, monkeypatch):
    import sk_kerasbag

    # Every matplotlib module made unimportable, submodules included: ``from
    # matplotlib.figure import Figure`` would still find an imported submodule.
    blocked = [n for n in sys.modules if n.split(".")[0] in ("matplotlib", "mpl_toolkits")]
    for name in {"matplotlib", "matplotlib.pyplot", *blocked}:
        monkeypatch.setitem(sys.modules, name, None)
    # A fresh copy of the module, imported from scratch; monkeypatch puts the one the
    # other tests use back in sys.modules and on the package afterwards, unchanged.
    monkeypatch.delitem(sys.modules, "sk_kerasbag.plotting")
    monkeypatch.setattr(sk_kerasbag, "plotting", plotting)
    fresh = importlib.import_module("sk_kerasbag.plotting")
    assert fresh is not plotting
    assert fresh.__all__ == ["plot_history", "plot_training"]
    assert all(callable(getattr(fresh, name)) for name in fresh.__all__)
    for draw in (fresh.plot_history, fresh.plot_training):
        with pytest.raises(ImportError) as info:
            draw(validated)  # the import is tried when drawing, and says how to install
        assert str(info.value) == 'plot_history needs matplotlib: pip install "sk-kerasbag[plot]"'


def test_the_module_of_the_other_tests_is_the_original():
    # After test_module_imports_without_matplotlib (or alone): one plotting module.
    import sk_kerasbag

    assert sys.modules["sk_kerasbag.plotting"] is plotting is sk_kerasbag.plotting
    assert plotting.plot_history is plot_history and plotting.plot_training is plot_training


def test_saves_a_png(validated, tmp_path):
    path = tmp_path / "history.png"
    plot_history(validated, metric="accuracy").figure.savefig(path)
    content = path.read_bytes()
    assert len(content) > len(PNG_MAGIC) and content.startswith(PNG_MAGIC)


def test_a_loss_falling_by_decades_gets_a_log_scale():
    histories = [{"loss": [2.0, 0.3, 0.1, 0.08, 0.05]}, {"loss": [1.8, 0.4, 0.12, 0.07, 0.06]}]
    ax = plot_history(histories)
    assert ax.get_yscale() == "log"


def test_a_first_epoch_far_below_the_rest_leaves_the_range_to_the_later_epochs():
    histories = [{"accuracy": [0.3, 0.95, 0.97, 0.98]}, {"accuracy": [0.4, 0.94, 0.96, 0.99]}]
    ax = plot_history(histories, metric="accuracy")
    low, high = ax.get_ylim()
    assert ax.get_yscale() == "linear"
    assert 0.9 < low < 0.94 and 0.99 < high < 1.01  # 0.94-0.99 fill the plot


def test_curves_without_an_outlying_first_epoch_keep_matplotlib_limits():
    histories = [{"accuracy": [0.90, 0.93, 0.95]}, {"accuracy": [0.91, 0.92, 0.96]}]
    ax = plot_history(histories, metric="accuracy")
    low, high = ax.get_ylim()
    assert ax.get_yscale() == "linear" and low < 0.90 and high > 0.96


def test_plot_training_draws_loss_and_metrics_with_the_ensemble_score(data):
    clf = BaggedKerasClassifier(
        dense_classifier, n_estimators=N_MEMBERS, epochs=EPOCHS, validation_split=0.2,
        oob_score=True, random_state=0,
    ).fit(*data)  # fmt: skip
    figure = plot_training(clf)
    loss, accuracy = figure.axes
    assert loss.get_ylabel() == "loss" and accuracy.get_ylabel() == "accuracy"
    assert len(loss.get_lines()) == len(accuracy.get_lines()) - 1 == 2 * N_MEMBERS
    assert loss.get_legend() is not None and accuracy.get_legend() is None
    (score_line,) = [line for line in accuracy.get_lines() if line.get_color() == "black"]
    assert score_line.get_ydata()[0] == clf.oob_score_
    low, high = accuracy.get_ylim()
    assert low <= clf.oob_score_ <= high
    assert f"out-of-bag accuracy of the ensemble: {clf.oob_score_:.4f}" in figure.get_suptitle()
    assert any("ensemble" in text.get_text() for text in accuracy.texts)
    (only,) = plot_training(clf, metrics=["accuracy"]).axes
    assert only.get_ylabel() == "accuracy"


def test_plot_training_of_a_regressor_names_its_out_of_fold_r2(data):
    X, y = data
    reg = KFoldKerasRegressor(_regressor, n_splits=2, epochs=2, random_state=0).fit(X, y)
    figure = plot_training(reg)
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss"]
    assert f"out-of-fold R² of the ensemble: {reg.oof_score_:.4f}" in figure.get_suptitle()


def _regressor(input_shape, n_outputs):
    import keras

    model = keras.Sequential([keras.Input(input_shape), keras.layers.Dense(n_outputs)])
    model.compile("adam", "mse")
    return model
