"""Probes of ``sk_kerasbag.load`` with tampered saved ensembles: is each refused, and how?

Run: ``python tests/probes_persistence.py`` (any ``KERAS_BACKEND``). It fits and
saves one tiny ensemble, then for each probe applies one tampering to a fresh
copy of the folder, as a careless user or an attacker might (an attacker who
also updates the hashes, where the tampering changes a file), calls ``load``
and prints one line: refused or not, and the message. It ends with
``tried N, refused M, messages naming the file K``, where a message names
the file when it holds the name of the file at fault (``member 2`` counts for
``member_02.keras`` where the check is of the member's shapes).

Not a test: pytest does not collect it (its name does not start with
``test_``); ``tests/test_persistence.py`` has the regression tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np

from sk_kerasbag import BaggedKerasClassifier, load


def tiny_classifier(input_shape, n_classes, hidden=4):
    """The ensemble's builder (top level, so that ``save`` can refer to it)."""
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit(folder: Path, change) -> None:
    path = folder / "estimator.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _rehash(folder: Path, name: str) -> None:
    """Record ``name``'s present SHA-256 (what an attacker who edits the table does)."""
    _edit(folder, lambda m: m["sha256"].update({name: _digest(folder / name)}))


def _link(folder: Path, name: str, target: Path) -> None:
    (folder / name).unlink()
    (folder / name).symlink_to(target)
    if name != "estimator.json":
        _rehash(folder, name)


def _copy_outside(folder: Path, name: str) -> Path:
    target = folder.parent / f"outside-{name}"
    shutil.copyfile(folder / name, target)
    return target


def _folder_in_place(folder: Path, name: str) -> None:
    (folder / name).unlink()
    (folder / name).mkdir()


def _fifo_in_place(folder: Path, name: str) -> None:
    (folder / name).unlink()
    os.mkfifo(folder / name)


def _member_of_shape(folder: Path, input_shape, n_classes) -> None:
    path = folder / "member_02.keras"
    path.unlink()
    tiny_classifier(input_shape, n_classes).save(path)
    _rehash(folder, path.name)


def _other_arrays(folder: Path) -> None:
    with open(folder / "arrays.npz", "wb") as handle:
        np.savez(handle, a0=np.zeros(3))
    _rehash(folder, "arrays.npz")


def _extra_file(folder: Path) -> None:
    (folder / "notes.txt").write_text("mine")
    _rehash(folder, "notes.txt")


def _set_hash(name: str, value):
    return lambda f: _edit(f, lambda m: m["sha256"].update({name: value}))


def _traversal(folder: Path) -> None:
    target = _copy_outside(folder, "member_01.keras")

    def change(m):
        m["members"][0] = f"../{target.name}"
        m["sha256"][f"../{target.name}"] = m["sha256"].pop("member_01.keras")

    _edit(folder, change)


def _truncate(folder: Path, name: str) -> None:
    path = folder / name
    path.write_bytes(path.read_bytes()[:-10])


# name: (tampering, the file at fault as the message should name it)
PROBES = {
    "sha256 table missing": (lambda f: _edit(f, lambda m: m.pop("sha256")), "estimator.json"),
    "sha256 table null": (lambda f: _edit(f, lambda m: m.update(sha256=None)), "estimator.json"),
    "sha256 table a list": (
        lambda f: _edit(f, lambda m: m.update(sha256=list(m["sha256"]))),
        "estimator.json",
    ),
    "sha256 table a string": (
        lambda f: _edit(f, lambda m: m.update(sha256="all good")),
        "estimator.json",
    ),
    "arrays.npz a symlink (hash updated)": (
        lambda f: _link(f, "arrays.npz", _copy_outside(f, "arrays.npz")),
        "arrays.npz",
    ),
    "member a symlink (hash updated)": (
        lambda f: _link(f, "member_01.keras", _copy_outside(f, "member_01.keras")),
        "member_01.keras",
    ),
    "estimator.json a symlink": (
        lambda f: _link(f, "estimator.json", _copy_outside(f, "estimator.json")),
        "estimator.json",
    ),
    "estimator.json a folder": (lambda f: _folder_in_place(f, "estimator.json"), "estimator.json"),
    "member a folder": (lambda f: _folder_in_place(f, "member_02.keras"), "member_02.keras"),
    "arrays.npz a folder": (lambda f: _folder_in_place(f, "arrays.npz"), "arrays.npz"),
    "member a FIFO": (lambda f: _fifo_in_place(f, "member_01.keras"), "member_01.keras"),
    "member missing": (lambda f: (f / "member_02.keras").unlink(), "member_02.keras"),
    "arrays.npz missing": (lambda f: (f / "arrays.npz").unlink(), "arrays.npz"),
    "member truncated": (lambda f: _truncate(f, "member_02.keras"), "member_02.keras"),
    "hash entry of one member missing": (
        lambda f: _edit(f, lambda m: m["sha256"].pop("member_02.keras")),
        "member_02.keras",
    ),
    "member listed without a hash": (
        lambda f: _edit(f, lambda m: m["members"].append("member_03.keras")),
        "member_03.keras",
    ),
    "extra hash entry, file present": (_extra_file, "notes.txt"),
    "extra hash entry, file absent": (_set_hash("ghost.keras", "0" * 64), "ghost.keras"),
    "hash not a string": (_set_hash("arrays.npz", 12345), "estimator.json"),
    "hash null": (_set_hash("member_01.keras", None), "estimator.json"),
    "hash one digit short": (_set_hash("arrays.npz", "ab" * 31 + "c"), "estimator.json"),
    "hash of 64 non-hex characters": (_set_hash("arrays.npz", "z" * 64), "estimator.json"),
    "member outside the folder (../)": (_traversal, "estimator.json"),
    "member taking other rows (hash updated)": (
        lambda f: _member_of_shape(f, (3,), 2),
        "member 2",
    ),
    "member giving other outputs (hash updated)": (
        lambda f: _member_of_shape(f, (4,), 3),
        "member 2",
    ),
    "arrays.npz of other arrays (hash updated)": (_other_arrays, "arrays.npz"),
    "a member listed twice": (
        lambda f: _edit(f, lambda m: m["members"].append(m["members"][0])),
        "estimator.json",
    ),
}


def main() -> int:
    rng = np.random.RandomState(0)
    X = rng.rand(40, 4).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    # Fitted with the builder as __main__.tiny_classifier: saved by reference.
    clf = BaggedKerasClassifier(tiny_classifier, n_estimators=2, epochs=1, random_state=0)
    clf.fit(X, y)
    tried = refused = named = 0
    with tempfile.TemporaryDirectory() as scratch:
        original = Path(scratch) / "original"
        clf.save(original)
        load(original)  # the untampered folder loads
        for k, (name, (tamper, culprit)) in enumerate(PROBES.items()):
            root = Path(scratch) / f"probe{k:02d}"
            root.mkdir()
            folder = Path(shutil.copytree(original, root / "clf"))
            tamper(folder)
            tried += 1
            try:
                load(folder)
            except Exception as error:  # every kind counts as refused; the line says which
                refused += 1
                message = str(error)
                names = culprit in message
                named += names
                mark = "names it" if names else f"DOES NOT NAME {culprit}"
                print(f"{name}: refused, {type(error).__name__} ({mark}): {message}")
            else:
                print(f"{name}: NOT REFUSED")
    print(f"tried {tried}, refused {refused}, messages naming the file {named}")
    return 0 if refused == named == tried else 1


if __name__ == "__main__":
    sys.exit(main())
