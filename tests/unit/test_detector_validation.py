"""R-peak detector scoring: hand-made cases, and the detector on real records of the PhysioNet mirror."""

import os
from pathlib import Path

import numpy as np
import pytest

from ecgdiff.data.beats import BeatParams
from ecgdiff.validation import detector as D


def mirror() -> Path | None:
    """First existing of $ECGDIFF_PHYSIONET_MIRROR and <repo>/../shared/physionet."""
    for c in (
        os.environ.get("ECGDIFF_PHYSIONET_MIRROR"),
        Path(__file__).resolve().parents[2] / ".." / "shared" / "physionet",
    ):
        if c and Path(c).is_dir():
            return Path(c).resolve()
    return None


@pytest.fixture(scope="module")
def physionet():
    root = mirror()
    if root is None:
        pytest.skip("no PhysioNet mirror (set ECGDIFF_PHYSIONET_MIRROR)")
    return root


def test_match_beats_by_hand():
    ref = np.array([100, 200, 300, 400])
    det = np.array([105, 190, 260, 330, 410, 500])
    s = D.match_beats(ref, det, tolerance=10)
    # 100<->105, 200<->190, 400<->410; 300 has no detection within 10; 260, 330, 500 match nothing
    assert (s.tp, s.fn, s.fp) == (3, 1, 3)
    assert s.sensitivity == pytest.approx(3 / 4) and s.ppv == pytest.approx(3 / 6)


def test_match_is_one_to_one():
    s = D.match_beats(np.array([100, 110]), np.array([105]), tolerance=10)
    assert (s.tp, s.fn, s.fp) == (1, 1, 0)
    s = D.match_beats(np.array([100]), np.array([95, 104]), tolerance=10)
    assert (s.tp, s.fn, s.fp) == (1, 0, 1)
    # the earliest-first rule still finds the maximum matching: 100<->95, 112<->118
    s = D.match_beats(np.array([100, 112]), np.array([95, 118]), tolerance=10)
    assert s.tp == 2


def test_span_and_empty_cases():
    s = D.match_beats(np.array([50, 100, 200]), np.array([10, 100, 190, 400]), tolerance=10, span=(60, 300))
    assert (s.tp, s.fn, s.fp) == (2, 0, 0)
    e = D.match_beats(np.array([], int), np.array([], int), 10)
    assert (e.tp, e.fn, e.fp) == (0, 0, 0) and np.isnan(e.sensitivity)
    assert (D.Score(1, 2, 3) + D.Score(4, 5, 6)) == D.Score(5, 7, 9)


def test_median_offset_and_alignment():
    ref = np.arange(100, 2000, 200)
    det = ref + 30  # a consistent fiducial offset of 30 samples
    assert D.median_offset(ref, det, window=50) == 30
    assert D.match_beats(ref, det, 10).tp == 0
    assert D.match_beats(ref, det - 30, 10).tp == len(ref)
    assert np.isnan(D.median_offset(ref, det + 100, window=50))


def test_summary_pools_beats():
    import pandas as pd

    rows = pd.DataFrame(
        [
            {
                "database": "x",
                "record": "1",
                "n_reference": 10,
                "n_detected": 10,
                "tp": 9,
                "fn": 1,
                "fp": 1,
                "sensitivity": 0.9,
                "ppv": 0.9,
                "offset_ms": 2.0,
                "tp_aligned": 9,
                "fn_aligned": 1,
                "fp_aligned": 1,
                "sensitivity_aligned": 0.9,
                "ppv_aligned": 0.9,
            },
            {
                "database": "x",
                "record": "2",
                "n_reference": 90,
                "n_detected": 90,
                "tp": 90,
                "fn": 0,
                "fp": 0,
                "sensitivity": 1.0,
                "ppv": 1.0,
                "offset_ms": -4.0,
                "tp_aligned": 90,
                "fn_aligned": 0,
                "fp_aligned": 0,
                "sensitivity_aligned": 1.0,
                "ppv_aligned": 1.0,
            },
        ]
    )
    s = D.summarise(rows).iloc[0]
    assert s["sensitivity_pct"] == pytest.approx(99.0) and s["ppv_pct"] == pytest.approx(99.0)
    assert s["records_below_99pct"] == 1 and s["median_abs_offset_ms"] == pytest.approx(3.0)


