"""Run-folder locks: exclusive while held, and no lock file left once let go."""

import builtins
import os

import pytest

from sk_kerasbag._files import exclusive

from .marks import backend_independent

pytestmark = backend_independent  # file locks


def test_a_lock_is_exclusive_and_its_file_is_removed_when_let_go(tmp_path):
    path = tmp_path / ".lock"
    with exclusive(path, "the run"):
        assert path.is_file()
        with pytest.raises(RuntimeError, match="the run is in use by another process"):
            with exclusive(path, "the run"):
                pass
    assert not path.exists()
    with exclusive(path, "the run"):  # free again
        assert path.is_file()
    assert list(tmp_path.iterdir()) == []


def test_a_lock_file_removed_by_its_last_holder_is_not_trusted(tmp_path, monkeypatch):
    # A process that opened the file just before the last holder removed it
    # gets a lock on a file no one else can see; it must lock the new one.
    path = tmp_path / ".lock"
    path.touch()
    real_open = builtins.open
    calls = []

    def open_as_the_holder_leaves(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        calls.append(file)
        if len(calls) == 1:
            os.unlink(file)  # the holder's exit, between our open and our lock
        return handle

    monkeypatch.setattr(builtins, "open", open_as_the_holder_leaves)
    with exclusive(path, "the run"):
        monkeypatch.setattr(builtins, "open", real_open)
        assert len(calls) == 2 and path.is_file()
        with pytest.raises(RuntimeError, match="in use"):
            with exclusive(path, "the run"):
                pass
