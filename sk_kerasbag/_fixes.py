"""Every use of Keras internals, in one place.

sk_kerasbag otherwise uses public Keras APIs only. What follows reaches
into ``keras.src`` or private attributes, each looked up defensively, so
that another Keras version degrades to the public behaviour (or fails
loudly where safety depends on it) instead of breaking elsewhere.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Callable, Iterator

import keras


@contextlib.contextmanager
def keras_default_seeds_from(generator: random.Random) -> Iterator[None]:
    """Make Keras draw its layers' default seeds from ``generator`` within the block.

    ``keras.src.random.seed_generator.make_default_seed`` draws from Python's
    global generator, which other threads draw from too.
    """
    try:
        from keras.src.random import seed_generator
    except ImportError:
        seed_generator = None
    if getattr(seed_generator, "python_random", None) is not random:
        yield  # another Keras version: nothing known to redirect
        return
    seed_generator.python_random = generator
    try:
        yield
    finally:
        seed_generator.python_random = random


def symbolic_build(model: keras.Model) -> Callable[..., None] | None:
    """Keras's ``_symbolic_build`` of ``model`` (creates optimizer and metric variables), if any."""
    return getattr(model, "_symbolic_build", None)


def compile_arguments(model: keras.Model) -> dict[str, Any]:
    """The arguments ``model`` was compiled with, as Keras recorded them."""
    return model._compile_config.config


def metric_direction(metric: Any) -> str | None:
    """``"up"`` or ``"down"``, as a Keras metric declares which way is better; else None."""
    return getattr(metric, "_direction", None)


@contextlib.contextmanager
def safe_deserialization() -> Iterator[None]:
    """Keras's safe mode within the block, whatever ``enable_unsafe_deserialization`` set.

    Keras reads its process-wide switch before the ``safe_mode`` argument of
    ``load_model``, so after ``keras.config.enable_unsafe_deserialization()``
    anywhere in the process a "safe" load would run a Lambda layer's code.
    """
    from keras.src.saving.serialization_lib import SafeModeScope  # required: safety

    with SafeModeScope(True):
        yield
