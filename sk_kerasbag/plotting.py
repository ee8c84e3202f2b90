"""Plots of fitted ensembles.

matplotlib is an optional dependency (``pip install "sk-kerasbag[plot]"``): it
is imported when a plot is drawn, never when this module is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._heldout import heldout_of

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_history", "plot_training"]

_MISSING_MATPLOTLIB = 'plot_history needs matplotlib: pip install "sk-kerasbag[plot]"'
_VALIDATION_PREFIX = "val_"
# Members per legend column, so that a large ensemble's legend stays compact.
_LEGEND_ROWS = 10


def plot_history(estimator: Any, metric: str = "loss", ax: Axes | None = None) -> Axes:
    """Per-member training and validation curves of a fitted ensemble.

    For each member, the training curve of ``metric`` is drawn as a solid
    line and, when the member was validated, its ``val_<metric>`` curve as a
    dashed line of the same colour. Each member has one legend entry (its
    colour), and a line-style key tells training from validation curves.
    A dot marks each member's held epoch. The y scale is chosen from the
    data, so the later epochs are not squashed together: logarithmic when
    every value is positive and they span more than a factor of 10 (a loss
    of 2 falling to 0.05, say); otherwise, when the first epoch lies far
    outside the later ones, the y range follows the curves after it, and the
    first epoch's points leave the plot.

    Parameters
    ----------
    estimator : fitted sk_kerasbag estimator or list of dict
        A fitted ensemble (any estimator with ``histories_``), or a list of
        histories such as its ``histories_``: one dict per member mapping
        each metric name to its per-epoch values.
    metric : str, default="loss"
        Name of the metric to plot, as Keras records it (``"loss"``,
        ``"accuracy"``, ...). Its validation curve is ``"val_" + metric``.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. By default, a new figure is created with
        :func:`matplotlib.pyplot.subplots`.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on. Its lines are, member by member, the training
        curve and the validation curve (when there is one); for a fitted
        ensemble, a dot (in ``ax.collections``) marks the held epoch (the weights the member
        predicts with, ``fit_statistics_["held_epoch"]``) on the last of
        them; epochs are numbered from 1 on the x axis.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If ``metric`` is not recorded in every member's history.
    TypeError
        If ``metric`` is not a string, or ``estimator`` is a single history
        (a dict) rather than a list of them.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import make_classification
    >>> from sk_kerasbag import BaggedKerasClassifier
    >>> from sk_kerasbag.plotting import plot_history
    >>> def build_model(input_shape, n_classes):
    ...     model = keras.Sequential([
    ...         keras.Input(input_shape),
    ...         keras.layers.Dense(16, activation="relu"),
    ...         keras.layers.Dense(n_classes, activation="softmax"),
    ...     ])
    ...     model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ...     return model
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = BaggedKerasClassifier(
    ...     build_model, n_estimators=5, epochs=20, validation_split=0.2, random_state=0
    ... ).fit(X, y)  # doctest: +SKIP
    >>> ax = plot_history(clf, metric="accuracy")  # doctest: +SKIP
    >>> ax.figure.savefig("accuracy.png")  # doctest: +SKIP
    """
    histories = _histories_of(estimator)
    _check_metric(histories, metric)
    held = _held_epochs(estimator)
    try:
        import matplotlib
        from matplotlib.lines import Line2D
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError(_MISSING_MATPLOTLIB) from exc
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()

    validation = _VALIDATION_PREFIX + metric
    handles, labels = [], []
    any_validation = False
    drawn = []
    for k, (history, color) in enumerate(zip(histories, _member_colors(matplotlib, histories))):
        member = f"member {k + 1}"
        values = history[metric]
        (line,) = ax.plot(
            np.arange(1, len(values) + 1), values, color=color, label=f"{member} train"
        )
        drawn.append(values)
        handles.append(line)
        labels.append(member)
        if validation in history:
            any_validation = True
            values = history[validation]
            ax.plot(
                np.arange(1, len(values) + 1),
                values,
                color=color,
                linestyle="--",
                label=f"{member} val",
            )
            drawn.append(values)
        if held is not None:
            # On the curve that chose it: validation when there is one.
            ax.scatter([held[k]], [values[held[k] - 1]], color=[color], zorder=3)

    if any_validation:
        # A line-style key, drawn in a neutral colour, instead of a "train" and
        # a "val" entry for every member.
        key = {"color": "0.3", "linewidth": matplotlib.rcParams["lines.linewidth"]}
        handles += [Line2D([], [], **key), Line2D([], [], linestyle="--", **key)]
        labels += ["training", "validation"]
    if held is not None:
        handles.append(Line2D([], [], marker="o", color="0.3", linestyle="none"))
        labels.append("held epoch")
    _readable_scale(ax, drawn)
    ax.legend(handles, labels, ncol=1 + (len(handles) - 1) // _LEGEND_ROWS, fontsize="small")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per member" + (" (training and validation)" if any_validation else ""))
    return ax


def plot_training(
    estimator: Any, metrics: Sequence[str] | None = None, figure: Figure | None = None
) -> Figure:
    """The training curves of a fitted ensemble, one panel per metric, with its held-out score.

    Each panel is drawn by :func:`plot_history`: every member's training and
    validation curves, with its held epoch marked. The figure's title names
    the ensemble and, when it has one, its held-out score (out-of-bag or
    out-of-fold); a classifier's held-out accuracy is also drawn as a
    horizontal line on the ``accuracy`` panel, to compare the ensemble with
    its members.

    Parameters
    ----------
    estimator : fitted sk_kerasbag estimator
        A fitted ensemble.
    metrics : sequence of str, default=None
        The metrics to plot, one panel each. By default the loss, then every
        other metric recorded in all members' histories (``"accuracy"``,
        ...), without the ``val_`` ones, which are drawn with their metric.
    figure : matplotlib.figure.Figure, default=None
        An empty figure to draw on. By default, a new figure is created with
        :func:`matplotlib.pyplot.figure`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with one Axes per metric in ``figure.axes``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If ``metrics`` is empty, or a metric is not recorded in every
        member's history.
    TypeError
        If ``estimator`` is a list of histories (draw those with
        :func:`plot_history`), or ``metrics`` is a string, not a list of them.
    ImportError
        If matplotlib is not installed.
    """
    if isinstance(estimator, (Sequence, Mapping)) and not isinstance(estimator, str):
        raise TypeError(
            "plot_training takes a fitted ensemble, not its histories; draw a list of "
            "histories with plot_history."
        )
    check_is_fitted(estimator)
    histories = _histories_of(estimator)
    if isinstance(metrics, str):
        raise TypeError(
            f"metrics is a list of metric names, one panel each; got the string {metrics!r}: "
            f"pass [{metrics!r}]."
        )
    by_default = metrics is None
    if by_default:
        common = set(histories[0]).intersection(*histories[1:])
        others = [m for m in histories[0] if m in common and m != "loss"]
        metrics = ["loss"] * ("loss" in common) + [
            m for m in others if not m.startswith(_VALIDATION_PREFIX)
        ]
    metrics = list(metrics)
    # Before any figure is made: matplotlib's error for no panels would say nothing of metrics.
    if not metrics:
        problem = "no metric is in every member's history" if by_default else "metrics is empty"
        raise ValueError(
            f"plot_training draws one panel per metric, and {problem}; name at least one of "
            f"the available metrics: {_available_metrics(histories)}."
        )
    for metric in metrics:
        _check_metric(histories, metric)
    if figure is None:
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(_MISSING_MATPLOTLIB) from exc
        figure = plt.figure(figsize=(5.5 * len(metrics), 4.5), layout="constrained")
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    score_name, score = _heldout_score(estimator)
    for metric, ax in zip(metrics, axes):
        plot_history(estimator, metric=metric, ax=ax)
        if ax is not axes[0]:
            ax.get_legend().remove()  # the members' colours are keyed on the first panel
        if score is not None and metric == "accuracy" and score_name.endswith("accuracy"):
            ax.axhline(score, color="black", linewidth=1.2)
            ax.text(
                0.02, score, f"ensemble, {score_name}", transform=ax.get_yaxis_transform(),
                ha="left", va="bottom", fontsize="small",
            )  # fmt: skip
            low, high = ax.get_ylim()
            ax.set_ylim(min(low, score), max(high, score + 0.06 * (high - low)))
    title = f"{type(estimator).__name__}, {len(histories)} members"
    if score is not None:
        title += f"; {score_name} of the ensemble: {score:.4f}"
    figure.suptitle(title)
    return figure


def _heldout_score(estimator: Any) -> tuple[str, float | None]:
    """The ensemble's held-out score and what it is ("out-of-bag accuracy", ...), if it has one."""
    from sklearn.base import is_classifier

    heldout = heldout_of(estimator)
    if heldout is None or not np.isfinite(heldout.score):
        return "", None
    metric = "accuracy" if is_classifier(estimator) else "R²"
    return f"{heldout.kind} {metric}", float(heldout.score)


