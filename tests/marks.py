"""Marks shared by the test modules."""

import pytest

# Tests whose members train in joblib's worker processes (n_jobs=2). pytest-xdist
# (--dist loadgroup, set in pyproject.toml) sends them all to one of its workers,
# so they share one pool of joblib worker processes, which joblib keeps between
# fits: each worker process imports Keras and its backend once per test run
# instead of once per test (about 6 s of a core each time under TensorFlow).
worker_processes = pytest.mark.xdist_group("worker-processes")

# Tests whose subject is sk_kerasbag's own handling of processes, files, text and
# plots: the docs' pages running as written, a killed fit's workers exiting, two
# processes racing to save, an example's claims, plots and locks. The README's
# test command runs them under TensorFlow only (the JAX run deselects them with
# -m "not backend_independent"), to keep it near 10 minutes. What they touch that
# a backend can change (training, seeding, packing, resuming, saving, prediction,
# output noise, scikit-learn's checks) has tests of its own, which run under both;
# a docs page's snippet is not re-run under JAX.
backend_independent = pytest.mark.backend_independent
