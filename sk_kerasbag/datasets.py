"""The bundled default data: scikit-learn's 8x8 digits as images (no download)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's handwritten digits as images scaled to [0, 1].

    Returns
    -------
    X : ndarray of shape (1797, 8, 8, 1), float32
        Grey-level images, channels last.
    y : ndarray of shape (1797,)
        Digit labels 0-9.
    """
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    return X, digits.target
