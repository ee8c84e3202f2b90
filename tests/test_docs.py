"""Every Python block of the README and of the user guide runs, as written.

A page's blocks run in order in one namespace (a later block uses the names
of an earlier one), in a temporary working folder holding a copy of the
repository's ``examples/`` files, so the pages can name them as a reader in a
clone would (``examples/experiment.toml``) and nothing is written into the
repository. The blocks assert what they show. Each page is its own test, so
pytest-xdist spreads them over its workers; a page training members in
joblib's worker processes joins the other such tests (``worker_processes``),
to share their pool of processes.
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

import sk_kerasbag

from .marks import backend_independent, worker_processes

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = DOCS / "user_guide"
GUIDE_PAGES = sorted([*GUIDE.glob("*.md"), *GUIDE.glob("*.rst")])

# A Markdown fence opening a Python block: ```python (also ```{code-block} python).
_MARKDOWN_PYTHON = re.compile(r"^(?P<indent>[ \t]*)```(?:python|py|\{code-block\} python)[ \t]*$")
_MARKDOWN_FENCE = re.compile(r"^[ \t]*```")
# An rst Python block: ".. code-block:: python" (or "code::"), its body indented below.
_RST_PYTHON = re.compile(
    r"^(?P<indent>[ \t]*)\.\. (?:code-block|code|sourcecode):: (?:python|py)\s*$"
)


def python_blocks(page: Path) -> list[str]:
    """The source of every Python block of a Markdown or rst page, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    if page.suffix == ".rst":
        return _rst_blocks(lines)
    blocks, i = [], 0
    while i < len(lines):
        opening = _MARKDOWN_PYTHON.match(lines[i])
        i += 1
        if not opening:
            continue
        body = []
        while i < len(lines) and not _MARKDOWN_FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{page.name}: a Python block is never closed"
        i += 1
        blocks.append(textwrap.dedent("\n".join(body)) + "\n")
    return blocks


def _rst_blocks(lines: list[str]) -> list[str]:
    blocks, i = [], 0
    while i < len(lines):
        opening = _RST_PYTHON.match(lines[i])
        i += 1
        if not opening:
            continue
        indent = len(opening["indent"])
        body = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        options = 0  # the directive's options (":caption: ...") come before the code
        while options < len(body) and body[options].strip().startswith(":"):
            options += 1
        blocks.append(textwrap.dedent("\n".join(body[options:])).strip("\n") + "\n")
    return blocks


PAGES = [ROOT / "README.md", *GUIDE_PAGES]
PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page)]


def _page_params() -> list:
    """One test per page; those training in joblib's worker processes share their pool."""
    params = []
    for page in PAGES_WITH_CODE:
        code = "".join(python_blocks(page))
        marks = [worker_processes] if re.search(r"n_jobs=[1-9]", code) else []
        params.append(pytest.param(page, marks=marks, id=page.name))
    return params


def test_the_block_extraction_finds_the_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n```console\n$ ls\n```\n- item\n\n  ```python\n"
        "  y = x + 1\n  ```\n"
    )
    assert python_blocks(page) == ["x = 1\n", "y = x + 1\n"]
    rst = tmp_path / "page.rst"
    rst.write_text(
        "text\n\n.. code-block:: python\n   :caption: c\n\n   z = 2\n   w = z\n\nafter\n"
    )
    assert python_blocks(rst) == ["z = 2\nw = z\n"]


def test_the_readme_and_most_guide_pages_have_code():
    assert ROOT / "README.md" in PAGES_WITH_CODE
    assert len(GUIDE_PAGES) >= 10
    assert len(PAGES_WITH_CODE) >= len(GUIDE_PAGES) - 2


@backend_independent
@pytest.mark.parametrize("page", _page_params())
def test_python_blocks_run(page, tmp_path, monkeypatch):
    (tmp_path / "examples").mkdir()
    for source in [*ROOT.glob("examples/*.py"), *ROOT.glob("examples/*.toml")]:
        shutil.copy(source, tmp_path / "examples" / source.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "agg")  # plots draw off-screen
    namespace = {"__name__": "__main__"}
    try:
        for number, block in enumerate(python_blocks(page), start=1):
            code = compile(block, f"{page.relative_to(ROOT)}, Python block {number}", "exec")
            exec(code, namespace)
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")


def _toctree_entries(page: Path) -> set[str]:
    """The documents named in the toctrees of a Markdown (MyST) or rst page."""
    text = page.read_text(encoding="utf-8")
    entries = set()
    markdown = r"```\{toctree\}\n(.*?)```"
    rst = r"\.\. toctree::\n((?:[ \t]+.*\n|\n)*)"
    for body in re.findall(markdown, text, re.S) + re.findall(rst, text):
        for line in body.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                entries.add(line)
    return entries


def test_every_guide_page_is_in_the_guide_toctree():
    index = next(GUIDE.glob("index.*"))
    listed = _toctree_entries(index)
    pages = {page.stem for page in GUIDE_PAGES if page.stem != "index"}
    assert pages == listed


def test_the_front_page_links_the_guide_the_api_and_the_gallery():
    assert {"user_guide/index", "api", "auto_examples/index"} <= _toctree_entries(
        next(DOCS.glob("index.*"))
    )


def test_every_public_name_is_in_the_api_reference():
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", api, re.M))
    assert set(sk_kerasbag.__all__) - {"__version__"} <= listed
    assert {"basic_cnn", "dense_net", "run_experiment", "load_experiment"} <= listed


def test_the_readme_links_point_to_files_in_the_repository():
    links = re.findall(r"\]\(([^)#]+)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    relative = [link for link in links if "://" not in link]
    assert len(relative) >= 10
    assert [link for link in relative if not (ROOT / link).exists()] == []
