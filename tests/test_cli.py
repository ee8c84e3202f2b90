"""The sk-kerasbag command line: the demo end to end, with small settings."""

import json

import numpy as np

from sk_kerasbag import load
from sk_kerasbag.cli import main


def test_demo_prints_statistics_and_writes_artifacts_ensemble_and_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--n-estimators", "2", "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # The statistics table: one row per member, then the aggregates.
    assert "best_epoch" in printed and "held_epoch" in printed and "val_loss" in printed
    for row in ("mean", "std", "min", "max"):
        assert any(line.split()[:1] == [row] for line in printed.splitlines())
    assert "ensemble" in printed and "out-of-bag accuracy" in printed

    artifacts = out / "artifacts"
    for name in ("member_01.keras", "member_02.keras", "statistics.csv", "params.json"):
        assert (artifacts / name).is_file(), name
    assert json.loads((artifacts / "params.json").read_text())["n_estimators"] == 2
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ensemble = load(out / "ensemble")
    assert ensemble.n_estimators == 2 and len(ensemble.estimators_) == 2
    assert str(out) in printed
    assert np.isfinite(ensemble.oob_score_)
