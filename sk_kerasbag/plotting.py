"""Plots of fitted ensembles.

matplotlib is an optional dependency (``pip install "sk-kerasbag[plot]"``): it
is imported when a plot is drawn, never when this module is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_history"]

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
    for k, (history, color) in enumerate(zip(histories, _member_colors(matplotlib, histories))):
        member = f"member {k + 1}"
        values = history[metric]
        (line,) = ax.plot(
            np.arange(1, len(values) + 1), values, color=color, label=f"{member} train"
        )
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
    ax.legend(handles, labels, ncol=1 + (len(handles) - 1) // _LEGEND_ROWS, fontsize="small")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per member" + (" (training and validation)" if any_validation else ""))
    return ax


def _histories_of(estimator: Any) -> list[Mapping]:
    """The per-member histories of a fitted ensemble, or the given list of them."""
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
    missing = [k for k, history in enumerate(histories, start=1) if metric not in history]
    if not missing:
        return
    common = set(histories[0]).intersection(*histories[1:])
    available = sorted(
        name
        for name in common
        if not (name.startswith(_VALIDATION_PREFIX) and name[len(_VALIDATION_PREFIX) :] in common)
    )
    where = "" if len(missing) == len(histories) else f" of member(s) {missing}"
    raise ValueError(
        f"metric {metric!r} is not in the training histories{where}; "
        f"available metrics: {', '.join(map(repr, available)) or 'none'}."
    )


def _member_colors(matplotlib: Any, histories: list[Mapping]) -> list:
    """One colour per member: the style's colour cycle, or a colormap if it is too short."""
    n = len(histories)
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", [])
    if n <= len(cycle):
        return list(cycle[:n])
    return list(matplotlib.colormaps["viridis"](np.linspace(0, 0.9, n)))
