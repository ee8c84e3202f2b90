"""Calling the user's model builder and checking what it returns.

The estimators never hold a Keras model as a parameter: they hold a builder
function and the ``model__<name>`` keyword arguments routed to it. This module
turns those into one fresh, compiled ``keras.Model`` per member and reads from
that model what the estimator needs to know (output width, loss family).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from ._keras import keras

ROUTE_PREFIX = "model__"


def routed_params(params: dict[str, Any]) -> dict[str, Any]:
    """Return the builder keyword arguments found among estimator params.

    Parameters
    ----------
    params : dict
        Estimator parameters, e.g. from ``get_params(deep=False)``.

    Returns
    -------
    dict
        ``{"hidden": 16}`` for a parameter ``model__hidden=16``.
    """
    return {
        name[len(ROUTE_PREFIX) :]: value
        for name, value in params.items()
        if name.startswith(ROUTE_PREFIX)
    }


def make_builder(
    model: Callable[..., keras.Model],
    routed: dict[str, Any],
    data_arguments: dict[str, Any],
) -> Callable[[], keras.Model]:
    """Bind the builder's arguments, failing early on names it does not take.

    Parameters
    ----------
    model : callable
        The user's builder.
    routed : dict
        Arguments routed through ``model__<name>`` parameters.
    data_arguments : dict
        ``input_shape``, ``n_classes``, ``target_kind`` or ``n_outputs``
        learned from the data;
        only those named in the builder's signature are passed, and a routed
        argument of the same name wins.

    Returns
    -------
    callable
        A picklable zero-argument function that builds one fresh model.
    """
    if isinstance(model, keras.Model) or not callable(model):
        raise TypeError(
            "`model` must be a function that builds and returns a compiled "
            f"keras.Model, got {type(model).__name__}. Wrap model creation in a "
            "function so that every ensemble member starts from fresh weights."
        )
    parameters = _parameters(model)
    unknown = _not_taken(parameters, routed)
    if unknown:
        names = ", ".join(ROUTE_PREFIX + name for name in unknown)
        raise ValueError(f"{names} not accepted by the model builder {signature_text(model)}.")
    kwargs = {name: value for name, value in data_arguments.items() if name in parameters}
    kwargs.update(routed)
    return functools.partial(model, **kwargs)


def arguments_not_taken(builder: Callable, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that ``builder`` takes no keyword argument of, sorted.

    Empty when the builder takes ``**kwargs``, or has no signature to read
    (some builtins and C callables): it is then left to the call to fail.
    """
    return _not_taken(_parameters(builder), names)


def takes_argument(builder: Any, name: str) -> bool:
    """Whether ``builder``'s signature names the argument ``name`` (which it is then given).

    A builder taking ``**kwargs`` gets only the data arguments it names, so
    ``**kwargs`` alone does not count.
    """
    return callable(builder) and name in _parameters(builder)


def signature_text(builder: Callable) -> str:
    """``builder``'s name and signature, as error messages show it: ``dense_net(hidden=32)``.

    For a builder whose signature can be read: one that refuses an argument.
    """
    return _describe(builder) + str(inspect.signature(builder))


def _not_taken(parameters: Mapping[str, inspect.Parameter], names: Iterable[str]) -> list[str]:
    if not parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return []
    return sorted(set(names) - set(parameters))


def _parameters(builder: Callable) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(builder).parameters
    except (TypeError, ValueError):  # builtins and some C callables
        return {}


def build_checked(builder: Callable[[], keras.Model]) -> keras.Model:
    """Call ``builder`` and check that it returned a compiled single-output model.

    Parameters
    ----------
    builder : callable
        Result of :func:`make_builder`.

    Returns
    -------
    keras.Model
    """
    model = builder()
    name = _describe(getattr(builder, "func", builder))
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"The model builder {name} returned {type(model).__name__}; "
            "it must return a compiled keras.Model."
        )
    if not getattr(model, "compiled", False):
        raise ValueError(
            f"The model built by {name} is not compiled; call "
            "model.compile(optimizer=..., loss=...) before returning it."
        )
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            f"The model built by {name} is compiled without an optimizer; pass one to "
            "model.compile(optimizer=...), such as 'adam'."
        )
    outputs = _symbolic_outputs(model)
    if outputs is not None:  # else checked once the input shape is known (output_of)
        _check_single_output(outputs, name)
    if isinstance(model.loss, (list, tuple, dict)):
        raise ValueError(f"The model built by {name} must be compiled with a single loss.")
    return model


