"""Image augmentation for training and test-time augmentation (TTA).

An estimator's ``augmentation`` parameter becomes one of three objects with
the same small interface, so the engine never asks which form it got:

* :class:`NoAugmentation` for ``None``;
* :class:`ImageAugmentation` for a dict of ``ImageDataGenerator``-style
  settings, implemented with vectorised NumPy, so it is fast, identical on
  every Keras backend and reproducible from a seed;
* :class:`GeneratorAugmentation` for any object with an
  ``ImageDataGenerator``-style ``.flow(X, y, batch_size=, shuffle=, seed=)``.

Each splits into a *deterministic* preprocessing, fitted on a member's
training rows and applied to every input the member sees, and *random*
transforms, applied only to training batches and TTA passes. The fitted
preprocessing is kept per member by the estimator, so it stays as fitted
while the random settings can be read afresh at predict time.

Interface, for ``aug = make_augmentation(spec)``:

``aug.check_input(X)``
    Raise if ``X`` cannot be augmented (for example, not images).
``aug.fit(X) -> preprocessing``
    The deterministic preprocessing fitted on a member's training rows; its
    ``transform(X)`` is applied to validation, held-out and test rows.
``aug.training_data(X, y, sample_weight, *, batch_size, seed, preprocessing) -> dict``
    Keyword arguments for ``keras.Model.fit`` giving the training batches.
``aug.has_random_transforms``
    Whether it draws random transforms at all (TTA passes are drawn only then).
``aug.augment(X, preprocessing, seed) -> ndarray``
    One TTA pass: random transforms, then the preprocessing; row ``i`` from
    input row ``i``. Only for augmentations with random transforms (not
    :class:`NoAugmentation`): ``_predicting.prediction_passes`` asks for no
    pass otherwise.
"""

from __future__ import annotations

import copy
import hashlib
from numbers import Real
from typing import Any

import numpy as np

from ._batches import SequenceBatches, chunks, fit_inputs, in_memory
from ._image_geometry import affine_maps, affine_warp, between
from ._keras import keras
from ._random import kept_global_state

__all__ = ["make_augmentation"]

# Settings of the dict form, with the values that change nothing.
_DEFAULTS = {
    # random transforms
    "rotation_range": 0.0,
    "width_shift_range": 0.0,
    "height_shift_range": 0.0,
    "shear_range": 0.0,
    "zoom_range": (1.0, 1.0),
    "channel_shift_range": 0.0,
    "horizontal_flip": False,
    "vertical_flip": False,
    "brightness_range": None,
    # deterministic preprocessing, in the order it is applied
    "preprocessing_function": None,
    "rescale": None,
    "samplewise_center": False,
    "samplewise_std_normalization": False,
    "featurewise_center": False,
    "featurewise_std_normalization": False,
    # filling pixels moved in from outside the image
    "fill_mode": "nearest",
    "cval": 0.0,
}
SUPPORTED_SETTINGS = tuple(_DEFAULTS)
RANDOM_SETTINGS = SUPPORTED_SETTINGS[:9]
DETERMINISTIC_SETTINGS = SUPPORTED_SETTINGS[9:15]
FILL_MODES = ("constant", "nearest", "reflect", "wrap")

# Settings of ImageDataGenerator the dict form deliberately leaves out, and why.
_UNSUPPORTED = {
    "zca_whitening": "pass a keras legacy ImageDataGenerator object instead of a dict",
    "zca_epsilon": "pass a keras legacy ImageDataGenerator object instead of a dict",
    "validation_split": "use the estimator's validation_split parameter",
    "data_format": "the dict form works on channels-last images only",
    "interpolation_order": "the dict form always interpolates bilinearly",
    "dtype": "inputs are always float32",
}

# The random draws per image, one column each of a (n_images, 10) matrix.
_DRAWS = (
    "theta", "row_shift", "col_shift", "shear", "row_zoom", "col_zoom",
    "vflip", "hflip", "channel_shift", "brightness",
)  # fmt: skip

