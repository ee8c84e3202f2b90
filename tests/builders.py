"""Tiny model builders shared by the tests (importable by joblib workers)."""

import keras


def dense_classifier(input_shape, n_classes, hidden=32, learning_rate=0.05, loss="sparse_categorical_crossentropy"):
    """A one-hidden-layer softmax classifier."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    return model


def sigmoid_classifier(input_shape, hidden=16, learning_rate=0.05):
    """A binary classifier with one sigmoid output unit."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return model


def dense_regressor(input_shape, n_outputs, hidden=32, learning_rate=0.05):
    """A one-hidden-layer linear-output regressor."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(n_outputs),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def small_cnn(input_shape, n_classes, filters=4):
    """A minimal convolutional classifier for image tests."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(filters, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model