def _readable_scale(ax: Axes, curves: list) -> None:
    """Scale the y axis so that every epoch's differences show, not only the first epoch's fall.

    Positive curves spanning more than a factor of 10 (a loss falling from 2
    to 0.05) get a log scale. Otherwise, when the first epochs lie far
    outside the span of the later ones (an accuracy rising from 0.3 to
    0.95-0.99), the limits fit the later epochs.
    """
    every = np.concatenate([np.asarray(c, dtype=float) for c in curves])
    every = every[np.isfinite(every)]
    if not len(every):
        return
    if every.min() > 0 and every.max() / every.min() > 10:
        ax.set_yscale("log")
        return
    later = [np.asarray(c, dtype=float)[1:] for c in curves if len(c) >= 3]
    rest = np.concatenate(later) if later else np.array([])
    rest = rest[np.isfinite(rest)]
    if not len(rest):
        return
    low, high = rest.min(), rest.max()
    span = high - low
    if every.min() < low - span or every.max() > high + span:
        margin = 0.08 * span if span > 0 else 0.05 * max(abs(high), 1e-12)
        ax.set_ylim(low - margin, high + margin)


def _histories_of(estimator: Any) -> list[Mapping]:
    """The per-member histories of a fitted ensemble, or the given list of them."""
    if isinstance(estimator, Mapping):  # one member's history (histories_[0], say)
        raise TypeError(
            "plot_history takes a list of histories, one dict per member; got a single "
            "history: pass [history]."
        )
    if isinstance(estimator, Sequence) and not isinstance(estimator, str):
        histories = list(estimator)
        if not histories:
            raise ValueError("plot_history got an empty list of histories.")
        if not all(isinstance(history, Mapping) for history in histories):
            raise TypeError(
                "plot_history takes a fitted ensemble or a list of histories "
                "(one dict per member, metric name -> per-epoch values)."
            )
        return histories
    check_is_fitted(estimator)
    if not hasattr(estimator, "histories_"):
        raise TypeError(
            f"{type(estimator).__name__} has no histories_; plot_history takes a fitted "
            "sk_kerasbag ensemble or a list of histories."
        )
    return list(estimator.histories_)


