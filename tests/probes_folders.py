"""Hostile entries in an image folder: which are refused, warned about, or pass in silence.

Run it by hand (it is no test module, and needs no Keras)::

    .venv/bin/python tests/probes_folders.py

Each probe puts one entry (a broken link, a FIFO, a truncated PNG, ...) into
a class folder of a fresh two-class folder, then does to that folder what
``fit`` does before and while training, with the functions it uses: list it
(``class_folder_images``), check every image's header
(``ImageFiles.check_readable``) and read every image (``ImageFiles[:]``),
under an alarm, so that an entry that blocks shows as "hung" instead of
hanging the script. Each probe's outcome is one of

- refused: an error that names the entry (printed; "NOT NAMING IT" if it does not),
- warned: skipped with a warning that names it,
- silent: skipped or read without a word; right for a valid image and for
  what is skipped by design (hidden files, other extensions, a real folder),
- hung: the alarm went off.

One line per probe, with what was expected, then a count of each outcome.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from sk_kerasbag.folders import ImageFiles, class_folder_images

SECONDS = 10  # far more than any entry here takes, unless it blocks
VALID = "silent (a valid image)"
BY_DESIGN = "silent (skipped by design)"


def _png(path: Path, size=(8, 8), mode="L") -> None:
    Image.fromarray(np.full((size[1], size[0]), 128, np.uint8)).convert(mode).save(path, "PNG")


def _huge_png_header(path: Path) -> None:
    """A PNG that claims 100000 x 100000 pixels: its header alone, and no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def _truncated_png(path: Path) -> None:
    """A PNG whose header is whole but whose pixel data is cut short."""
    noise = np.random.RandomState(0).randint(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(path, "PNG")
    path.write_bytes(path.read_bytes()[:200])


def _unreadable(path: Path) -> None:
    _png(path)
    path.chmod(0)


def _socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))  # left bound: the file stays a socket while the probe runs
    _SOCKETS.append(server)


_SOCKETS: list[socket.socket] = []


def _link_to(target: str | Path):
    return lambda path: os.symlink(target, path)


def _locked_folder(path: Path) -> None:
    path.parent.mkdir()
    _png(path)
    path.parent.chmod(0)


def _permissions_stop_reading() -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, "locked")
        path.write_bytes(b"")
        path.chmod(0)
        try:
            path.read_bytes()
        except PermissionError:
            return True
        return False


def _float_tiff(path: Path) -> None:
    Image.fromarray(np.zeros((8, 8), np.float32)).save(path, "TIFF")


LOCKED = _permissions_stop_reading()

# (name, how to make it in the class folder, expected outcome)
PROBES = [
    ("valid.png", _png, VALID),
    ("upper.PNG", _png, VALID),
    ("weird name\n\t é'\".png", _png, VALID),
    (os.fsdecode(b"not-utf8-\xff.png"), _png, VALID),
    ("x" * 200 + ".png", _png, VALID),
    ("jpeg-inside.png", lambda p: Image.new("RGB", (8, 8)).save(p, "JPEG"), VALID),
    ("link-to-valid.png", _link_to("valid-target.png"), VALID),
    ("broken-link.png", _link_to("nowhere.png"), "warned"),
    ("link-loop.png", _link_to("link-loop.png"), "warned"),
    ("dev-zero.png", _link_to("/dev/zero"), "warned"),
    ("fifo.png", os.mkfifo, "warned"),
    ("link-to-fifo.png", _link_to("fifo-target"), "warned"),
    ("socket.png", _socket, "warned"),
    ("link-to-folder.png", _link_to(".."), "warned"),
    ("folder.png", os.mkdir, BY_DESIGN),
    (".hidden-fifo.png", os.mkfifo, BY_DESIGN),
    ("fifo.txt", os.mkfifo, BY_DESIGN),
    ("trailing-space.png ", _png, BY_DESIGN),
    ("empty.png", lambda p: p.write_bytes(b""), "refused"),
    ("text.png", lambda p: p.write_text("not an image"), "refused"),
    ("truncated.png", _truncated_png, "refused"),
    ("huge-header.png", _huge_png_header, "refused"),
    ("float32.tif", _float_tiff, "refused"),
    # Root (with CAP_DAC_OVERRIDE) reads these anyway: then they are valid images.
    ("unreadable.png", _unreadable, "refused" if LOCKED else VALID),
    # The entry is the image in a sub-folder that cannot be listed (os.walk skips it).
    ("locked-folder/inside.png", _locked_folder, "warned" if LOCKED else VALID),
]


def _prepare(root: Path, name: str, make) -> Path:
    for label in ("cls_a", "cls_b"):
        (root / label).mkdir(parents=True)
        _png(root / label / "good.png")
    _png(root / "cls_a" / "valid-target.png")  # what the link to a valid image points to
    os.mkfifo(root / "cls_a" / "fifo-target")  # no image extension: never listed itself
    entry = root / "cls_a" / name
    make(entry)
    return entry


class Hung(BaseException):
    """The alarm; not an OSError (as TimeoutError is), which reading turns into a refusal."""


def _hung(signum, frame):
    raise Hung


def probe(root: Path, name: str, make) -> tuple[str, str]:
    """The outcome of one entry, and what was said about it."""
    entry = os.fspath(_prepare(root, name, make))
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(SECONDS)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                paths, _ = class_folder_images(root)
                files = ImageFiles(paths, (8, 8), "grayscale")
                files.check_readable()
                files[:]
            except Hung:
                return "hung", f"no answer in {SECONDS} s"
            except Exception as error:  # noqa: BLE001 - any error is an outcome here
                said = f"{type(error).__name__}: {error}"
                return ("refused" if entry in str(error) else "refused, NOT NAMING IT"), said
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    for warning in caught:
        if repr(entry) in str(warning.message):
            return "warned", str(warning.message)
    if entry in list(paths):
        return VALID, "listed and read"
    return BY_DESIGN, "not listed"


def main() -> int:
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="probes-") as scratch:
        for k, (name, make, expected) in enumerate(PROBES):
            outcome, said = probe(Path(scratch, f"p{k:02d}"), name, make)
            outcomes.append(outcome)
            mark = "ok " if outcome == expected else "UNEXPECTED"
            said = said.replace("\n", "\\n")
            print(f"{mark} {name!r:32.32} {outcome:26} expected {expected:26} | {said[:160]}")
    for server in _SOCKETS:
        server.close()
    counts = {
        kind: sum(o.split(" ")[0].rstrip(",") == kind for o in outcomes)
        for kind in ("refused", "warned", "silent", "hung")
    }
    unnamed = sum("NOT NAMING" in o for o in outcomes)
    unexpected = sum(o != e for o, (_, _, e) in zip(outcomes, PROBES))
    print(
        f"tried {len(outcomes)}, refused {counts['refused']}, warned {counts['warned']}, "
        f"silent {counts['silent']}"
        + (f", hung {counts['hung']}" if counts["hung"] else "")
        + (f" ({unnamed} refused without naming the file)" if unnamed else "")
        + f"; {unexpected} unexpected"
    )
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
