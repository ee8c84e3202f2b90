"""The one way sk_kerasbag names an importable object ("module:qualname") and finds it again.

Persistence writes a saved estimator's class and functions under such names,
an experiment file names its builder so, and pickling asks whether a class is
importable under its module and name: all three go through ``_references``.
"""

import pytest

from sk_kerasbag._references import reference_of, resolve_reference, split_reference

from .marks import backend_independent

pytestmark = backend_independent  # names and imports, no model


class Outer:
    class Inner:
        pass


def test_a_nested_class_round_trips_and_local_functions_have_no_reference():
    reference = reference_of(Outer.Inner)
    assert reference == f"{__name__}:Outer.Inner"
    assert resolve_reference(reference) is Outer.Inner

    def local():
        pass

    assert reference_of(local) is None
    assert reference_of(lambda: 0) is None
    assert reference_of(3) is None  # no module, no qualified name


def test_a_malformed_or_missing_reference_names_the_part_at_fault():
    with pytest.raises(ValueError, match='expected "module:name", got \'no_colon\''):
        split_reference("no_colon")
    with pytest.raises(ValueError, match="module:name"):
        resolve_reference(":Outer")
    with pytest.raises(ModuleNotFoundError, match="no_such_module_for_sk_kerasbag"):
        resolve_reference("no_such_module_for_sk_kerasbag:f")
    with pytest.raises(AttributeError, match="'Outer' has no attribute 'Missing'"):
        resolve_reference(f"{__name__}:Outer.Missing.Deeper")
