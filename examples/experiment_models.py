"""The model builder of ``experiment.toml``: ``sk-kerasbag run examples/experiment.toml``.

A builder is any function returning a compiled ``keras.Model``. The
estimator fills in ``input_shape`` and ``n_classes`` from the data; the other
arguments come from the experiment file (``model.params``, or
``model__<name>`` in a schedule entry's ``params``).
"""

from __future__ import annotations

import keras


def small_cnn(
    input_shape: tuple[int, ...], n_classes: int, filters: int = 16, learning_rate: float = 0.003
) -> keras.Model:
    """One convolution, pooling and a softmax: a CNN small enough for the 8x8 digits.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one image, channels last.
    n_classes : int
        Number of classes.
    filters : int, default=16
        Filters of the convolution.
    learning_rate : float, default=0.003
        Adam's learning rate.

    Returns
    -------
    keras.Model
        Compiled with sparse categorical cross-entropy and accuracy.
    """
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