def _held_epochs(estimator: Any) -> list[int] | None:
    """Each member's held epoch (from 1), for a fitted ensemble; None for a list of histories."""
    statistics = getattr(estimator, "fit_statistics_", None)
    if statistics is None or "held_epoch" not in statistics:
        return None
    return [int(epoch) for epoch in statistics["held_epoch"]]


def _check_metric(histories: list[Mapping], metric: str) -> None:
    if not isinstance(metric, str):
        raise TypeError(
            f"A metric is named by a str, such as 'loss'; got {type(metric).__name__} "
            f"{metric!r}. plot_training(estimator, metrics=[...]) draws several."
        )
    missing = [k for k, history in enumerate(histories, start=1) if metric not in history]
    if not missing:
        return
    where = "" if len(missing) == len(histories) else f" of member(s) {missing}"
    raise ValueError(
        f"metric {metric!r} is not in the training histories{where}; "
        f"available metrics: {_available_metrics(histories)}."
    )


def _available_metrics(histories: list[Mapping]) -> str:
    """The metrics every member recorded, quoted, without the validation ones drawn with them."""
    common = set(histories[0]).intersection(*histories[1:])
    available = sorted(
        name
        for name in common
        if not (name.startswith(_VALIDATION_PREFIX) and name[len(_VALIDATION_PREFIX) :] in common)
    )
    return ", ".join(map(repr, available)) or "none"


def _member_colors(matplotlib: Any, histories: list[Mapping]) -> list:
    """One colour per member: the style's colour cycle, or a colormap if it is too short."""
    n = len(histories)
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", [])
    if n <= len(cycle):
        return list(cycle[:n])
    return list(matplotlib.colormaps["viridis"](np.linspace(0, 0.9, n)))
