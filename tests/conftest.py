import atexit
import os
import shutil
import tempfile

import pytest

from . import shared

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
# What remains is mostly XLA optimising those compilations, for steps that then
# run for microseconds. JAX's own jax_disable_most_optimizations leaves most of
# that out: a fit took about 25% less time, the JAX run 199 s instead of 221 (2
# cores). Results stay within float32 rounding of an optimised build, and no
# test compares a fit with a number stored from another build: the processes
# tests start inherit the setting, like the cache.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

# How the tests reach the two pytest-xdist workers (--dist loadgroup and
# --no-loadscope-reorder, pyproject.toml). A module's tests go to one worker
# together, so that each fit a module shares (tests/shared.py) is made once per
# run; tests marked with another xdist_group (tests/marks.py) go with that group.
# Only the modules below, whose tests share no fit, go out test by test.
SPREAD = {"test_docs.py", "test_sklearn_checks.py"}
# The units go out in this order, one at a time as a worker frees up: the
# longest modules first (as `pytest --durations=0` measured them, summed per
# module), the single tests of SPREAD last, so that both workers finish within
# a few seconds of each other rather than one running a long module alone. A
# module missing here goes after those listed, in collection order.
LONGEST_FIRST = [
    "worker-processes",
    "test_training.py",
    "test_estimators.py",
    "test_scaling.py",
    "test_artifacts.py",
    "test_stacking.py",
    "test_targets.py",
    "test_persistence.py",
    "test_sklearn_integration.py",
    "test_directory.py",
    "test_output.py",
    "test_subspaces.py",
    "test_warm_start.py",
    "test_augmentation.py",
    "test_cli.py",
    "test_routing.py",
    "test_memory.py",
    "test_folds.py",
    "test_plotting.py",
    "test_custom_objects.py",
    "test_experiment.py",
    "test_docs.py",
]


def _group(item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    if marker is not None:
        return marker.args[0] if marker.args else marker.kwargs.get("name")
    return None if item.path.name in SPREAD else item.path.name


def _rank(item) -> int:
    unit = _group(item) or item.path.name
    return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        group = _group(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_rank)  # stable: within a unit, tests keep their order


@pytest.fixture(autouse=True)
def _shared_fits_stay_as_they_were(request):
    """Fail the test that changed a shared fixture's value (tests/shared.py)."""
    names = [name for name in request.fixturenames if name in shared.NAMES]
    values = {name: request.getfixturevalue(name) for name in names}
    before = {name: shared.fingerprint(value) for name, value in values.items()}
    yield
    changed = [name for name in names if shared.fingerprint(values[name]) != before[name]]
    if changed:
        pytest.fail(
            f"{request.node.nodeid} changed the shared fixture(s) {', '.join(changed)}, which "
            "other tests read: work on a copy (copy.deepcopy, clone, shutil.copytree).",
            pytrace=False,
        )
