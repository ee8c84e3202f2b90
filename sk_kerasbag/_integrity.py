"""Checks that a loaded estimator's fitted attributes agree with each other and with its members.

:func:`~sk_kerasbag.persistence.load` runs them (:func:`check_fitted_state`):
a folder's ``estimator.json`` can hold anything, and
what would otherwise fail at prediction (an index out of range, a division by
zero) becomes one ``ValueError`` at load that says what is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._augmentation import Preprocessing
from ._builder import OutputSpec, output_of

# Stands for an attribute the estimator does not have (the directory
# estimators have no n_features_in_).
ABSENT = object()


def check_fitted_attributes(
    *,
    n_members: int,
    per_member: dict[str, tuple[Any, type]],
    input_shape: Any,
    n_features_in: Any,
    statistics: Any,
    heldout_passes: Any,
    output_spec: Any,
) -> None:
    """Raise ValueError when the attributes are not of the kinds and lengths ``n_members`` asks.

    ``per_member`` maps an attribute's name to its value (a list, one item per
    member) and the type of its items. ``n_features_in`` is :data:`ABSENT` for
    the directory estimators, which have none.
    """
    if n_members == 0:
        raise ValueError("it lists no members")
    for name, (value, kind) in per_member.items():
        if not (isinstance(value, list) and len(value) == n_members):
            raise ValueError(f"{name} is not a list of one item per member ({n_members})")
        if not all(isinstance(item, kind) and not isinstance(item, bool) for item in value):
            raise ValueError(f"{name} holds items that are not of type {kind.__name__}")
    if not (
        isinstance(input_shape, tuple)
        and input_shape
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape)
    ):
        raise ValueError(f"input_shape_ is {input_shape!r}, not a tuple of positive integers")
    if n_features_in is not ABSENT and n_features_in != input_shape[0]:
        raise ValueError(f"n_features_in_ does not match input_shape_ {input_shape}")
    if not (
        isinstance(statistics, dict)
        and all(hasattr(v, "__len__") and len(v) == n_members for v in statistics.values())
        and list(statistics.get("member", [])) == list(range(1, n_members + 1))
    ):
        raise ValueError(f"fit_statistics_ is not a table of {n_members} members")
    passes = heldout_passes
    if not (isinstance(passes, tuple) and len(passes) == 2 and isinstance(passes[0], int)):
        raise ValueError("_heldout_passes is malformed")
    if not isinstance(output_spec, OutputSpec):
        raise ValueError("_output_spec is not an output description")


def check_member_shapes(
    models: list, preprocessing: list, columns: list, input_shape: tuple, width: int
) -> None:
    """Raise ValueError unless each member takes the rows and gives the columns described.

    Read from the members' symbolic inputs and output, not from a forward
    pass, which costs a trace or compilation per member (a Model subclass,
    which has no symbolic output of its own, is traced on a symbolic row:
    nothing computed). What reaches a member is its ``columns`` of the row
    (None: all), through its ``preprocessing``: NumPy, one row.
    """
    row = np.zeros((1, *input_shape), dtype=np.float32)
    for k, member in enumerate(models):
        rows = preprocessing[k].transform(row if columns[k] is None else row[:, columns[k]])
        takes = tuple(rows.shape[1:])
        try:
            inputs = [tuple(x.shape[1:]) for x in member.inputs]
        except (AttributeError, ValueError):  # a Model subclass: its trace checks
            inputs = [takes]
        if len(inputs) != 1 or not (
            len(inputs[0]) == len(takes)
            and all(d is None or d == t for d, t in zip(inputs[0], takes))
        ):
            raise ValueError(
                f"member {k + 1} takes inputs of shape {', '.join(map(str, inputs))}, "
                f"not the rows of shape {takes} its attributes describe"
            )
        try:
            gives = tuple(output_of(member, takes, member).shape[1:])
        except Exception as error:
            raise ValueError(
                f"member {k + 1} does not work on rows of shape {takes}: {error}"
            ) from error
        if gives != (width,):
            raise ValueError(
                f"member {k + 1} gives {gives} outputs per row, not the {width} its "
                "attributes describe"
            )


def check_fitted_state(estimator) -> None:
    """Raise ValueError when a fitted estimator's attributes do not agree with each other.

    Its members, their histories, preprocessing and seeds, its shapes, held-out
    passes and output spec (:func:`check_fitted_attributes`); then what its
    family and task add (the hooks ``_check_family_state``,
    ``_check_target_state`` and ``_check_output``); then each member's
    input and output shapes (:func:`check_member_shapes`).
    """
    n = len(estimator.estimators_)
    shape = getattr(estimator, "input_shape_", None)
    kinds = {"histories_": dict, "preprocessing_": Preprocessing, "_seeds": int}
    check_fitted_attributes(
        n_members=n,
        per_member={name: (getattr(estimator, name, None), kinds[name]) for name in kinds},
        input_shape=shape,
        n_features_in=getattr(estimator, "n_features_in_", ABSENT),
        statistics=getattr(estimator, "fit_statistics_", None),
        heldout_passes=getattr(estimator, "_heldout_passes", None),
        output_spec=getattr(estimator, "_output_spec", None),
    )
    estimator._check_family_state()
    estimator._check_target_state()
    estimator._check_output(estimator._output_spec)
    check_member_shapes(
        estimator.estimators_,
        estimator.preprocessing_,
        [estimator._member_columns(k) for k in range(n)],
        shape,
        estimator._output_spec.width,
    )
