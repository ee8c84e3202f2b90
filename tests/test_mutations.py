"""The mutation list (``tests/mutations.py``) still names lines the library has.

Running the mutations takes most of an hour; this check takes no time, so a
line that moved to another module (or changed its words) is found when it
moves, not when someone next runs the list.
"""

from pathlib import Path

from . import mutations
from .marks import backend_independent

pytestmark = backend_independent  # source text only

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutation_names_one_line_of_its_file_and_existing_test_files():
    problems = []
    for mutation in [*mutations.MUTATIONS, *mutations.SURVIVORS]:
        lines = [line.strip() for line in (ROOT / mutation["file"]).read_text().splitlines()]
        found = lines.count(mutation["original"].strip())
        if found != 1:
            problems.append(f"{mutation['id']}: its line is in {mutation['file']} {found} times")
        for test in mutation["tests"]:
            if not (ROOT / test.split("::")[0]).is_file():
                problems.append(f"{mutation['id']}: no test file {test.split('::')[0]}")
    assert not problems, "\n".join(problems)
    assert len(mutations.MUTATIONS) >= 20  # the floor: a list that shrank would pass