# Keep a fitted standard deviation of 0 from dividing by zero, as Keras does.
_STD_EPSILON = 1e-6
# Pixels warped (or summed for statistics) at once: the warp's temporary
# arrays take about ten times its input, so large X (and large images) are
# processed a slice at a time.
_WARP_PIXELS = 2**21


def make_augmentation(spec: Any) -> NoAugmentation | ImageAugmentation | GeneratorAugmentation:
    """The augmentation object for an estimator's ``augmentation`` parameter."""
    if spec is None:
        return NoAugmentation()
    if isinstance(spec, dict):
        return ImageAugmentation(spec)
    if callable(getattr(spec, "flow", None)):
        return GeneratorAugmentation(spec)
    raise TypeError(
        "augmentation must be None, a dict of ImageDataGenerator-style settings, or an "
        "object with a .flow(X, y, batch_size=, shuffle=, seed=) method; "
        f"got {type(spec).__name__}."
    )


# -- fitted deterministic preprocessing ---------------------------------------------


class Preprocessing:
    """Deterministic preprocessing of the dict form, as fitted on one member's rows.

    Applied in ``ImageDataGenerator.standardize``'s order. With no settings
    it returns its input unchanged.

    Attributes
    ----------
    settings : dict
        The deterministic settings (``rescale``, ``samplewise_*``, ...) in use at fit.
    mean, std : ndarray or None
        Per-channel featurewise statistics of the member's training rows.
    """

    def __init__(self, settings: dict | None = None, mean=None, std=None):
        self.settings = settings or {}
        self.mean, self.std = mean, std

    def transform(self, X) -> np.ndarray:
        s = self.settings
        if s.get("preprocessing_function") is not None:
            # A copy per image: user functions (such as Keras's preprocess_input)
            # may work in place, and X may be the caller's array.
            function = s["preprocessing_function"]
            X = np.stack([np.asarray(function(np.array(x, dtype=np.float32))) for x in X])
        X = np.asarray(X, dtype=np.float32)
        if s.get("rescale"):
            X = X * np.float32(s["rescale"])
        image_axes = tuple(range(1, X.ndim))
        if s.get("samplewise_center"):
            X = X - X.mean(axis=image_axes, keepdims=True)
        if s.get("samplewise_std_normalization"):
            X = X / (X.std(axis=image_axes, keepdims=True) + _STD_EPSILON)
        if self.mean is not None:
            X = X - self.mean
        if self.std is not None:
            X = X / (self.std + _STD_EPSILON)
        return X


class GeneratorPreprocessing:
    """A member's own copy of a generator object, fitted on its training rows.

    Attributes
    ----------
    generator : object
        The fitted copy; its ``standardize`` (if any) is the preprocessing.
    fitted_attributes : dict
        The attributes its ``fit`` set (such as ``mean`` and ``std``).
    """

    def __init__(self, generator: Any, fitted_attributes: dict):
        self.generator, self.fitted_attributes = generator, fitted_attributes

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if not callable(getattr(self.generator, "standardize", None)):
            return X
        # standardize works in place, on one image at a time (as flow calls it).
        return np.stack([self.generator.standardize(np.array(x, dtype=np.float32)) for x in X])


# -- the three forms -----------------------------------------------------------------


class NoAugmentation:
    """``augmentation=None``: inputs pass through unchanged."""

    has_random_transforms = False

    def check_input(self, X) -> None:
        pass

    def fit(self, X) -> Preprocessing:
        return Preprocessing()

    def training_data(self, X, y, sample_weight, *, batch_size, seed, preprocessing) -> dict:
        return fit_inputs(
            X, y, sample_weight, prepare=_prepare_with(preprocessing), random=False,
            batch_size=batch_size, seed=seed,
        )  # fmt: skip