# ----------------------------------------------------------------------------- real records
def _score_segment(physionet, db, record, seconds):
    import wfdb

    root = physionet / {"mitdb": "mitdb/1.0.0", "qtdb": "qtdb/1.0.0"}[db]
    fs = float(wfdb.rdheader(str(root / record)).fs)
    n = int(seconds * fs)
    x = wfdb.rdrecord(str(root / record), sampto=n).p_signal.T
    ref = D.reference_record(db, root, record).beats
    det = D.detect_peaks(x, fs, BeatParams())
    edge = int(0.3 * fs)
    return D.match_beats(ref[ref < n], det, int(0.05 * fs), span=(edge, n - 1 - edge))


def test_detector_on_mitdb_100(physionet):
    s = _score_segment(physionet, "mitdb", "100", 120)
    assert s.tp + s.fn > 130 and s.sensitivity >= 0.99 and s.ppv >= 0.99


def test_detector_on_qtdb_sel100(physionet):
    s = _score_segment(physionet, "qtdb", "sel100", 120)
    assert s.tp + s.fn > 130 and s.sensitivity >= 0.99 and s.ppv >= 0.99


def test_detector_on_ludb_records(physionet):
    df = D.validate("ludb", physionet / "ludb/1.0.1", BeatParams(), records=["1", "2", "3", "4", "5"])
    assert len(df) == 5 and df["n_reference"].min() >= 5
    assert df["tp"].sum() / df["n_reference"].sum() >= 0.97
    assert df["tp_aligned"].sum() / (df["tp_aligned"] + df["fp_aligned"]).sum() >= 0.97


def test_qtdb_records_without_atr_use_the_manual_marks(physionet):
    ref = D.reference_record("qtdb", physionet / "qtdb/1.0.0", "sel30", tolerance=12)
    assert ref.reference == "q1c" and len(ref.beats) == 30
    assert ref.span[0] < ref.beats.min() - 12 + 1 and ref.span[1] > ref.beats.max()
    whole = D.reference_record("mitdb", physionet / "mitdb/1.0.0", "100", tolerance=18)
    assert whole.reference == "atr" and whole.span == (108, whole.signal.shape[1] - 1 - 108)


def test_matcher_equals_wfdb_compare_annotations_on_beat_like_annotations():
    """On annotation sets whose beats are further apart than twice the tolerance (every ECG: R-R >= 250 ms, tolerance
    50 ms), our matcher scores exactly as ``wfdb.processing.compare_annotations`` (whose window is exclusive:
    ``|ref - test| < window``); on dense sets ours finds the maximum matching and wfdb's greedy closest match never
    finds more."""
    import wfdb.processing

    rng = np.random.default_rng(0)
    for _ in range(100):
        ref = np.cumsum(rng.integers(90, 300, 80))  # 360 Hz: R-R 250-830 ms
        keep = rng.random(80) > 0.05
        det = np.sort(np.concatenate([ref[keep] + rng.integers(-25, 26, keep.sum()), rng.choice(ref.max(), 3)]))
        ours = D.match_beats(ref, det, 18)
        theirs = wfdb.processing.compare_annotations(ref, det, 18 + 1)
        assert (ours.tp, ours.fn, ours.fp) == (theirs.tp, theirs.fn, theirs.fp)
    for _ in range(100):
        ref = np.sort(rng.choice(100_000, 80, replace=False))
        keep = rng.random(80) > 0.1
        det = np.sort(np.concatenate([ref[keep] + rng.integers(-20, 21, keep.sum()), rng.choice(100_000, 5)]))
        tol = int(rng.integers(5, 25))
        assert D.match_beats(ref, det, tol).tp >= wfdb.processing.compare_annotations(ref, det, tol + 1).tp
