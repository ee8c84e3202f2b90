"""The estimators' parameters: declared ones, ``model__<name>`` builder arguments, old pickles.

:class:`EnsembleParameters` is the part of every estimator scikit-learn's
parameter protocol sees: ``__init__`` arguments stored unchanged
(``_set_init_params``), the constraints ``fit`` validates them against (no
True or False for a number: ``_fixes.BoolsAreNotNumbers``; one value at a
time: :func:`check_parameter`), ``get_params``/``set_params`` that carry the
builder's ``model__<name>`` arguments beside the declared parameters, and the
pickling that keeps estimators pickled by older versions loading with their
old behaviour.
"""

from __future__ import annotations

import inspect
import os
from numbers import Integral, Real
from typing import Any

from sklearn.base import BaseEstimator

from ._builder import ROUTE_PREFIX
from ._fixes import (
    BoolsAreNotNumbers,
    HasMethods,
    Interval,
    StrOptions,
    reject_bool_number,
    validate_parameter_constraints,
)
from ._pickling import portable, unwrap


# Read again at every prediction (see _predicting.prediction_passes), so that
# they can be changed on a fitted estimator: checked there too.
PREDICTION_CONSTRAINTS: dict = {
    "augmentation": [dict, HasMethods(["flow"]), None],
    "tta": [Interval(Integral, 0, None, closed="left")],
}


class EnsembleParameters(BoolsAreNotNumbers, BaseEstimator):
    """The parameter protocol of the ensembles (a base of ``BaseKerasEnsemble``)."""

    _parameter_constraints: dict = {
        "model": [callable],
        **PREDICTION_CONSTRAINTS,
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "callbacks": [list, None],
        "validation_split": [Interval(Real, 0, 1, closed="left")],
        "validate_on_heldout": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
        "save_dir": [str, os.PathLike, None],
        "resume": ["boolean"],
        "warm_start": ["boolean"],
        "strategy": [StrOptions({"sequential", "packed", "auto"})],
        "patience": [Interval(Integral, 0, None, closed="left"), None],
        "monitor": [str],
        "restore_best_weights": ["boolean"],
    }

    def _set_init_params(self, arguments: dict[str, Any]) -> None:
        """Store every ``__init__`` argument unchanged, under its own name.

        Public ``__init__`` methods spell out their parameters (scikit-learn
        reads them from the signature) and pass ``locals()`` here.
        """
        arguments = dict(arguments)
        model_params = arguments.pop("model_params")
        for name, value in arguments.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)
        for name in model_params:
            if not name.startswith(ROUTE_PREFIX):
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {name!r}; "
                    f"arguments for the model builder are named {ROUTE_PREFIX}<name>."
                )
        # Kept apart from the declared parameters: an attribute per argument
        # would be an attribute that __init__'s signature does not declare.
        self._model_params = dict(model_params)

    # -- parameters: model__<name> arguments live beside the declared ones ---

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get parameters, including the ``model__<name>`` builder arguments.

        Parameters
        ----------
        deep : bool, default=True
            Also return parameters of contained estimators.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        params.update(getattr(self, "_model_params", {}))
        return params

    def set_params(self, **params) -> EnsembleParameters:
        """Set parameters, including new or existing ``model__<name>`` arguments.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
        """
        routed = {k: params.pop(k) for k in list(params) if k.startswith(ROUTE_PREFIX)}
        self._model_params = {**getattr(self, "_model_params", {}), **routed}
        return super().set_params(**params)

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        # Pickled before routed arguments moved into _model_params: move them there.
        routed = {k: state.pop(k) for k in list(state) if k.startswith(ROUTE_PREFIX)}
        if routed or "_model_params" not in state:
            state["_model_params"] = {**state.get("_model_params", {}), **routed}
        # copy.copy() hands __getstate__'s portable members over unpickled.
        if "estimators_" in state:
            state["estimators_"] = [unwrap(m) for m in state["estimators_"]]
        # Pickled before a parameter existed: it had its default's effect.
        for parameter in inspect.signature(type(self).__init__).parameters.values():
            if parameter.default is not parameter.empty and parameter.name not in state:
                state[parameter.name] = parameter.default
        super().__setstate__(state)

    def __getstate__(self) -> dict:
        # Members pickle with the custom objects of the builder (joblib.dump, clone of
        # a fitted ensemble, Dask), which Keras's own pickling leaves behind.
        state = super().__getstate__()
        if "estimators_" in state:
            state = {**state, "estimators_": [portable(m) for m in state["estimators_"]]}
        return state


def check_parameter(estimator_class: type, name: str, value: Any) -> None:
    """Raise InvalidParameterError unless ``estimator_class`` takes ``value`` for ``name``.

    The check ``fit`` makes of that one parameter (scikit-learn's constraints,
    and no True or False for a number), for a value not yet set on an
    estimator (an experiment file's). Names without a constraint pass.
    """
    constraints = estimator_class._parameter_constraints.get(name)
    if constraints is None:
        return
    caller = estimator_class.__name__
    validate_parameter_constraints({name: constraints}, {name: value}, caller_name=caller)
    reject_bool_number(name, value, constraints, caller)
