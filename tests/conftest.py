import atexit
import os
import shutil
import tempfile

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
