"""The guard of shared fits (tests/shared.py) sees every change a test could make."""

import copy

import numpy as np

from sk_kerasbag import BaggedKerasClassifier

from .builders import dense_classifier, three_class_rows
from .shared import fingerprint


def test_a_fingerprint_changes_with_parameters_fitted_attributes_weights_and_files(tmp_path):
    X, y = three_class_rows(40)
    fitted = BaggedKerasClassifier(dense_classifier, n_estimators=1, epochs=1).fit(X, y)
    before = fingerprint(fitted)
    assert fingerprint(fitted) == before
    fitted.predict_proba(X)  # reading changes nothing
    assert fingerprint(fitted) == before

    def set_epochs(est):
        est.set_params(epochs=2)

    def reverse_classes(est):
        est.classes_ = est.classes_[::-1]

    def nudge_a_weight(est):
        weights = est.estimators_[0].get_weights()
        weights[-1] = weights[-1] + 1e-3
        est.estimators_[0].set_weights(weights)

    def extend_a_history(est):
        est.histories_[0]["loss"].append(0.0)

    for change in (set_epochs, reverse_classes, nudge_a_weight, extend_a_history):
        changed = copy.deepcopy(fitted)
        unchanged = fingerprint(changed)
        change(changed)
        assert fingerprint(changed) != unchanged, change.__name__

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "member_01.json").write_text("{}")
    folder = fingerprint(tmp_path / "run")
    (tmp_path / "run" / "member_01.json").write_text('{"epochs": 1}')
    assert fingerprint(tmp_path / "run") != folder
    assert fingerprint((X, y)) != fingerprint((X, np.roll(y, 1)))
