"""Importing Keras without its backend's start-up log lines.

TensorFlow 2.20 and later write a handful of C++ log lines to stderr while
they load ("oneDNN custom operations are on", "Could not find cuda drivers",
the CPU instruction sets) and, at the first device query, "failed call to
cuInit: ... CUDA error" on a machine without a GPU. The first ones come
before TensorFlow has set up its logging, so ``TF_CPP_MIN_LOG_LEVEL`` cannot
silence them. They describe the machine, not a problem, yet the error line
reads as a failure.

:func:`import_keras` imports Keras (and so its backend) with stderr's file
descriptor pointed at a temporary file, then writes back every line that is
not one of those start-up lines, so nothing else written meanwhile is lost.
No setting is changed: neither the environment, nor TensorFlow's or
Python's logging. ``TF_CPP_MIN_LOG_LEVEL=0`` (TensorFlow's own switch for
"show me every log line") turns the filter off. Every module of the package
takes Keras from ``sk_kerasbag._keras``, which imports it through here (so
do joblib's and Dask's workers, which import those modules); once Keras
and TensorFlow are imported, this does nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
from types import ModuleType
from typing import Iterator

# A log line's prefix, for level letters L: absl's (TensorFlow 2.20 and later:
# level, date, time or seconds since 1970, thread, file:line]) or TensorFlow's
# older one (date, time: level file:line]).
_PREFIX = (
    r"(?:[{L}]\d{{4}} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
    r"|\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [{L}] \S+:\d+\] )"
)
START_UP_LINE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    f"|{_PREFIX.format(L='IW')}"  # information and warnings
    f"|{_PREFIX.format(L='E')}.*(cuInit|Unable to register cu\\w+ factory)"  # "no GPU" errors
    r"|To enable the following instructions: "  # the CPU features line's second line
)
_lock = threading.Lock()


def import_keras() -> ModuleType:
    """Import and return Keras, leaving out the backend's start-up log lines.

    Returns
    -------
    module
        The ``keras`` module.
    """
    # Keras's set_random_seed, which every fit calls, imports TensorFlow
    # whenever it is installed, under every backend: it is imported here too,
    # so that its start-up lines are left out under JAX (and when the user
    # imported Keras, but not yet TensorFlow, before using the package).
    with _lock:  # two threads' first uses must not nest the redirection of stderr
        wanted = ["keras"]
        if importlib.util.find_spec("tensorflow") is not None:
            wanted.append("tensorflow")
        loaded = all(name in sys.modules for name in wanted)
        if not loaded and os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0":
            with _start_up_lines_left_out():
                import keras

                if "tensorflow" in wanted:
                    import tensorflow as tf

                    if keras.backend.backend() == "tensorflow":
                        tf.config.list_physical_devices()  # its "cuInit" line, now, not mid-fit
        import keras

        return keras


_generator_datasets_started = False


def start_generator_datasets() -> None:
    """Under TensorFlow, start tf.data's generator datasets once, leaving out the line that writes.

    Keras feeds rows served batch by batch (``_batches.RowBatches``, which
    every fit uses) through ``tf.data.Dataset.from_generator``, whose first
    iterator in a process writes "Memory patch applied: M_TRIM_THRESHOLD=128
    kb was set." to stderr: a start-up line like those of the import, only
    mid-fit. It is written here, once, and left out like them.
    """
    global _generator_datasets_started
    if _generator_datasets_started:
        return
    keras = import_keras()
    with _lock:
        if _generator_datasets_started:
            return
        _generator_datasets_started = True
        if keras.backend.backend() != "tensorflow" or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
            return
        import tensorflow as tf

        with _start_up_lines_left_out():
            spec = tf.TensorSpec((), tf.int32)
            for _ in tf.data.Dataset.from_generator(lambda: iter((0,)), output_signature=spec):
                pass


@contextlib.contextmanager
def _start_up_lines_left_out() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no file descriptor 2 (an embedded Python)
        yield
        return
    try:
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                captured.seek(0)
                kept = [
                    line
                    for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not START_UP_LINE.match(line)
                ]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
    finally:
        os.close(saved)
