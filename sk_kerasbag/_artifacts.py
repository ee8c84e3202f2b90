"""Run artifacts under ``save_dir``: what a fit writes, and what a resumed fit reloads.

A run folder holds::

    run.json                  estimator class, parameters and data digest (checked on resume)
    params.json               every parameter, as JSON
    plans.npz                 each member's rows and seed, so a resumed fit reuses them
    member_01.keras           the member at its best epoch by validation loss (else its last)
    member_01.final.keras     the member as the ensemble uses it, when that differs
    member_01.history.csv     its per-epoch history
    member_01.json            written last: the member is finished (SHA-256 of its files)
    member_02.epoch-0003.keras, member_02.epoch-0003.npz, member_02.checkpoint.json
                              the last finished epoch of the member in training
    statistics.csv, statistics.json, statistics.txt
    .lock, .member_02.lock    held by the process using the run, or training that member

Every file is written atomically. A member is finished exactly when its
``member_XX.json`` exists, and its checkpoint is valid exactly when
``member_XX.checkpoint.json`` exists: each is written after the files it
names, so a process killed at any moment leaves either the old state or the
new one. Resuming reloads finished members without touching their files and
continues the member in training from its last finished epoch, with its
weights, optimizer state, dropout seeds, shuffling state and callbacks'
state restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import keras
import numpy as np

from ._files import (
    TEMPORARY_PREFIX,
    atomic_path,
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
from ._members import MemberPlan
from .folders import ImageFiles
from .persistence import RUN_CONTROL, describe_params
from .reporting import AGGREGATES, MONITOR, aggregate, format_table

RUN_FILE = "run.json"
PARAMS_FILE = "params.json"
PLANS_FILE = "plans.npz"
LOCK_FILE = ".lock"


def _foreign_files(path: Path) -> list[str]:
    return [
        p.name for p in path.iterdir()
        if p.name != LOCK_FILE and not p.name.startswith(TEMPORARY_PREFIX)
    ]  # fmt: skip


def _run_identity(estimator, digest: str) -> dict:
    """What must match for a fit to continue a run: class, parameters and data."""
    params = describe_params(estimator)
    return {
        "estimator": type(estimator).__name__,
        "params": {name: value for name, value in params.items() if name not in RUN_CONTROL},
        "data_sha256": digest,
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
    def open(cls, save_dir, *, resume: bool, estimator, digest: str) -> Iterator[RunFolder]:
        """Start a run in ``save_dir``, or (with ``resume``) continue the run it holds.

        The run is locked against other processes while the block runs.
        Refuses to write into a folder holding other files, to overwrite a
        run without ``resume=True``, and to resume a run whose parameters or
        data differ.
        """
        path = Path(save_dir)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"save_dir {path} is a file, not a folder.")
        if not (path / RUN_FILE).is_file() and path.is_dir() and _foreign_files(path):
            raise FileExistsError(
                f"save_dir {path} is not empty and holds no sk_kerasbag run; "
                "choose a new or empty folder (files there are never overwritten)."
            )
        path.mkdir(parents=True, exist_ok=True)
        with exclusive(path / LOCK_FILE, f"save_dir {path}"):
            identity = _run_identity(estimator, digest)
            if not (path / RUN_FILE).is_file():
                # run.json first: from then on the folder is recognisably a run.
                started = time.strftime("%Y-%m-%dT%H:%M:%S")
                write_json(path / RUN_FILE, {**identity, "started": started})
            elif not resume:
                raise FileExistsError(
                    f"save_dir {path} already holds a run. Pass resume=True to continue it "
                    "(finished members are reloaded), or choose another save_dir."
                )
            else:
                _check_same_run(read_json(path / RUN_FILE), identity, path)
            if not (path / PARAMS_FILE).is_file():
                write_json(path / PARAMS_FILE, describe_params(estimator))
            yield cls(path)

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
        splits = [
            (arrays[f"split{k}_train"], arrays[f"split{k}_heldout"]) for k in range(n_members)
        ]
        plans = [
            MemberPlan(
                arrays[f"member{k}_train"],
                arrays[f"member{k}_heldout"],
                arrays.get(f"member{k}_val"),
                int(arrays["seeds"][k]),
            )
            for k in range(n_members)
        ]
        return splits, plans

    def member(self, k: int) -> MemberFiles:
        """The files of member ``k`` (counted from 0)."""
        return MemberFiles(self.path, f"member_{k + 1:02d}")

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


def _check_same_run(recorded: dict, identity: dict, path: Path) -> None:
    problems = []
    if recorded.get("estimator") != identity["estimator"]:
        problems.append(f"it was made by {recorded.get('estimator')}")
    old, new = recorded.get("params", {}), identity["params"]
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


@dataclass
class Checkpoint:
    """A member's state at the end of its last finished epoch."""

    epochs_done: int
    history: dict[str, list[float]]
    seconds: float
    stopped: bool
    best_epoch: int | None
    best_value: float | None
    model_file: str
    best_file: str | None
    callbacks: dict[str, dict[str, Any]]
    state: dict[str, np.ndarray]


