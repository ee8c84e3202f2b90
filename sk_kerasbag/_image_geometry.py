"""The geometry of image augmentation, in vectorised NumPy.

Random affine transforms as ``ImageDataGenerator`` draws them (rotation,
shift, shear, zoom, flips), one per image, combined into one map
(:func:`affine_maps`) and resampled bilinearly about the image centre with
its fill modes (:func:`affine_warp`). Identical on every Keras backend and
reproducible from the draws.
"""

from __future__ import annotations

import numpy as np


def affine_maps(s: dict, draws: dict, image_shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the 2x2 map and shift from output to input (row, col) coordinates.

    ``s`` are validated settings, ``draws`` one array of draws in [0, 1) per
    random quantity (``theta``, ``shear``, ``row_zoom``, ...), an item per image.
    """
    height, width = image_shape
    theta = np.deg2rad(between(draws["theta"], -s["rotation_range"], s["rotation_range"]))
    shear = np.deg2rad(between(draws["shear"], -s["shear_range"], s["shear_range"]))
    row_zoom = between(draws["row_zoom"], *s["zoom_range"])
    col_zoom = between(draws["col_zoom"], *s["zoom_range"])
    row_sign = np.where(s["vertical_flip"] & (draws["vflip"] < 0.5), -1.0, 1.0)
    col_sign = np.where(s["horizontal_flip"] & (draws["hflip"] < 0.5), -1.0, 1.0)
    cos, sin = np.cos(theta), np.sin(theta)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    # A horizontal shear (columns slide with the row), ImageDataGenerator's.
    shearing = np.zeros_like(rotation)
    shearing[:, 0, 0], shearing[:, 1, 0], shearing[:, 1, 1] = np.cos(shear), -np.sin(shear), 1.0
    scaling = np.zeros_like(rotation)
    scaling[:, 0, 0], scaling[:, 1, 1] = row_zoom * row_sign, col_zoom * col_sign
    maps = rotation @ shearing @ scaling
    row_range = _pixels(s["height_shift_range"], height)
    col_range = _pixels(s["width_shift_range"], width)
    shifts = np.stack(
        [
            between(draws["row_shift"], -row_range, row_range),
            between(draws["col_shift"], -col_range, col_range),
        ],
        axis=-1,
    )
    return maps, shifts


def between(u: np.ndarray, low: float, high: float) -> np.ndarray:
    return low + u * (high - low)


def _pixels(shift_range: float, size: int) -> float:
    """A shift range as pixels: below 1 it is a fraction of the size, as in ImageDataGenerator."""
    return shift_range * size if shift_range < 1 else float(shift_range)


def affine_warp(X, maps, shifts, fill_mode: str, cval: float) -> np.ndarray:
    """Resample each image through its map, bilinearly, about the image centre.

    Output pixel ``p`` of image ``n`` reads input position
    ``maps[n] @ (p - centre) + centre + shifts[n]``.
    """
    n, height, width, channels = X.shape
    centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
    grid = np.stack(np.meshgrid(np.arange(height), np.arange(width), indexing="ij"), -1)
    grid = grid.reshape(-1, 2) - centre
    source = np.einsum("nij,pj->npi", maps, grid) + centre + shifts[:, None, :]
    rows, cols = source[..., 0], source[..., 1]
    row0, col0 = np.floor(rows), np.floor(cols)
    row_frac = (rows - row0)[..., None].astype(np.float32)
    col_frac = (cols - col0)[..., None].astype(np.float32)
    row0, col0 = row0.astype(np.int64), col0.astype(np.int64)
    images = np.arange(n)[:, None]

    def corner(r, c):
        r_in, r_ok = _fill_index(r, height, fill_mode)
        c_in, c_ok = _fill_index(c, width, fill_mode)
        values = X[images, r_in, c_in]
        if fill_mode == "constant":
            values = np.where((r_ok & c_ok)[..., None], values, np.float32(cval))
        return values

    top = corner(row0, col0) * (1 - col_frac) + corner(row0, col0 + 1) * col_frac
    bottom = corner(row0 + 1, col0) * (1 - col_frac) + corner(row0 + 1, col0 + 1) * col_frac
    out = top * (1 - row_frac) + bottom * row_frac
    return out.reshape(n, height, width, channels).astype(np.float32, copy=False)


def _fill_index(index: np.ndarray, size: int, fill_mode: str):
    """Map indices outside ``[0, size)`` back inside, per fill mode; also say which were inside."""
    inside = (index >= 0) & (index < size)
    if fill_mode == "reflect":  # d c b a | a b c d | d c b a
        index = np.mod(index, 2 * size)
        index = np.where(index >= size, 2 * size - 1 - index, index)
    elif fill_mode == "wrap":
        index = np.mod(index, size)
    else:
        index = np.clip(index, 0, size - 1)
    return index, inside
