"""Command-line arguments the documentation build gives the gallery's examples.

sphinx-gallery runs each script in ``examples/`` with the arguments that
:func:`reset_argv` returns (none, unless listed here). The stacking example
trains about 70 Keras members with its defaults (a few minutes on 2 CPU
cores); the gallery runs it with fewer epochs, members and folds so that the
whole build stays within a few minutes. Its page says so, and the accuracies
quoted in the user guide are those of the defaults.
"""

from __future__ import annotations

from pathlib import Path

ARGUMENTS = {
    "stacking.py": ["--epochs", "5", "--members", "2", "--cv", "3"],
}


def reset_argv(gallery_conf, script_vars) -> list[str]:
    """The arguments (after the script name) for the example being run."""
    return list(ARGUMENTS.get(Path(script_vars["src_file"]).name, []))