class MemberFiles:
    """One member's files in a run folder: its checkpoints while training, its results after.

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
        self.checkpoint_path = folder / f"{stem}.checkpoint.json"

    def lock(self) -> contextlib.AbstractContextManager:
        """Hold the member against other processes (such as workers of a killed fit)."""
        return exclusive(self.folder / f".{self.stem}.lock", f"{self.stem} in {self.folder}")

    # -- a finished member -------------------------------------------------

    def finished(self) -> bool:
        """Whether the member finished in an earlier run."""
        return self.record_path.is_file()

    def reload(self, builder: Callable[[], keras.Model]) -> tuple[keras.Model, dict, float]:
        """The finished member's model, history and training seconds; its files are only read."""
        record = read_json(self.record_path)
        check_hashes(self.folder, record["sha256"], f"Member file set {self.stem}")
        model = _weights_into_fresh_model(builder, self.folder / record["ensemble_model"])
        history = read_csv_floats(self.folder / record["history"])
        history.pop("epoch", None)
        self._drop_checkpoint()  # left behind if a kill came right after the record
        return model, history, record["seconds"]

    def finish(self, model: keras.Model, tracker: EpochCheckpoint) -> None:
        """Write the member's model(s) and history, then its record; drop its checkpoint."""
        model_file = f"{self.stem}.keras"
        if tracker.best_file is not None:
            _copy_atomically(self.folder / tracker.best_file, self.folder / model_file)
        else:
            save_model(model, self.folder / model_file)
        ensemble_model = model_file
        if tracker.best_file is not None and not tracker.holds_best_weights(model):
            ensemble_model = f"{self.stem}.final.keras"
            save_model(model, self.folder / ensemble_model)
        history_file = f"{self.stem}.history.csv"
        epochs = len(next(iter(tracker.history.values()), []))
        rows = {"epoch": list(range(1, epochs + 1)), **tracker.history}
        write_csv(self.folder / history_file, rows)
        files = sorted({model_file, ensemble_model, history_file})
        best_epoch = tracker.best_epoch + 1 if tracker.best_epoch is not None else epochs
        write_json(
            self.record_path,
            {
                "member": self.stem,
                "model": model_file,
                "ensemble_model": ensemble_model,
                "history": history_file,
                "best_epoch": best_epoch,
                "seconds": tracker.seconds,
                "sha256": {name: sha256(self.folder / name) for name in files},
            },
        )
        self._drop_checkpoint()

    def _drop_checkpoint(self) -> None:
        self.checkpoint_path.unlink(missing_ok=True)
        for path in self.folder.glob(f"{self.stem}.epoch-*"):
            path.unlink()

    # -- a member in training ------------------------------------------------

    def checkpoint(self) -> Checkpoint | None:
        """The last finished epoch of a member interrupted in an earlier run, if any."""
        if not self.checkpoint_path.is_file():
            return None
        record = read_json(self.checkpoint_path)
        check_hashes(self.folder, record["sha256"], f"Checkpoint {self.checkpoint_path}")
        return Checkpoint(
            epochs_done=record["epochs_done"],
            history=record["history"],
            seconds=record["seconds"],
            stopped=record["stopped"],
            best_epoch=record["best_epoch"],
            best_value=record["best_value"],
            model_file=record["model_file"],
            best_file=record["best_file"],
            callbacks=record["callbacks"],
            state=read_arrays(self.folder / record["state_file"]),
        )

    def tracker(self, start: Checkpoint | None, callbacks: list) -> EpochCheckpoint:
        """The callback that checkpoints this member (and its ``callbacks``) after every epoch."""
        return EpochCheckpoint(self, start, callbacks)

    def restore(self, model: keras.Model, start: Checkpoint) -> None:
        """Load a checkpoint's weights and optimizer state into a fresh ``model``."""
        if not model.optimizer.built:  # a second build would add a second set of slots
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self.folder / start.model_file)


