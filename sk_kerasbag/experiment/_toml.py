"""An experiment file's TOML tables read with typed look-ups, and errors naming the key at fault."""

from __future__ import annotations

from typing import Any

_REQUIRED = object()
_TOML_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
               dict: "a table", list: "an array"}  # fmt: skip


class ExperimentError(ValueError):
    """A mistake in an experiment file, found before any training.

    Parameters
    ----------
    key : str or None
        Dotted key at fault, such as ``"estimator.params.epochs"``; None when
        the file as a whole is at fault.
    problem : str
        What is wrong with it.
    """

    def __init__(self, key: str | None, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(problem if key is None else f"{key}: {problem}")


class Section:
    """A TOML table being read: typed look-ups, then an error for any key left unread."""

    def __init__(self, document: dict, name: str, required: bool = False):
        self.name = name
        table = document.get(name, _REQUIRED if required else {})
        if table is _REQUIRED:
            raise ExperimentError(name, "missing section")
        self.table = expect(table, dict, name)
        self.read: set[str] = set()

    def get(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        self.read.add(key)
        where = f"{self.name}.{key}"
        if key not in self.table:
            if default is _REQUIRED:
                raise ExperimentError(where, "missing")
            return default
        return expect(self.table[key], kind, where)

    def done(self) -> None:
        reject_unknown(self.table, self.read, self.name)


def expect(value: Any, kind: type, where: str) -> Any:
    if kind in (int, float):
        # bool is an int to Python, but `epochs = true` is a mistake in a file.
        ok = isinstance(value, (int, kind)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        got = _TOML_TYPES.get(type(value), type(value).__name__)
        raise ExperimentError(where, f"expected {_TOML_TYPES[kind]}, got {got} {value!r}")
    return value


def reject_unknown(table: dict, known, where: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ExperimentError(
            prefix + unknown[0], f"unknown key; expected one of {', '.join(sorted(known))}"
        )
