"""Writing files that are never seen half-written, and reading Keras models back safely.

Every file sk_kerasbag writes (run artifacts, checkpoints, saved estimators)
goes through :func:`atomic_path`: it is written under a temporary name in the
same folder, flushed to disk and renamed over its final name. A process
killed mid-write leaves at most a stray temporary file, never a truncated
file under a name that readers trust.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ._fixes import safe_deserialization
from ._keras import keras

TEMPORARY_PREFIX = ".tmp-"


def inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies below it, links resolved.

    The guard that keeps sk_kerasbag's own writes (a ``save_dir``, an
    experiment's outputs) out of the user's data folders.
    """
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; finished files get the
# permissions any other new file would.
_FILE_MODE = 0o666 & ~_current_umask()
_FOLDER_MODE = 0o777 & ~_current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename.

    The temporary name keeps ``path``'s suffix, because Keras decides the
    file format from it.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        prefix=TEMPORARY_PREFIX + path.name + ".", suffix=path.suffix, dir=path.parent
    )
    os.close(descriptor)
    temporary = Path(temporary)
    try:
        yield temporary
        _fsync(temporary)
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def staging_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield a new folder beside ``folder`` to fill; on success it becomes ``folder`` in one rename.

    The rename succeeds only while ``folder`` does not exist or is empty, so
    of several processes saving to one place at once exactly one succeeds and
    the folder holds that one's files only; the others get a
    ``FileExistsError`` and leave nothing behind.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY_PREFIX}{folder.name}.", dir=folder.parent))
    try:
        yield staging
        os.chmod(staging, _FOLDER_MODE)  # mkdtemp's folder is its owner's only
        try:
            os.rename(staging, folder)
        except OSError as error:
            if error.errno in (errno.EBUSY, errno.EINVAL):
                raise OSError(
                    error.errno,
                    f"Cannot save to {folder}: it is in use as a mount point or the "
                    "working folder; save to a new folder below it",
                ) from None
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
            raise FileExistsError(
                f"Cannot save to {folder}: it exists and is not an empty folder "
                "(another process may have saved there first)."
            ) from None
        _fsync_folder(folder.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def exclusive(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed); fail at once if another process does.

    The operating system drops the lock when its process dies, even by
    SIGKILL. The file is removed when the lock is let go, so finished runs
    hold no lock files. Without ``fcntl`` (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    while True:
        handle = open(path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RuntimeError(
                f"{what} is in use by another process (another fit, or a worker of a fit "
                "that was killed and is still finishing); wait for it or stop it."
            ) from None
        # The holder we waited for may have removed the file just before letting
        # go: a lock on a removed file locks nothing, so lock the file now there.
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
                break
        handle.close()
    try:
        yield
    finally:
        try:
            # Removed while still held, so no one can lock this file after us.
            Path(path).unlink(missing_ok=True)
        finally:  # a file that cannot be removed must not keep the lock held
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(path: Path) -> None:
    # Makes a rename in ``path`` durable; folders cannot be opened on Windows.
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as indented JSON, atomically."""
    write_bytes(path, (json.dumps(value, indent=2, allow_nan=True) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}).") from None


def write_csv(path: str | os.PathLike, columns: dict[str, list]) -> None:
    """Write equal-length ``columns`` as CSV, atomically; floats keep every digit."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    write_bytes(path, text.getvalue().encode())


def read_csv_floats(path: str | os.PathLike) -> dict[str, list[float]]:
    """Read a CSV of numbers written by :func:`write_csv` back into columns."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"{path} is empty.")
    header, body = rows[0], rows[1:]
    return {name: [float(row[i]) for row in body] for i, name in enumerate(header)}


def write_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` as an uncompressed ``.npz`` atomically (no object arrays)."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load an ``.npz`` without pickle, so a crafted file cannot run code."""
    with np.load(path, allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Save ``model`` in the ``.keras`` format, atomically."""
    with atomic_path(path) as temporary:
        model.save(temporary)


def load_model(
    path: str | os.PathLike, *, custom_objects: dict | None = None, safe_mode: bool = True
) -> keras.Model:
    """Load a ``.keras`` file to predict with (not compiled), by default in Keras's safe mode.

    ``safe_mode=True`` is safe even after ``keras.config.enable_unsafe_deserialization()``.
    """
    scope = safe_deserialization() if safe_mode else contextlib.nullcontext()
    with scope:
        return keras.saving.load_model(
            path, custom_objects=custom_objects, compile=False, safe_mode=safe_mode
        )


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What sha256() writes: 64 lower-case hexadecimal digits.
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_plain_file(path: Path, what: str) -> None:
    """Raise ValueError unless ``path`` is a plain file of its folder, saying what it is instead.

    Only plain files are read: a symbolic link could make a reader open a
    file anywhere (its hash recorded beside it proves nothing of where it
    points), and reading a FIFO would never end.
    """
    try:
        mode = path.lstat().st_mode  # lstat: the entry itself, not where a link points
    except FileNotFoundError:
        raise ValueError(f"{what} is incomplete: {path} is missing.") from None
    if stat.S_ISLNK(mode):
        raise ValueError(
            f"{path} is a symbolic link, not a file of the folder; only plain files are "
            "read, since a link could point anywhere."
        )
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a folder, not a file.")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a plain file (it is a FIFO, socket or device).")


def check_hashes(
    folder: Path,
    expected: Any,
    what: str,
    record: Path | None = None,
    files: list[str] | None = None,
) -> None:
    """Raise ValueError when the table of hashes or a file it lists is not as written.

    Refused, each with a message naming the file and its problem: a table
    that is absent or not a table of file names and SHA-256 digests; a name
    outside ``folder``; with ``files``, a file of them without a hash or a
    hash of another file; a listed file that is missing, a link, a folder or
    not a plain file, or that differs from its recorded hash. The hashes
    catch damage (a truncated copy, a changed byte), not a deliberate edit:
    whoever can edit the files can edit their hashes too.

    Parameters
    ----------
    folder : Path
        The folder the files are in.
    expected : object
        The table as read from ``record``: ``{file name: hex SHA-256}``.
    what : str
        What the files make up, such as ``"The saved estimator models/bag"``.
    record : Path, optional
        The file that holds the table, named in errors about the table
        (``what`` is, without it).
    files : list of str, optional
        The names the table must cover, no more and no fewer.
    """
    holder = record or what
    table = f"{holder}'s SHA-256 table ('sha256')"
    if expected is None:
        raise ValueError(
            f"{holder} has no SHA-256 table ('sha256'), so its files cannot be checked."
        )
    if not isinstance(expected, dict):
        raise ValueError(
            f"{table} is a {type(expected).__name__}, not a table of file names and their SHA-256."
        )
    for name, digest in expected.items():
        if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
            raise ValueError(
                f"{holder} names the file {name!r}, which is not a file name in {folder}; "
                "files outside the folder are never read."
            )
        if not (isinstance(digest, str) and _SHA256_HEX.fullmatch(digest)):
            raise ValueError(
                f"{table} gives {digest!r} for {name}, which is not a SHA-256 "
                "(64 lower-case hexadecimal digits)."
            )
    if files is not None:
        unchecked = [name for name in files if name not in expected]
        if unchecked:
            raise ValueError(f"{table} has no SHA-256 for {', '.join(unchecked)}.")
        foreign = [name for name in expected if name not in files]
        if foreign:
            raise ValueError(
                f"{table} lists {', '.join(foreign)}, beyond the files it must cover "
                f"({', '.join(files)})."
            )
    for name, digest in expected.items():
        path = folder / name
        check_plain_file(path, what)
        if sha256(path) != digest:
            raise ValueError(
                f"{what} was modified: {path} does not match the SHA-256 recorded when "
                "it was written."
            )
