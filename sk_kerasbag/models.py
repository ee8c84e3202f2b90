"""Ready-made model builders, used by the demo and examples.

Each builder takes the data-dependent arguments (``input_shape``,
``n_classes``) that the estimators fill in at fit time, plus tunable
keyword arguments that can be routed with ``model__<name>``.
"""

from __future__ import annotations

from ._keras import keras


def basic_cnn(
    input_shape: tuple[int, ...],
    n_classes: int,
    filters: int = 16,
    dense_units: int = 64,
    dropout: float = 0.25,
    learning_rate: float = 0.003,
) -> keras.Model:
    """Small convolutional classifier, the old keraspipelines ``basic_cnn`` scaled down.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one image, channels last.
    n_classes : int
        Number of classes (softmax units).
    filters : int, default=16
        Filters of the first convolution (the second has twice as many).
    dense_units : int, default=64
        Units of the hidden dense layer.
    dropout : float, default=0.25
        Dropout rate before the output layer.
    learning_rate : float, default=0.003
        Adam's learning rate.

    Returns
    -------
    keras.Model
        Compiled with sparse categorical cross-entropy and accuracy.
    """
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    return _softmax_classifier(inputs, x, n_classes, learning_rate)


def dense_net(
    input_shape: tuple[int, ...],
    n_classes: int,
    hidden: int = 64,
    dropout: float = 0.1,
    learning_rate: float = 0.003,
) -> keras.Model:
    """Fully connected classifier for tabular rows (or flattened images).

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one row.
    n_classes : int
        Number of classes (softmax units).
    hidden : int, default=64
        Units of the hidden layer.
    dropout : float, default=0.1
        Dropout rate after the hidden layer.
    learning_rate : float, default=0.003
        Adam's learning rate.

    Returns
    -------
    keras.Model
        Compiled with sparse categorical cross-entropy and accuracy.
    """
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(hidden, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    return _softmax_classifier(inputs, x, n_classes, learning_rate)


def _softmax_classifier(inputs, features, n_classes: int, learning_rate: float) -> keras.Model:
    outputs = keras.layers.Dense(n_classes, activation="softmax")(features)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
