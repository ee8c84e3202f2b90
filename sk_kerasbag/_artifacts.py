"""Run artifacts under ``save_dir``: what a fit writes, and what a resumed fit reloads.

A run folder holds::

    run.json                  estimator class, parameters and data digest (checked on resume)
    params.json               every parameter, as JSON
    plans.npz                 each member's rows and seed, so a resumed fit reuses them
    member_01.keras           the member as the ensemble predicts with it (its held epoch)
    member_01.history.csv     its per-epoch history
    member_01.json            written last: the member is finished (epochs, SHA-256 of its files)
    member_02.epoch-0003.keras, member_02.epoch-0003.npz, member_02.checkpoint.json
                              the last finished epoch of the member in training
                              (``packed.*`` for a packed fit: the members it trains at
                              once, which the JSON names; a grown run's new members)
    statistics.csv, statistics.json, statistics.txt
    .lock, .member_02.lock    held by the process using the run, or training that member

Every file is written atomically. A member is finished exactly when its
``member_XX.json`` exists, and its checkpoint is valid exactly when
``member_XX.checkpoint.json`` exists: each is written after the files it
names, so a process killed at any moment leaves either the old state or the
new one. Resuming reloads finished members without touching their files and
continues the member in training from its last finished epoch, with its
weights, optimizer state, dropout seeds, shuffling state, best epoch and
callbacks' state restored (:class:`~sk_kerasbag._callbacks.Checkpointing`).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ._files import (
    TEMPORARY_PREFIX,
    check_hashes,
    exclusive,
    read_arrays,
    read_csv_floats,
    read_json,
    save_model,
    sha256,
    write_arrays,
    write_bytes,
    write_csv,
    write_json,
)
from ._keras import keras
from ._members import TrainedMember
from ._plans import MemberPlan
from .folders import ImageFiles
from ._descriptions import describe, describe_params
from .persistence import RUN_CONTROL
from .reporting import AGGREGATES, aggregate, format_table

RUN_FILE = "run.json"
PARAMS_FILE = "params.json"
PLANS_FILE = "plans.npz"
LOCK_FILE = ".lock"


def _foreign_files(path: Path) -> list[str]:
    def ours(name: str) -> bool:  # locks (the run's, its members') and unfinished writes
        is_lock = name.startswith(".") and name.endswith(".lock")
        return is_lock or name.startswith(TEMPORARY_PREFIX)

    return [p.name for p in path.iterdir() if not ours(p.name)]


def check_run_folder(save_dir: str | os.PathLike, *, resume: bool) -> None:
    """Raise as :meth:`RunFolder.open` refuses to start (or, with ``resume``, continue) a run.

    NotADirectoryError for a file; FileExistsError for a folder holding other
    files than a run's, or a run without ``resume``. Reads only: for checks
    made before any fit starts (an experiment's runs).
    """
    path = Path(save_dir)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"save_dir {path} is a file, not a folder.")
    has_run = (path / RUN_FILE).is_file()
    if not has_run and path.is_dir() and _foreign_files(path):
        raise FileExistsError(
            f"save_dir {path} is not empty and holds no sk_kerasbag run; "
            "choose a new or empty folder (files there are never overwritten)."
        )
    if has_run and not resume:
        raise FileExistsError(
            f"save_dir {path} already holds a run. Pass resume=True to continue it "
            "(finished members are reloaded), or choose another save_dir."
        )


def _run_identity(estimator, digest: str) -> dict:
    """What must match for a fit to continue a run: class, parameters and data.

    ``defaults`` (each parameter's default, described) stand in for
    parameters a run recorded by an older version does not name.
    """
    params = describe_params(estimator)
    signature = inspect.signature(type(estimator).__init__).parameters.values()
    return {
        "estimator": type(estimator).__name__,
        "params": {name: value for name, value in params.items() if name not in RUN_CONTROL},
        "data_sha256": digest,
        "defaults": {
            p.name: describe(p.default)
            for p in signature
            if p.default is not p.empty and p.name not in RUN_CONTROL
        },
    }


def data_digest(*parts: Any) -> str:
    """SHA-256 over the training data, so a resumed fit can tell it changed.

    Arrays are hashed by content; image files by path, size and modification
    time, which changes whenever a file is rewritten.
    """
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            digest.update(b"none")
        elif isinstance(part, (tuple, list)):
            digest.update(data_digest(*part).encode())
        elif isinstance(part, ImageFiles):
            for path in part.paths:
                stat = Path(path).stat()
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        else:
            array = np.ascontiguousarray(part)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            if array.dtype == object:
                digest.update("\0".join(map(repr, array.ravel())).encode())
            else:
                digest.update(memoryview(array).cast("B"))  # no copy of a large X
    return digest.hexdigest()


class RunFolder:
    """The artifacts of one fit, and the finished work a resumed fit can reuse.

    Parameters
    ----------
    path : Path
        The run folder (``save_dir``).
    """

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    @contextlib.contextmanager
    def open(
        cls, save_dir, *, resume: bool, estimator, digest: str, grown: tuple | None = None
    ) -> Iterator[RunFolder]:
        """Start a run in ``save_dir``, or (with ``resume``) continue the run it holds.

        The run is locked against other processes while the block runs.
        Refuses to write into a folder holding other files, to overwrite a
        run without ``resume=True``, and to resume a run whose parameters or
        data differ. ``grown`` is ``(parameter, n_fitted)`` for a warm fit,
        which adds members to the run of its ``n_fitted`` members: that one
        parameter may differ, and the run then records its new value.
        """
        path = Path(save_dir)
        check_run_folder(path, resume=True)  # whether it holds a run is read under the lock
        path.mkdir(parents=True, exist_ok=True)
        with exclusive(path / LOCK_FILE, f"save_dir {path}"):
            identity = _run_identity(estimator, digest)
            if grown is not None:
                _grow_run(path, identity, grown)
                write_json(path / PARAMS_FILE, describe_params(estimator))
            elif not (path / RUN_FILE).is_file():
                # run.json first: from then on the folder is recognisably a run.
                started = time.strftime("%Y-%m-%dT%H:%M:%S")
                recorded = {k: v for k, v in identity.items() if k != "defaults"}
                write_json(path / RUN_FILE, {**recorded, "started": started})
            else:
                check_run_folder(path, resume=resume)
                _check_same_run(read_json(path / RUN_FILE), identity, path)
            if not (path / PARAMS_FILE).is_file():
                write_json(path / PARAMS_FILE, describe_params(estimator))
            run = cls(path)
            try:
                yield run
            except BaseException:
                run._forget_if_empty()
                raise

    def _forget_if_empty(self) -> None:
        """After a failed fit: with nothing to resume (no member, no checkpoint), leave no run.

        Otherwise a fit that failed at once (a model that does not fit the
        data, say) would make the next fit ask for ``resume=True``.
        """
        kept = [p for p in self.path.glob("*.json") if p.name not in (RUN_FILE, PARAMS_FILE)]
        if kept:
            return
        for name in (RUN_FILE, PARAMS_FILE, PLANS_FILE):
            (self.path / name).unlink(missing_ok=True)
        for path in self.path.glob("*.epoch-*"):  # an epoch whose checkpoint was not committed
            path.unlink()

    def adopt_plans(self, splits: list, plans: list[MemberPlan]) -> tuple[list, list[MemberPlan]]:
        """The run's splits and member plans: recorded ones when resuming, else these.

        Recorded plans matter when ``random_state`` is not an int: a resumed
        fit then draws other rows, which must not be mixed with the finished
        members' rows.
        """
        path = self.path / PLANS_FILE
        if not path.is_file():
            write_arrays(path, _plan_arrays(splits, plans))
            return splits, plans
        arrays = read_arrays(path)
        n_members = int(arrays["n_members"])
        recorded_splits = [
            (arrays[f"split{k}_train"], arrays[f"split{k}_heldout"]) for k in range(n_members)
        ]
        recorded_plans = [
            MemberPlan(
                arrays[f"member{k}_train"],
                arrays[f"member{k}_heldout"],
                arrays.get(f"member{k}_val"),
                int(arrays["seeds"][k]),
                k,
            )
            for k in range(n_members)
        ]
        if n_members < len(plans):  # a grown run: its new members' plans join the recorded
            recorded_splits += splits[n_members:]
            recorded_plans += plans[n_members:]
            write_arrays(path, _plan_arrays(recorded_splits, recorded_plans))
        return recorded_splits, recorded_plans

    def member(self, k: int) -> MemberFiles:
        """The files of member ``k`` (counted from 0)."""
        return MemberFiles(self.path, f"member_{k + 1:02d}")

    def packed_checkpoints(self) -> CheckpointFiles:
        """The checkpoint of a packed fit, which trains its unfinished members at once."""
        return CheckpointFiles(self.path, "packed")

    def write_statistics(self, table: dict[str, np.ndarray]) -> None:
        """``statistics.csv`` (members, then mean/std/min/max) and ``statistics.json``."""
        columns = {name: [v.item() for v in values] for name, values in table.items()}
        across = aggregate(table)
        rows = {name: list(values) for name, values in columns.items()}
        for statistic in AGGREGATES:
            rows["member"].append(statistic)
            for name in list(rows)[1:]:
                rows[name].append(across[name][statistic])
        write_csv(self.path / "statistics.csv", rows)
        write_json(self.path / "statistics.json", {"members": columns, "across_members": across})
        write_bytes(self.path / "statistics.txt", (format_table(table) + "\n").encode())


def _grow_run(path: Path, identity: dict, grown: tuple) -> None:
    """Check that the run in ``path`` is the one a warm fit grows; record its new size."""
    name, n_fitted = grown
    if not (path / RUN_FILE).is_file():
        raise ValueError(
            f"warm_start=True with save_dir adds members to the run the {n_fitted} fitted "
            f"members were saved in, but save_dir {path} holds no run. Fit with the save_dir "
            "of the first fit, or with save_dir=None."
        )
    recorded = read_json(path / RUN_FILE)
    unchanged = {**identity, "params": {**identity["params"], name: None}}
    before = {**recorded, "params": {**recorded.get("params", {}), name: None}}
    _check_same_run(before, unchanged, path)
    write_json(path / RUN_FILE, {**recorded, "params": identity["params"]})  # the new count


def _check_same_run(recorded: dict, identity: dict, path: Path) -> None:
    problems = []
    if recorded.get("estimator") != identity["estimator"]:
        problems.append(f"it was made by {recorded.get('estimator')}")
    # A run recorded before a parameter existed ran with its default.
    old = {**identity.get("defaults", {}), **recorded.get("params", {})}
    new = identity["params"]
    changed = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    if changed:
        problems.append(f"its parameters differ: {', '.join(changed)}")
    if recorded.get("data_sha256") != identity["data_sha256"]:
        problems.append("its training data differ")
    if problems:
        raise ValueError(
            f"Cannot resume the run in save_dir {path}: {'; '.join(problems)}. Mixing members "
            "of different runs would give a wrong ensemble; choose another save_dir."
        )


def _plan_arrays(splits, plans: list[MemberPlan]) -> dict[str, np.ndarray]:
    arrays = {"n_members": np.array(len(plans)), "seeds": np.array([p.seed for p in plans])}
    for k, ((train, heldout), plan) in enumerate(zip(splits, plans)):
        arrays[f"split{k}_train"], arrays[f"split{k}_heldout"] = train, heldout
        arrays[f"member{k}_train"], arrays[f"member{k}_heldout"] = plan.train_idx, plan.heldout_idx
        if plan.val_idx is not None:
            arrays[f"member{k}_val"] = plan.val_idx
    return arrays


class CheckpointFiles:
    """The last finished epoch of a training in progress: a member's, or a packed fit's.

    Written after every epoch as ``<stem>.epoch-NNNN.keras`` (weights and
    optimizer), ``<stem>.epoch-NNNN.npz`` (arrays of the state) and, last,
    ``<stem>.checkpoint.json``, which names them with their SHA-256; older
    epochs are deleted only after it. A store for
    :class:`~sk_kerasbag._callbacks.Checkpointing`.

    Parameters
    ----------
    folder : Path
        The run folder.
    stem : str
        File name prefix, such as ``"member_02"`` or ``"packed"``.
    """

    def __init__(self, folder: Path, stem: str):
        self.folder, self.stem = folder, stem
        self.path = folder / f"{stem}.checkpoint.json"

    def save(self, epochs_done: int, model: keras.Model, scalars: dict, arrays: dict) -> None:
        """Commit the state at the end of epoch ``epochs_done``."""
        model_file = f"{self.stem}.epoch-{epochs_done:04d}.keras"
        arrays_file = f"{self.stem}.epoch-{epochs_done:04d}.npz"
        save_model(model, self.folder / model_file)
        write_arrays(self.folder / arrays_file, arrays)
        files = {model_file, arrays_file}
        write_json(
            self.path,
            {
                **scalars,
                "model_file": model_file,
                "arrays_file": arrays_file,
                "sha256": {name: sha256(self.folder / name) for name in sorted(files)},
            },
        )
        # Only now that the new checkpoint is committed can older epochs go.
        for path in self.folder.glob(f"{self.stem}.epoch-*"):
            if path.name not in files:
                path.unlink()

    def load(self, model: keras.Model) -> tuple[dict, dict[str, np.ndarray]] | None:
        """Load the saved weights and optimizer state into ``model``; return the rest, or None."""
        if not self.path.is_file():
            return None
        scalars = read_json(self.path)
        check_hashes(self.folder, scalars.pop("sha256"), f"Checkpoint {self.path}")
        if not model.optimizer.built:  # a second build would add a second set of slots
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self.folder / scalars.pop("model_file"))
        return scalars, read_arrays(self.folder / scalars.pop("arrays_file"))

    def members(self) -> list[int] | None:
        """The indices (from 0) of the members whose training is saved, or None.

        None without a checkpoint, and for one written before they were
        recorded (which continues with the members still unfinished).
        """
        if not self.path.is_file():
            return None
        return read_json(self.path).get("members")

    def drop(self) -> None:
        """Delete the checkpoint (once its training has finished)."""
        self.path.unlink(missing_ok=True)
        for path in self.folder.glob(f"{self.stem}.epoch-*"):
            path.unlink()


class MemberFiles:
    """One finished member's files in a run folder, and the checkpoints of its training.

    ``member_XX.keras`` is the model the ensemble predicts with, ``.history.csv``
    its history; ``member_XX.json``, written last, records its best and held
    epochs, training time and the SHA-256 of both.

    Parameters
    ----------
    folder : Path
        The run folder.
    stem : str
        File name prefix, such as ``"member_01"``.
    """

    def __init__(self, folder: Path, stem: str):
        self.folder, self.stem = folder, stem
        self.record_path = folder / f"{stem}.json"
        self.checkpoints = CheckpointFiles(folder, stem)

    def lock(self) -> contextlib.AbstractContextManager:
        """Hold the member against other processes (such as workers of a killed fit)."""
        return exclusive(self.folder / f".{self.stem}.lock", f"{self.stem} in {self.folder}")

    def finished(self) -> bool:
        """Whether the member finished in an earlier run."""
        return self.record_path.is_file()

    def reload(self, builder: Callable[[], keras.Model], preprocessing) -> TrainedMember | None:
        """The member as it finished in an earlier run (its files are only read), or None."""
        if not self.finished():
            return None
        record = read_json(self.record_path)
        check_hashes(self.folder, record["sha256"], f"Member file set {self.stem}")
        if not {record["model"], record["history"]} <= set(record["sha256"]):
            raise ValueError(f"{self.record_path} names files it has no SHA-256 for.")
        model = _weights_into_fresh_model(builder, self.folder / record["model"])
        history = read_csv_floats(self.folder / record["history"])
        history.pop("epoch", None)
        self.checkpoints.drop()  # left behind if a kill came right after the record
        return TrainedMember(
            model,
            history,
            preprocessing,
            record["seconds"],
            record["best_epoch"] - 1 if record["best_epoch"] else None,
            record["held_epoch"] - 1,
        )

    def trained_as(self) -> str:
        """How the finished member was trained: its ensemble's ``fit_strategy_``."""
        # Records older than the field are of multi-output packing or one-by-one fits,
        # and only packed fits ask.
        return read_json(self.record_path).get("fit_strategy", "multi-output")

    def finish(self, member: TrainedMember, trained_as: str = "sequential") -> None:
        """Write the member's model and history, then its record; drop its checkpoint.

        ``trained_as`` is how it was trained (its ensemble's ``fit_strategy_``).
        """
        model_file, history_file = f"{self.stem}.keras", f"{self.stem}.history.csv"
        save_model(member.model, self.folder / model_file)
        epochs = len(next(iter(member.history.values()), []))
        write_csv(
            self.folder / history_file, {"epoch": list(range(1, epochs + 1)), **member.history}
        )
        best = None if member.best_epoch is None else member.best_epoch + 1
        write_json(
            self.record_path,
            {
                "member": self.stem,
                "model": model_file,
                "history": history_file,
                "epochs": epochs,
                "best_epoch": best,
                "held_epoch": member.held_epoch + 1,
                "seconds": member.seconds,
                "fit_strategy": trained_as,
                "sha256": {name: sha256(self.folder / name) for name in (model_file, history_file)},
            },
        )
        self.checkpoints.drop()


def _weights_into_fresh_model(builder: Callable[[], keras.Model], path: Path) -> keras.Model:
    # The user's builder makes the model, so custom layers need no registration
    # and nothing in the file is deserialised as code. A finished member only
    # predicts: its optimizer state, which a packed member never had, is not needed.
    model = builder()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        model.load_weights(path)
    # Built alike in every member, so that a member pickled by a worker process loads as it was.
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return model
