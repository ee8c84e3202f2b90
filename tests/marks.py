"""Marks shared by the test modules."""

import pytest

# Tests whose members train in joblib's worker processes (n_jobs=2). pytest-xdist
# (--dist loadgroup, set in pyproject.toml) sends them all to one of its workers,
# so they share one pool of joblib worker processes, which joblib keeps between
# fits: each worker process imports Keras and its backend once per test run
# instead of once per test (about 6 s of a core each time under TensorFlow).
worker_processes = pytest.mark.xdist_group("worker-processes")
