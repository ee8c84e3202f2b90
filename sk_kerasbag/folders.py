"""Image files as estimator input: listing folders, and reading images only when needed.

Nothing here ever writes to, moves or deletes anything in the user's folders:
splits are made on indices into a list of paths, and images are only read.
"""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "ImageFiles", "list_images", "read_image"]

IMAGE_EXTENSIONS = frozenset(
    {".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}
)
# Pillow mode and channel count of each colour mode.
COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}


def list_images(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Every image file below ``folder``, with the class each one is in.

    Parameters
    ----------
    folder : str or path-like
        A folder; for training, with one sub-folder per class.

    Returns
    -------
    paths : ndarray of str (object dtype)
        Image files (by extension, case-insensitive: ``IMAGE_EXTENSIONS``) at
        any depth below ``folder``, in sorted order of their path components.
        Hidden files and folders (names starting with ".") are skipped. So
        is anything named like an image that is not a regular file or a link
        to one (a broken link, a FIFO, a device or a link to a folder named
        ``x.png``), with a warning that counts them. This is the row order
        of fitting on, or predicting, ``folder``.
    labels : ndarray of object
        For each path, the name of the sub-folder of ``folder`` it is in (its
        class); None for images directly in ``folder``.

    Raises
    ------
    ValueError
        If ``folder`` is not a folder.

    Warns
    -----
    UserWarning
        Once per listing, when files named like images are skipped because
        they are not regular files, naming the first few.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{os.fspath(folder)!r} is not a folder.")
    found, skipped = [], []
    # Links to folders are not followed (a link back up would list images forever).
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        relative = Path(directory).relative_to(root).parts
        # os.walk lists a link to a folder with the folders: one named x.png is no image either.
        links = [name for name in subdirectories if os.path.islink(os.path.join(directory, name))]
        named_like_images = [
            name
            for name in files + links
            if not name.startswith(".")
            and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        ]
        for name in named_like_images:
            what = _not_a_file(os.path.join(directory, name))
            if what is None:
                found.append((*relative, name))
            else:
                skipped.append(((*relative, name), what))
    if skipped:
        _warn_skipped(folder, [(os.path.join(root, *p), what) for p, what in sorted(skipped)])
    found.sort()
    paths = np.array([os.path.join(root, *parts) for parts in found], dtype=object)
    labels = np.array([parts[0] if len(parts) > 1 else None for parts in found], dtype=object)
    return paths, labels


# Skipped files a warning names; it counts them all.
_NAMED_SKIPPED = 3


def _not_a_file(path: str) -> str | None:
    """What ``path`` is, when it is neither a regular file nor a link to one; else None.

    Only regular files are images: opening a FIFO would block forever, and
    reading a device (a link to /dev/zero) would never end.
    """
    link = os.path.islink(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:  # a link to nothing (or to itself)
        return "a broken link" if link else f"not examinable: {error.strerror}"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        kind = "a folder"
    elif stat.S_ISFIFO(mode):
        kind = "a FIFO"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "not a regular file"
    return f"a link to {kind}" if link else kind


def _warn_skipped(folder, skipped: list[tuple[str, str]]) -> None:
    """One warning for a listing's skipped files (a user's data would shrink without a word)."""
    n = len(skipped)
    named = ", ".join(f"{path!r} ({what})" for path, what in skipped[:_NAMED_SKIPPED])
    more = f" and {n - _NAMED_SKIPPED} more" if n > _NAMED_SKIPPED else ""
    files = "1 file named like an image" if n == 1 else f"{n} files named like images"
    verb = "is not a regular file and is" if n == 1 else "are not regular files and are"
    # Imported here: _fixes imports Keras, which listing images does without.
    from ._fixes import warn_at_caller

    # Pointed at the user's line, whether list_images was called there or by fit.
    warn_at_caller(f"{files} in {os.fspath(folder)!r} {verb} skipped: {named}{more}.")


def class_folder_images(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``list_images(folder)`` for training: every image must be in a non-empty class sub-folder."""
    paths, labels = list_images(folder)
    if not len(paths):
        raise ValueError(
            f"No images found below {os.fspath(folder)!r} (looked for files ending in "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))})."
        )
    unlabelled = [path for path, label in zip(paths, labels) if label is None]
    if unlabelled:
        raise ValueError(
            f"{unlabelled[0]!r} is directly in {os.fspath(folder)!r}, not in a class "
            "sub-folder; put each image in a sub-folder named after its class."
        )
    classes = {
        entry.name
        for entry in os.scandir(folder)
        if entry.is_dir() and not entry.name.startswith(".")
    }
    empty = sorted(classes - set(labels))
    if empty:
        path = os.path.join(os.fspath(folder), empty[0])
        if os.path.islink(path):
            raise ValueError(
                f"Class folder {path!r} is a symbolic link, and links to folders are not "
                "followed (one pointing back up would list images forever); copy or move "
                "the folder there instead."
            )
        raise ValueError(f"Class folder {path!r} has no images.")
    return paths, labels.astype(str)


def read_image(path: str, image_size: tuple[int, int], color_mode: str = "rgb") -> np.ndarray:
    """One image as float32 ``(height, width, channels)`` with values 0-255, resized bilinearly.

    Raises
    ------
    ValueError
        Naming the file, if it cannot be read as an image.
    """
    return _decode(path, image_size, color_mode).astype(np.float32)


def _regular_file(path: str) -> str:
    # Pillow would block for ever opening a FIFO, and read a device without end.
    if not os.path.isfile(path):
        what = "does not exist" if not os.path.lexists(path) else "is not a regular file"
        raise ValueError(f"Cannot read image file {path!r}: it {what}.")
    return path


def _check_depth(image: Image.Image) -> None:
    # Read from the header: a 32-bit image is refused before training, by check_readable.
    if image.mode in ("I", "F"):
        raise ValueError(
            f"it has 32-bit {image.mode!r} pixels; convert it to 8 or 16 bits per channel"
        )


def _decode(path: str, image_size: tuple[int, int], color_mode: str) -> np.ndarray:
    """One image as its 8-bit ``(height, width, channels)`` pixels."""
    mode, _ = COLOR_MODES[color_mode]
    height, width = image_size
    path = _regular_file(str(path))
    try:
        with Image.open(path) as image:
            # Lets JPEG decode straight to a smaller scale when the target is much smaller.
            image.draft(mode, (width, height))
            if image.mode.startswith("I;16"):
                # Pillow's convert() would clip 16-bit values at 255: scale them instead.
                image = Image.fromarray((np.asarray(image) // 257).astype(np.uint8), "L")
            _check_depth(image)
            if image.mode != mode:
                image = image.convert(mode)
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"Cannot read image file {path!r}: {error}") from error
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


class _InlinePool:
    """``map`` in the calling thread, for ``workers=1``."""

    @staticmethod
    def map(function, items):
        return map(function, items)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _shared_pool(workers: int):
    """One reading pool per thread count for the whole process.

    Pools are shared rather than owned by each ``ImageFiles``: TensorFlow keeps
    a fitted member's training dataset alive, and with it anything it owns.
    """
    if workers == 1:
        return _InlinePool
    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="sk_kerasbag-images")
        return _POOLS[workers]


class ImageFiles:
    """Image files that behave like a float32 image array read on demand.

    ``len(files)``, ``files.shape`` (``(n, height, width, channels)``) and
    ``files.take(indices, axis=0)`` (another ``ImageFiles``) never read a
    file; ``files[rows]`` reads the selected images into an array.

    Parameters
    ----------
    paths : sequence of str
        Image files, one per row.
    image_size : (int, int)
        ``(height, width)`` every image is resized to.
    color_mode : {"grayscale", "rgb", "rgba"}, default="rgb"
        Channels of the array.
    rescale : float or None, default=None
        Factor applied to the pixel values (0-255), such as ``1 / 255``.
    workers : int, default=1
        Threads reading the images of one request in parallel.
    cache_bytes : int, default=0
        Decoded images (8-bit) kept in memory, up to this many bytes, so rows
        read again (the next epoch) are not decoded again. The first rows read
        fill it; ``take`` gives a new, empty cache with the same budget.
    """

    ndim = 4
    dtype = np.dtype(np.float32)

    def __init__(
        self,
        paths: Sequence[str],
        image_size: tuple[int, int],
        color_mode: str = "rgb",
        rescale: float | None = None,
        workers: int = 1,
        cache_bytes: int = 0,
    ):
        # Object dtype: take() then copies pointers, not fixed-width strings.
        self.paths = np.array([os.fspath(path) for path in paths], dtype=object)
        self.image_size = tuple(image_size)
        self.color_mode, self.rescale, self.workers = color_mode, rescale, workers
        self.cache_bytes = cache_bytes
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), *self.image_size, COLOR_MODES[self.color_mode][1])

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, indices, axis: int = 0) -> ImageFiles:
        if axis != 0:
            raise ValueError("ImageFiles can only take rows (axis=0).")
        return ImageFiles(
            self.paths[indices],
            self.image_size,
            self.color_mode,
            self.rescale,
            self.workers,
            self.cache_bytes,
        )

    def __getitem__(self, rows) -> np.ndarray:
        """Read the images at ``rows`` (a slice or an index array) into an array."""
        if isinstance(rows, (int, np.integer)):
            raise TypeError("Index ImageFiles with a slice or an array of row indices.")
        if isinstance(rows, slice):
            rows = range(*rows.indices(len(self.paths)))
        rows = [int(row) for row in rows]
        missing = [row for row in rows if row not in self._cache]
        decoded = dict(
            zip(missing, _shared_pool(self.workers).map(self._decode, self.paths[missing]))
        )
        images = [self._cache[row] if row in self._cache else decoded[row] for row in rows]
        self._remember(decoded)
        if not images:
            return np.empty((0, *self.shape[1:]), np.float32)
        pixels = np.stack(images).astype(np.float32)
        return pixels * np.float32(self.rescale) if self.rescale else pixels

    def _remember(self, decoded: dict[int, np.ndarray]) -> None:
        for row, image in decoded.items():
            if self._cached_bytes + image.nbytes > self.cache_bytes:
                return
            self._cache[row] = image
            self._cached_bytes += image.nbytes

    def __getstate__(self) -> dict:
        # A copy (for a worker process, or a pickle) starts with an empty cache.
        return {**vars(self), "_cache": {}, "_cached_bytes": 0}

    def __array__(self, dtype=None, copy=None):
        # Never read every image by accident (np.asarray would): ask for it explicitly.
        raise TypeError("ImageFiles reads images on demand; use files[:] to read them all.")

    def _decode(self, path: str) -> np.ndarray:
        return _decode(path, self.image_size, self.color_mode)

    def check_readable(self) -> None:
        """Open every file's header, so a file that is no image fails now, by name."""
        for path in self.paths:
            try:
                with Image.open(_regular_file(path)) as image:
                    _check_depth(image)
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                raise ValueError(f"Cannot read image file {path!r}: {error}") from error

    def __repr__(self) -> str:
        return f"ImageFiles({len(self)} files, shape={self.shape})"
