"""Worker processes that end with the fit that started them.

joblib's worker processes notice their parent's death only between tasks:
a member in training keeps a killed fit's workers busy for as long as it
trains (seen 400 s after a SIGKILL), holding cores, memory and the run
folder's locks. :func:`run_in_worker` gives each worker a watch that ends
the worker within a second or so of its parent's death.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

# Seconds between two looks at the parent.
_WATCH_INTERVAL = 0.5

_watched: set[int] = set()
_watch_lock = threading.Lock()


def run_in_worker(parent_pid: int, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, in a process that exits if the process ``parent_pid`` dies.

    Only a direct child of ``parent_pid`` (joblib's process workers) is
    watched: a Dask worker, or the fitting process itself, runs
    ``function`` unwatched, since its life is not tied to the fit's.
    """
    if os.getppid() == parent_pid:
        _watch(parent_pid)
    return function(*args)


def _watch(parent_pid: int) -> None:
    with _watch_lock:
        if parent_pid in _watched:
            return
        _watched.add(parent_pid)
    threading.Thread(
        target=_exit_when_orphaned, args=(parent_pid,), name="sk_kerasbag-parent-watch", daemon=True
    ).start()


def _exit_when_orphaned(parent_pid: int) -> None:
    # An orphan is adopted by init (or a subreaper), so its parent id changes.
    while os.getppid() == parent_pid:
        time.sleep(_WATCH_INTERVAL)
    # Nothing of the member is worth finishing: checkpoints are written
    # atomically and the operating system drops the run folder's locks.
    os._exit(1)
