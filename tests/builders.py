"""Tiny model builders and data shared by the tests (importable by joblib workers)."""

import keras
import numpy as np


def three_class_rows(n_rows):
    """``n_rows`` rows of 6 uniform features and a 3-class target that depends on three of them."""
    rng = np.random.RandomState(0)
    X = rng.rand(n_rows, 6).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.5)
    return X, y


def dense_classifier(
    input_shape,
    n_classes,
    hidden=32,
    learning_rate=0.05,
    loss="sparse_categorical_crossentropy",
    activation="softmax",
    run_eagerly=False,
    metrics=("accuracy",),
):
    """A one-hidden-layer softmax classifier (``activation=None``: a linear head, for scores).

    ``hidden=None`` leaves the hidden layer out and ``metrics=None`` the metrics:
    the cheapest member, for tests that fit many (a tiny member's fit is mostly
    the backend tracing or compiling its train step, which grows with both).
    """
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            *([] if hidden is None else [keras.layers.Dense(hidden, activation="relu")]),
            keras.layers.Dense(n_classes, activation=activation),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
        metrics=list(metrics or []), run_eagerly=run_eagerly,
    )  # fmt: skip
    return model


def sigmoid_classifier(
    input_shape, hidden=16, learning_rate=0.05, loss="binary_crossentropy", activation="sigmoid"
):
    """A binary classifier with one sigmoid output unit (``activation=None``: a score)."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(1, activation=activation),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    return model


def dense_regressor(input_shape, n_outputs, hidden=32, learning_rate=0.05):
    """A one-hidden-layer linear-output regressor (``hidden=None``: linear regression)."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            *([] if hidden is None else [keras.layers.Dense(hidden, activation="relu")]),
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


class KillSwitch(keras.callbacks.Callback):
    """Kills its own process with SIGKILL in the middle of a member's epoch.

    Armed only when the environment variable ``SK_KERASBAG_KILL`` is set, so
    the same callback (hence the same parameters) runs harmlessly in the
    resumed fit. Fires during epoch ``at_epoch`` (from 0) of the first member
    that starts after ``after_members`` members finished in ``folder``.
    Records every epoch it sees begin in ``KillSwitch.epochs_begun``.
    """

    epochs_begun = []

    def __init__(self, folder, after_members, at_epoch):
        super().__init__()
        self.folder, self.after_members, self.at_epoch = str(folder), after_members, at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        KillSwitch.epochs_begun.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        import glob
        import os
        import signal

        finished = glob.glob(os.path.join(self.folder, "member_*[0-9].json"))
        if (
            os.environ.get("SK_KERASBAG_KILL")
            and self._epoch == self.at_epoch
            and batch == 1
            and len(finished) >= self.after_members
        ):
            os.kill(os.getpid(), signal.SIGKILL)


def lambda_classifier(input_shape, n_classes):
    """A classifier with a Lambda layer (Python code that Keras's safe mode refuses to load)."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Lambda(lambda x: x * 2.0),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


class HalvingLearningRate(keras.callbacks.Callback):
    """Halves the learning rate every epoch, counting epochs in its own state."""

    def __init__(self):
        super().__init__()
        self.epochs_seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate.assign(0.1 * 0.5**self.epochs_seen)
        self.epochs_seen += 1


def stateful_callbacks():
    """Callbacks whose state a resumed member needs: patience and best weights, an epoch count."""
    return [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True),
        HalvingLearningRate(),
    ]


def pid_logging_classifier(input_shape, n_classes, log):
    """``dense_classifier`` that appends the id of the process building it to the file ``log``."""
    import os

    with open(log, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return dense_classifier(input_shape, n_classes)


class MarksTraining(keras.callbacks.Callback):
    """Creates the file ``<folder>/<process id>`` as its member's first training batch begins."""

    def __init__(self, folder):
        super().__init__()
        self.folder = str(folder)
        self.marked = False

    def on_train_batch_begin(self, batch, logs=None):
        if not self.marked:
            import os
            from pathlib import Path

            (Path(self.folder) / str(os.getpid())).touch()
            self.marked = True


def sgd_classifier(input_shape, n_classes, learning_rate=0.05):
    """``dense_classifier`` trained by plain SGD (a huge learning rate makes it diverge)."""
    model = dense_classifier(input_shape, n_classes)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate), loss="sparse_categorical_crossentropy"
    )
    return model


class PoisonWeights(keras.callbacks.Callback):
    """Makes its member's weights infinite at the start of epoch ``at_epoch`` (from 0)."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            weights = self.model.get_weights()
            weights[0] = np.full_like(weights[0], np.inf)
            self.model.set_weights(weights)


# -- custom Keras objects, registered nowhere ------------------------------------


class ScaledSquaredError(keras.losses.Loss):
    """A custom loss class."""

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def clipped_relu(x):
    """A custom activation function."""
    return keras.ops.minimum(keras.ops.relu(x), 6.0)


def absolute_error(y_true, y_pred):
    """A custom metric function."""
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


class Scale(keras.layers.Layer):
    """A custom layer."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class TwoLayerNet(keras.Model):
    """A custom ``Model`` subclass."""

    def __init__(self, n_outputs=1, **kwargs):
        super().__init__(**kwargs)
        self.n_outputs = n_outputs
        self.hidden = keras.layers.Dense(16, activation=clipped_relu)
        self.head = keras.layers.Dense(n_outputs)

    def call(self, x):
        return self.head(self.hidden(x))

    def get_config(self):
        return {"n_outputs": self.n_outputs}


def custom_objects_regressor(input_shape, n_outputs, subclassed=False):
    """A regressor using every kind of custom object above."""
    if subclassed:
        model = TwoLayerNet(n_outputs)
        model(keras.ops.zeros((1, *input_shape)))
    else:
        inputs = keras.Input(input_shape)
        x = Scale(0.5)(inputs)
        x = keras.layers.Dense(16, activation=clipped_relu)(x)
        model = keras.Model(inputs, keras.layers.Dense(n_outputs)(x))
    model.compile(optimizer="adam", loss=ScaledSquaredError(2.0), metrics=[absolute_error])
    return model


def returns_nothing(input_shape, n_classes):
    """A builder that forgot its ``return``."""
    dense_classifier(input_shape, n_classes)


def dropout_classifier(input_shape, n_classes, rate=0.5):
    """Every member starts from the same weights (fixed initializer seeds); dropout ``rate``."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Dense(32, activation="relu", kernel_initializer=_fixed_init(1)),
            keras.layers.Dropout(rate),
            keras.layers.Dense(n_classes, activation="softmax", kernel_initializer=_fixed_init(2)),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def _fixed_init(seed):
    return keras.initializers.GlorotUniform(seed=seed)


class HostRoundTrip(keras.layers.Layer):
    """The identity, computed on the host under JAX: an op ``jax.vmap`` cannot batch."""

    def call(self, x):
        if keras.backend.backend() != "jax":
            return x
        return _host_identity(x)


def _host_identity(x):
    import jax

    @jax.custom_jvp
    def identity(x):
        # pure_callback without a vmap_method has no batching rule.
        return jax.pure_callback(np.asarray, jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    @identity.defjvp
    def identity_jvp(primals, tangents):
        return identity(primals[0]), tangents[0]

    return identity(x)


def host_roundtrip_classifier(input_shape, n_classes):
    """``dense_classifier`` with a :class:`HostRoundTrip` in front."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            HostRoundTrip(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    return model
