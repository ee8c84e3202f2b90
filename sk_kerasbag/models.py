"""Ready-made model builders, used by the demo and examples.

Each builder takes the data-dependent arguments (``input_shape``,
``n_classes``, ``target_kind``) that the estimators fill in at fit time, plus
tunable keyword arguments that can be routed with ``model__<name>``. With
``target_kind`` one builder serves every classification target: class labels
and one-hot rows get a softmax head, a multilabel indicator matrix one sigmoid
unit per label (as scikeras's builders read ``target_type_``).
"""

from __future__ import annotations

from ._keras import keras
from ._targets import MULTILABEL, TARGET_KINDS


def basic_cnn(
    input_shape: tuple[int, ...],
    n_classes: int,
    filters: int = 16,
    dense_units: int = 64,
    dropout: float = 0.25,
    learning_rate: float = 0.003,
    target_kind: str = "labels",
) -> keras.Model:
    """Small convolutional classifier, the old keraspipelines ``basic_cnn`` scaled down.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one image, channels last.
    n_classes : int
        Number of classes (output units).
    filters : int, default=16
        Filters of the first convolution (the second has twice as many).
    dense_units : int, default=64
        Units of the hidden dense layer.
    dropout : float, default=0.25
        Dropout rate before the output layer.
    learning_rate : float, default=0.003
        Adam's learning rate.
    target_kind : {"labels", "onehot", "multilabel"}, default="labels"
        The kind of ``y`` the classifier was given, which it fills in: labels
        and one-hot rows get ``n_classes`` softmax units and sparse categorical
        cross-entropy (the estimator turns one-hot rows into class numbers),
        a multilabel ``y`` ``n_classes`` sigmoid units and binary cross-entropy.

    Returns
    -------
    keras.Model
        Compiled with the loss above and accuracy.
    """
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    return _classifier(inputs, x, n_classes, learning_rate, target_kind)


def dense_net(
    input_shape: tuple[int, ...],
    n_classes: int,
    hidden: int = 64,
    dropout: float = 0.1,
    learning_rate: float = 0.003,
    target_kind: str = "labels",
) -> keras.Model:
    """Fully connected classifier for tabular rows (or flattened images).

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one row.
    n_classes : int
        Number of classes (output units).
    hidden : int, default=64
        Units of the hidden layer.
    dropout : float, default=0.1
        Dropout rate after the hidden layer.
    learning_rate : float, default=0.003
        Adam's learning rate.
    target_kind : {"labels", "onehot", "multilabel"}, default="labels"
        The kind of ``y`` the classifier was given, which it fills in: labels
        and one-hot rows get ``n_classes`` softmax units and sparse categorical
        cross-entropy (the estimator turns one-hot rows into class numbers),
        a multilabel ``y`` ``n_classes`` sigmoid units and binary cross-entropy.

    Returns
    -------
    keras.Model
        Compiled with the loss above and accuracy.
    """
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(hidden, activation="relu")(x)
    x = keras.layers.Dropout(dropout)(x)
    return _classifier(inputs, x, n_classes, learning_rate, target_kind)


def _classifier(
    inputs, features, n_classes: int, learning_rate: float, target_kind: str
) -> keras.Model:
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"target_kind is {target_kind!r}, not one of {TARGET_KINDS}.")
    if target_kind == MULTILABEL:  # each label a yes/no of its own
        activation, loss, accuracy = "sigmoid", "binary_crossentropy", "binary_accuracy"
    else:  # one class per row; the estimator gives one-hot rows as class numbers
        activation, loss, accuracy = "softmax", "sparse_categorical_crossentropy", "accuracy"
    outputs = keras.layers.Dense(n_classes, activation=activation)(features)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=[accuracy])
    return model