class ImageAugmentation:
    """``ImageDataGenerator``-style settings applied with vectorised NumPy.

    Random transforms are drawn per image: a rotation, shift, shear, zoom and
    flips combined into one affine map sampled bilinearly, then a channel
    shift and a brightness factor.
    """

    def __init__(self, settings: dict):
        self.settings = s = _validated_settings(settings)
        self.moves_pixels = bool(
            s["rotation_range"]
            or s["width_shift_range"]
            or s["height_shift_range"]
            or s["shear_range"]
            or s["zoom_range"] != (1.0, 1.0)
            or s["horizontal_flip"]
            or s["vertical_flip"]
        )
        self.has_random_transforms = bool(
            self.moves_pixels or s["channel_shift_range"] or s["brightness_range"]
        )

    def check_input(self, X) -> None:
        if self.has_random_transforms and np.ndim(X) != 4:
            used = [name for name in RANDOM_SETTINGS if self.settings[name] != _DEFAULTS[name]]
            raise ValueError(
                f"augmentation settings {used} transform images, so X must have shape "
                f"(n_samples, height, width, channels); got shape {np.shape(X)}."
            )

    def fit(self, X) -> Preprocessing:
        settings = {name: self.settings[name] for name in DETERMINISTIC_SETTINGS}
        featurewise = {name: settings.pop(name) for name in DETERMINISTIC_SETTINGS[-2:]}
        if not any(featurewise.values()):
            return Preprocessing(settings)
        mean, std = _channel_statistics(X, Preprocessing(settings).transform)
        return Preprocessing(
            settings,
            mean if featurewise["featurewise_center"] else None,
            std if featurewise["featurewise_std_normalization"] else None,
        )

    def training_data(self, X, y, sample_weight, *, batch_size, seed, preprocessing) -> dict:
        if not self.has_random_transforms:
            prepare = _prepare_with(preprocessing)
        else:

            def prepare(x, rng):
                draws = rng.random((len(x), len(_DRAWS)))
                return preprocessing.transform(self.random_transform(x, draws))

        return fit_inputs(
            X, y, sample_weight, prepare=prepare, random=self.has_random_transforms,
            batch_size=batch_size, seed=seed,
        )  # fmt: skip

    def augment(self, X, preprocessing, seed: int) -> np.ndarray:
        # Draws seeded by each image's content, not its position: an image gets
        # the same TTA transforms whichever rows are predicted with it.
        return preprocessing.transform(self.random_transform(X, _content_draws(X, seed)))

    def random_transform(self, X, draws: np.ndarray) -> np.ndarray:
        """Apply one random transform per image, from its row of ``draws`` in [0, 1)."""
        X = np.asarray(X, dtype=np.float32)
        if not self.has_random_transforms:
            return X
        s = self.settings
        draws = dict(zip(_DRAWS, draws.T))
        if self.moves_pixels:
            maps, shifts = affine_maps(s, draws, X.shape[1:3])
            warped = np.empty_like(X)
            rows_per_chunk = max(1, _WARP_PIXELS // (X.shape[1] * X.shape[2]))
            for rows in chunks(len(X), rows_per_chunk):
                warped[rows] = affine_warp(
                    X[rows], maps[rows], shifts[rows], s["fill_mode"], s["cval"]
                )
            X = warped
        if s["channel_shift_range"]:
            limit = s["channel_shift_range"]
            shift = between(draws["channel_shift"], -limit, limit)
            # Clipped to the image's own range, as ImageDataGenerator does.
            low = X.min(axis=(1, 2, 3), keepdims=True)
            high = X.max(axis=(1, 2, 3), keepdims=True)
            X = np.clip(X + shift[:, None, None, None].astype(np.float32), low, high)
        if s["brightness_range"] is not None:
            factor = between(draws["brightness"], *s["brightness_range"])
            X = X * factor[:, None, None, None].astype(np.float32)
        return X


class GeneratorAugmentation:
    """A user's ``ImageDataGenerator``-style object.

    Each member trains on its own deep copy, fitted on its training rows when
    the object has a ``fit`` method (featurewise statistics); the user's
    object is never changed. ``standardize`` (if present, applied per image
    as ``ImageDataGenerator.flow`` does) is the deterministic preprocessing.
    ``flow`` gives the training batches (also called with
    ``sample_weight=`` when there are weights). For TTA, objects with
    ``random_transform(x, seed=)`` transform each image from a seed of its
    content; other objects' passes come from ``flow(X, shuffle=False)``.
    """

    has_random_transforms = True

    def __init__(self, generator: Any):
        self.generator = generator

    def check_input(self, X) -> None:
        if not in_memory(X):
            raise ValueError(
                f"augmentation={type(self.generator).__name__}(...) flows in-memory arrays; "
                "for image files use a dict of augmentation settings."
            )

    def fit(self, X) -> GeneratorPreprocessing:
        generator = copy.deepcopy(self.generator)
        if not callable(getattr(generator, "fit", None)):
            return GeneratorPreprocessing(generator, {})
        before = dict(vars(generator))
        with kept_global_state(python=False):
            generator.fit(X)
        fitted = {
            name: value
            for name, value in vars(generator).items()
            if name not in before or before[name] is not value
        }
        return GeneratorPreprocessing(generator, fitted)

    def training_data(self, X, y, sample_weight, *, batch_size, seed, preprocessing) -> dict:
        arguments = {"batch_size": batch_size or 32, "shuffle": True, "seed": seed}
        if sample_weight is not None:
            arguments["sample_weight"] = sample_weight
        flow = preprocessing.generator.flow(X, y, **arguments)
        if not (hasattr(flow, "__len__") and hasattr(flow, "__getitem__")):
            raise TypeError(
                f"{type(self.generator).__name__}.flow() must return a sequence of batches "
                "(with __len__ and __getitem__), such as a keras PyDataset."
            )
        if not isinstance(flow, keras.utils.PyDataset):
            flow = SequenceBatches(flow)
        return {"x": flow, "shuffle": False}

    def augment(self, X, preprocessing, seed: int) -> np.ndarray:
        if not isinstance(preprocessing, GeneratorPreprocessing):
            raise ValueError(
                "TTA with a generator object needs members fitted with a generator object "
                "(its fitted statistics and standardize); refit, or use a dict augmentation."
            )
        # The current object (read at predict time) carrying the member's fitted statistics.
        generator = copy.deepcopy(self.generator)
        for name, value in preprocessing.fitted_attributes.items():
            setattr(generator, name, value)
        X = np.asarray(X, dtype=np.float32)
        # Legacy generators seed NumPy's global generator; leave the caller's as found.
        with kept_global_state(python=False):
            if callable(getattr(generator, "random_transform", None)):
                seeds = (_content_draws(X, seed)[:, 0] * 2**31).astype(np.int64)
                transformed = np.stack(
                    [
                        generator.random_transform(np.array(x), seed=int(image_seed))
                        for x, image_seed in zip(X, seeds)
                    ]
                )
                return preprocessing.transform(transformed)
            flow = generator.flow(X, batch_size=256, shuffle=False, seed=seed)
            batches = [_inputs_of(flow[i]) for i in range(len(flow))]
        return np.concatenate(batches).astype(np.float32, copy=False)


def _inputs_of(batch):
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _channel_statistics(X, transform):
    """Per-channel mean and standard deviation of ``transform(X)``, a chunk of rows at a time.

    Over rows and pixels, as ``ImageDataGenerator.fit``; two passes (mean,
    then squared deviations) so that rows read from files never need to be
    held in memory together.
    """
    chunk_rows = max(1, _WARP_PIXELS // max(1, int(np.prod(X.shape[1:-1]))))
    total, count = 0.0, 0
    for rows in chunks(len(X), chunk_rows):
        x = transform(X[rows])
        total = total + x.reshape(-1, x.shape[-1]).sum(axis=0, dtype=np.float64)
        count += x[..., 0].size
    mean = (total / count).astype(np.float32)
    squares = 0.0
    for rows in chunks(len(X), chunk_rows):
        deviations = transform(X[rows]).reshape(-1, X.shape[-1]) - mean
        squares = squares + np.einsum("ij,ij->j", deviations, deviations, dtype=np.float64)
    return mean, np.sqrt(squares / count).astype(np.float32)


def _prepare_with(preprocessing):
    """A batch-preparing function that applies the deterministic preprocessing only."""
    return lambda x, rng: preprocessing.transform(x)


def _content_draws(X: np.ndarray, seed: int) -> np.ndarray:
    """Each image's random draws in [0, 1), from a hash of its bytes keyed by the pass's seed."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    key = int(seed).to_bytes(8, "little")
    digests = b"".join(hashlib.blake2b(x.tobytes(), digest_size=64, key=key).digest() for x in X)
    words = np.frombuffer(digests, dtype="<u4").reshape(len(X), 16)[:, : len(_DRAWS)]
    return words / 2.0**32


# -- settings ------------------------------------------------------------------


def _validated_settings(settings: dict) -> dict:
    """Check a settings dict and fill in the defaults (zoom as a (low, high) pair)."""
    for name in settings:
        if name in _UNSUPPORTED:
            raise ValueError(
                f"augmentation setting {name!r} is not supported: {_UNSUPPORTED[name]}."
            )
        if name not in _DEFAULTS:
            raise ValueError(
                f"Unknown augmentation setting {name!r}; supported settings are "
                f"{', '.join(SUPPORTED_SETTINGS)}."
            )
    s = {**_DEFAULTS, **settings}
    for name in (
        "rotation_range",
        "width_shift_range",
        "height_shift_range",
        "shear_range",
        "channel_shift_range",
        "cval",
    ):
        if not isinstance(s[name], Real) or isinstance(s[name], bool):
            raise ValueError(f"augmentation setting {name!r} must be a number; got {s[name]!r}.")
        if name != "cval" and s[name] < 0:
            raise ValueError(f"augmentation setting {name!r} must be >= 0; got {s[name]!r}.")
    for name in (
        "horizontal_flip",
        "vertical_flip",
        "samplewise_center",
        "samplewise_std_normalization",
        "featurewise_center",
        "featurewise_std_normalization",
    ):
        if not isinstance(s[name], (bool, np.bool_)):
            raise ValueError(
                f"augmentation setting {name!r} must be True or False; got {s[name]!r}."
            )
    s["zoom_range"] = _range_pair("zoom_range", s["zoom_range"], around=1.0)
    if s["brightness_range"] is not None:
        s["brightness_range"] = _range_pair("brightness_range", s["brightness_range"], around=None)
    if s["rescale"] is not None and not isinstance(s["rescale"], Real):
        raise ValueError(f"augmentation setting 'rescale' must be a number; got {s['rescale']!r}.")
    if s["preprocessing_function"] is not None and not callable(s["preprocessing_function"]):
        raise ValueError("augmentation setting 'preprocessing_function' must be callable.")
    if s["fill_mode"] not in FILL_MODES:
        raise ValueError(
            f"augmentation setting 'fill_mode' must be one of {FILL_MODES}; got {s['fill_mode']!r}."
        )
    return s


def _range_pair(name, value, around):
    if isinstance(value, Real) and not isinstance(value, bool) and around is not None:
        if not 0 <= value < around:
            raise ValueError(
                f"augmentation setting {name!r} as a number z gives ({around} - z, {around} + z), "
                f"so it must be in [0, {around}); got {value!r}."
            )
        return (around - float(value), around + float(value))
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in value)
        and 0 < value[0] <= value[1]
    ):
        return (float(value[0]), float(value[1]))
    raise ValueError(
        f"augmentation setting {name!r} must be a pair (low, high) with 0 < low <= high"
        + (" or a number z for (1 - z, 1 + z)" if around is not None else "")
        + f"; got {value!r}."
    )
