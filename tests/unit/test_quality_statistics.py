"""The statistics the quality checks threshold (ecgdiff.data.quality) against hand-computed cases, and
check_beats' verdicts as thresholds of beat_statistics."""

from __future__ import annotations

import numpy as np

from ecgdiff import leads as L
from ecgdiff.data import quality
from ecgdiff.data.records import Record


def test_plateau_counts_and_rail_run_by_hand():
    x = np.zeros(100)
    for start in (10, 30, 50):  # three plateaus of 5 samples at the maximum 1.0
        x[start : start + 5] = 1.0
    x[70:72] = -2.0  # one of 2 samples at the minimum: shorter than 4 samples (8 ms at 500 Hz)
    assert quality.plateau_counts(x, 500.0, 0.008) == {"maximum": 3, "minimum": 0}
    assert quality.plateau_counts(x, 500.0, 0.004) == {"maximum": 3, "minimum": 1}  # 2 samples is enough
    assert quality.rail_run(x, 1.0) == 5
    assert quality.rail_run(x, 3.0) == 0


def test_lead_law_correlations_and_violations():
    rng = np.random.default_rng(0)
    basis = np.vstack([rng.normal(size=(2, 500)), np.zeros((6, 500))])
    limb = L.derive(basis, L.BASIS, L.LIMB)
    rec = Record("r", "p", "test", 500.0, limb, L.LIMB)
    corr = quality.lead_law_correlations(rec)
    assert sorted(n for n, _ in corr) == sorted(L.LIMB)
    assert all(c > 0.999 for _, c in corr)
    assert quality.lead_law_violations(rec) == []
    bad = limb.copy()
    bad[L.LIMB.index("aVL")] *= -1
    rec = Record("r", "p", "test", 500.0, bad, L.LIMB)
    corr = quality.lead_law_correlations(rec)
    assert corr[0][0] == "aVL" and corr[0][1] < 0
    assert [c for c in corr if c[1] < 0.0] == quality.lead_law_violations(rec, 0.0)


def test_check_beats_thresholds_beat_statistics():
    rng = np.random.default_rng(1)
    fs, before, qrs = 250.0, 48, (-15, 15)
    y = rng.normal(size=(12, 2500))
    peaks = np.arange(200, 2300, 200)
    windows = np.stack([y[:9, p - before : p + 128] for p in peaks])  # white noise: no repeating beat
    rec = Record("r", "p", "test", fs, y, L.STANDARD_12)
    stats = quality.beat_statistics(rec, windows, windows, y, peaks, fs, qrs, before)
    assert abs(stats["joint_corr"]) < 0.2 and np.all(np.abs(stats["lead_corr"]) < 0.5)
    assert stats["limb_recorded"] == 6 and stats["swap_gain"] is not None
    reasons = quality.check_beats(rec, L.PAPER_9, windows, windows, y, peaks, fs, qrs, before)
    assert any("do not repeat" in r for r in reasons) and any("noise-like" in r for r in reasons)
    loose = quality.QualityParams(template_min_corr=-1.0, lead_min_corr=-1.0, swap_margin=10.0)
    assert quality.check_beats(rec, L.PAPER_9, windows, windows, y, peaks, fs, qrs, before, loose) == []