def _symbolic_outputs(model: keras.Model) -> list | None:
    """The outputs of a functional or Sequential model; None for a subclassed one."""
    try:
        return list(model.outputs)
    except (AttributeError, ValueError):  # a Model subclass has no graph of its own
        return None


def _check_single_output(outputs: list, name: str) -> None:
    if len(outputs) != 1 or len(outputs[0].shape) != 2:
        raise ValueError(
            f"The model built by {name} must have a single output of shape "
            f"(batch, units); its outputs are {[tuple(o.shape) for o in outputs]}."
        )


def output_of(model: keras.Model, input_shape: tuple, builder: Callable) -> Any:
    """The symbolic output of ``model`` on rows of ``input_shape`` (any kind of model)."""
    outputs = _symbolic_outputs(model)
    if outputs is None:
        output = model.compute_output_spec(keras.KerasTensor((None, *input_shape)))
        outputs = list(output) if isinstance(output, (list, tuple)) else [output]
    _check_single_output(outputs, _describe(getattr(builder, "func", builder)))
    return outputs[0]


def check_input_shape(model: keras.Model, input_shape: tuple, builder: Callable) -> None:
    """Refuse, before training, a model whose input does not take rows of ``input_shape``."""
    try:
        (model_input,) = model.inputs
    except (AttributeError, ValueError):  # not built on an Input, or several inputs: let Keras say
        return
    expected = tuple(model_input.shape[1:])
    if len(expected) != len(input_shape) or any(
        e is not None and e != d for e, d in zip(expected, input_shape)
    ):
        raise ValueError(
            f"The model built by {_describe(getattr(builder, 'func', builder))} takes rows of "
            f"shape {expected}, but X has rows of shape {tuple(input_shape)}; build its input "
            "from the `input_shape` builder argument, which the estimator fills from the data."
        )


@dataclass(frozen=True)
class OutputSpec:
    """What a compiled model's output and loss say about its targets.

    Attributes
    ----------
    width : int
        Number of output units.
    loss_name : str
        Lower-case name of the compiled loss.
    from_logits : bool
        Whether the loss expects logits rather than probabilities.
    probabilities : bool
        Whether a classifier's outputs are (or, as logits, turn into) class
        probabilities; False for scores, such as a linear head trained with
        a hinge loss.
    activation : str or None
        Name of the last layer's activation (``"softmax"``, ``"sigmoid"``,
        ``"linear"``...), None when the model does not show it. A multilabel
        target needs per-unit probabilities, which a softmax head cannot give.
    """

    width: int
    loss_name: str
    from_logits: bool
    probabilities: bool = True
    # Saved estimators from before this field load with None: "not known".
    activation: str | None = None

    @classmethod
    def of(cls, model: keras.Model, output: Any) -> OutputSpec:
        """Read the output specification of a compiled model from its symbolic ``output``."""
        loss = model.loss
        if isinstance(loss, str):
            loss_name = loss
        else:
            loss_name = getattr(loss, "name", None) or getattr(loss, "__name__", "")
        loss_name = str(loss_name).lower()
        from_logits = bool(getattr(loss, "from_logits", False))
        # A cross-entropy is fitted on probabilities (or logits); other losses
        # (hinge, squared error) give probabilities only through a softmax or
        # sigmoid head.
        activation = _last_activation(model)
        probabilities = from_logits or "crossentropy" in loss_name or activation in _SQUASHING
        return cls(
            width=int(output.shape[-1]),
            loss_name=loss_name,
            from_logits=from_logits,
            probabilities=probabilities,
            activation=activation,
        )

    @property
    def target_encoding(self) -> str:
        """How class labels must be encoded for this model's loss.

        ``"sparse"`` (integer codes) for sparse losses, ``"binary"`` (a 0/1
        column) for a single output unit, ``"onehot"`` otherwise.
        """
        if "sparse" in self.loss_name:
            return "sparse"
        if self.width == 1:
            return "binary"
        return "onehot"


_SQUASHING = ("softmax", "sigmoid")


def _last_activation(model: keras.Model) -> str | None:
    """The name of the last layer's activation (None when there is none to read)."""
    layers = getattr(model, "layers", None) or [None]
    last = layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return "softmax"
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None)


def _describe(func: Callable) -> str:
    return getattr(func, "__qualname__", None) or type(func).__name__
