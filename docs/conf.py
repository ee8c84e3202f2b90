"""Sphinx configuration of the sk_kerasbag documentation.

Build (no network needed; the gallery runs the scripts in ``examples/``)::

    KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
        .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Quiet TensorFlow's C++ start-up logging; the examples run on the CPU.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parent.parent
# The gallery's per-example arguments (a module, so Sphinx can cache the config).
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

import sk_kerasbag  # noqa: E402

project = "sk_kerasbag"
author = "sk_kerasbag developers"
copyright = "sk_kerasbag developers"
release = sk_kerasbag.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb"]
# Code in the guide is Python unless a block says otherwise.
highlight_language = "python3"
pygments_style = "sphinx"

# -- API reference ------------------------------------------------------------

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections give the types
# The estimators' methods come from mixins: list them on each class's page
# (the class template), not as numpydoc's separate tables of stub pages.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Every cross-reference must resolve; without intersphinx (no network) those
# into other projects' documentation cannot, and are left as plain text.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(sklearn|matplotlib|keras|numpy|pandas|joblib|PIL)(\..*)?"),
]

# -- MyST (the user guide is Markdown) ------------------------------------------

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Gallery: the scripts in examples/, run on the bundled digits ----------------

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # Run every example (not only plot_*.py); the experiment's builder module
    # is not an example.
    "filename_pattern": r".*\.py$",
    "ignore_pattern": r"(__init__|experiment_models)\.py$",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "show_signature": False,
    "min_reported_time": 5,
    "reset_argv": "gallery_settings.reset_argv",
}

# -- HTML -------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sk_kerasbag {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False


# -- Hooks --------------------------------------------------------------------------


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Leave out the members the estimators inherit unchanged from scikit-learn.

    Their docstrings cross-reference scikit-learn's own documentation (no
    intersphinx here: the build needs no network); ``api.rst`` names them.
    """
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.split(".")[0] == "sklearn":
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