class EpochCheckpoint(keras.callbacks.Callback):
    """Checkpoints a member after every epoch and remembers its best epoch.

    Saves the model with its optimizer state, plus what Keras does not save:
    the dropout seed generators' states, NumPy's global generator (which
    Keras's array iterators shuffle with) and the state of the member's other
    callbacks (such as ``EarlyStopping``'s patience count and best weights).
    On resume, ``on_train_begin`` (called after every other callback's) puts
    them back, so the remaining epochs run as in an uninterrupted fit.
    """

    def __init__(self, files: MemberFiles, start: Checkpoint | None, callbacks: list):
        super().__init__()
        self.files, self.start, self.callbacks = files, start, callbacks
        self.history = {k: list(v) for k, v in start.history.items()} if start else {}
        self.seconds_before = start.seconds if start else 0.0
        self.best_epoch = start.best_epoch if start else None
        self.best_value = start.best_value if start else None
        self.best_file = start.best_file if start else None
        self._best_weights = None

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()
        if self.start is not None:
            _set_random_state(self.model, self.start.state)
            _set_callback_state(self.callbacks, self.start.callbacks, self.start.state)
            if self.best_file is not None:
                best_path = self.files.folder / self.best_file
                self._best_weights = _weights_of_file(self.model, best_path)

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        folder, stem = self.files.folder, self.files.stem
        model_file = f"{stem}.epoch-{epoch + 1:04d}.keras"
        state_file = f"{stem}.epoch-{epoch + 1:04d}.npz"
        save_model(self.model, folder / model_file)
        callback_scalars, callback_arrays = _callback_state(self.callbacks)
        write_arrays(folder / state_file, {**_random_state(self.model), **callback_arrays})
        value = (logs or {}).get(MONITOR)
        if value is not None and not np.isnan(value):
            if self.best_value is None or value < self.best_value:
                self.best_epoch, self.best_value, self.best_file = epoch, float(value), model_file
                self._best_weights = [np.array(w) for w in self.model.get_weights()]
        files = {model_file, state_file} | ({self.best_file} if self.best_file else set())
        write_json(
            self.files.checkpoint_path,
            {
                "epochs_done": epoch + 1,
                "history": self.history,
                "seconds": self.seconds,
                "stopped": bool(self.model.stop_training),
                "best_epoch": self.best_epoch,
                "best_value": self.best_value,
                "model_file": model_file,
                "best_file": self.best_file,
                "state_file": state_file,
                "callbacks": callback_scalars,
                "sha256": {name: sha256(folder / name) for name in sorted(files)},
            },
        )
        # Only now that the new checkpoint is committed can older epochs go.
        for path in folder.glob(f"{stem}.epoch-*"):
            if path.name not in files:
                path.unlink()

    @property
    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self._started

    def holds_best_weights(self, model: keras.Model) -> bool:
        """Whether ``model``'s weights are those of the best epoch."""
        return self._best_weights is not None and all(
            np.array_equal(a, b) for a, b in zip(model.get_weights(), self._best_weights)
        )


def _callback_state(callbacks: list) -> tuple[dict, dict[str, np.ndarray]]:
    """The public state of each callback: numbers and strings, and lists of arrays."""
    scalars, arrays = {}, {}
    for i, callback in enumerate(callbacks):
        state = {}
        for name, value in vars(callback).items():
            if name.startswith("_") or name in ("params", "validation_data"):
                continue
            if isinstance(value, np.generic):
                value = value.item()
            if value is None or isinstance(value, (bool, int, float, str)):
                state[name] = value
            elif isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
                state[name] = {"arrays": len(value)}
                arrays.update((f"callback{i}.{name}.{j}", v) for j, v in enumerate(value))
        scalars[str(i)] = state
    return scalars, arrays


def _set_callback_state(callbacks: list, scalars: dict, arrays: dict[str, np.ndarray]) -> None:
    for i, callback in enumerate(callbacks):
        for name, value in scalars.get(str(i), {}).items():
            if isinstance(value, dict):
                value = [arrays[f"callback{i}.{name}.{j}"] for j in range(value["arrays"])]
            setattr(callback, name, value)


def _seed_states(model: keras.Model) -> list:
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _random_state(model: keras.Model) -> dict[str, np.ndarray]:
    kind, keys, position, has_gauss, cached = np.random.get_state()
    arrays = {
        "numpy_keys": keys,
        "numpy_position": np.array([position, has_gauss]),
        "numpy_cached_gaussian": np.array(cached),
    }
    for i, variable in enumerate(_seed_states(model)):
        arrays[f"seed_state_{i}"] = keras.ops.convert_to_numpy(variable)
    return arrays


def _set_random_state(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    position, has_gauss = (int(v) for v in state["numpy_position"])
    np.random.set_state(
        ("MT19937", state["numpy_keys"], position, has_gauss, float(state["numpy_cached_gaussian"]))
    )
    for i, variable in enumerate(_seed_states(model)):
        variable.assign(state[f"seed_state_{i}"])


def _weights_into_fresh_model(builder: Callable[[], keras.Model], path: Path) -> keras.Model:
    # The user's builder makes the model, so custom layers need no registration
    # and nothing in the file is deserialised as code.
    model = builder()
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    return model


def _weights_of_file(model: keras.Model, path: Path) -> list[np.ndarray]:
    # load_weights also loads the optimizer's variables: all are put back after.
    variables = [*model.variables, *model.optimizer.variables]
    current = [keras.ops.convert_to_numpy(v) for v in variables]
    model.load_weights(path)
    weights = [np.array(w) for w in model.get_weights()]
    for variable, value in zip(variables, current):
        variable.assign(value)
    return weights


def _copy_atomically(source: Path, target: Path) -> None:
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
