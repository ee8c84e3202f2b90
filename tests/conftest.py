import atexit
import os
import shutil
import tempfile

import pytest

# Quiet TensorFlow's C++ start-up logging in test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The suite runs in two pytest-xdist workers on two cores: one thread per
# worker avoids oversubscribing the cores with tiny models.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
# Under JAX, most of the suite's time went to XLA compiling the same few tiny
# models again in every test. One compilation cache for this run, shared by the
# xdist workers and the processes tests start (they inherit the environment),
# compiles each once: the JAX run went from 13.9 to 5.3 minutes on 2 cores.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="sk_kerasbag-tests-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# The longest tests (each many seconds under either backend), longest first. They
# run first: pytest-xdist (--dist loadgroup, pyproject.toml) hands tests out one
# or two at a time in collection order, so when the short ones come last, both
# workers finish within a few seconds of each other instead of one finishing a
# long test alone. A name here that no longer exists only stops being moved.
RUN_FIRST = [
    "test_stacking.py::test_stacking_example_is_within_one_point_of_its_best_base_model",
    "test_memory.py::test_many_members_add_nothing_to_keras_own_footprint",
    "test_artifacts.py::test_packed_fit_with_save_dir_checkpoints_and_resumes_after_sigkill",
    "test_artifacts.py::test_resume_after_sigkill_reuses_finished_members_and_the_interrupted_epoch",
    "test_scaling.py::test_members_train_on_a_dask_cluster",
    "test_persistence.py::test_two_processes_saving_to_one_path_leave_exactly_one_ensemble",
    "test_scaling.py::test_workers_of_a_killed_fit_stop_soon_after_it",
    "test_docs.py::test_python_blocks_run",
    "test_cli.py::test_demo_prints_only_its_results_and_writes_artifacts_ensemble_and_plot",
]


def _rank(item) -> int:
    name = f"{item.path.name}::{item.name}"
    for rank, prefix in enumerate(RUN_FIRST):
        if name.startswith(prefix):
            return rank
    return len(RUN_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    items.sort(key=_rank)  # stable: every other test keeps its place
