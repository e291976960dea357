"""QT measurement (QRS bounds, tangent T end) and the QT-RR laws, on beats whose intervals are known."""

import numpy as np
import pytest

from ecgdiff import qt

FS, N, R = 250.0, 176, 48
Q_ON, QRS_OFF = 38.0, 60.0


def piecewise_beat(
    t_end: float, t_amp: float = 0.3, t_peak: float | None = None, gains=(1.0, -0.6, 0.4), t_gains=(0.5, -1.0, 0.2)
) -> np.ndarray:
    """Beat [3, N]: piecewise-linear QRS (onset Q_ON, offset QRS_OFF) and a triangular T wave ending at t_end.

    The T wave's descending limb is a straight line that meets the baseline (0) exactly at ``t_end``
    (a fractional sample), so the tangent method must return ``t_end`` exactly. Lead 1 has the largest T.
    """
    t = np.arange(N, dtype=float)
    qrs = np.interp(t, [Q_ON, R - 4, R, R + 5, QRS_OFF], [0.0, -0.2, 1.0, -0.3, 0.0])
    t_peak = t_end - 24.0 if t_peak is None else t_peak
    t_on = t_peak - 30.0
    twave = np.interp(t, [t_on, t_peak, t_end], [0.0, t_amp, 0.0], left=0.0, right=0.0)
    return np.stack([g * qrs + tg * twave for g, tg in zip(gains, t_gains)])


def test_tangent_exact_on_linear_descending_limb():
    for t_end in (120.0, 131.37, 150.8):
        beat = piecewise_beat(t_end)
        got, peak = qt.t_end_tangent(beat[1], start=int(QRS_OFF) + 10, fs=FS, baseline=0.0)
        assert got == pytest.approx(t_end, abs=1e-9)
        assert peak == pytest.approx(t_end - 24, abs=1)


def test_tangent_on_gaussian_t_wave_is_mean_plus_two_sd():
    t = np.arange(N, dtype=float)
    m, s = 115.3, 9.0
    x = 0.4 * np.exp(-((t - m) ** 2) / (2 * s**2))
    got, _ = qt.t_end_tangent(x, start=70, fs=FS, baseline=0.0)
    assert got == pytest.approx(m + 2 * s, abs=0.5)
    # inverted T wave: same T end
    got_neg, _ = qt.t_end_tangent(-x + 0.05, start=70, fs=FS, baseline=0.05)
    assert got_neg == pytest.approx(m + 2 * s, abs=0.5)


def test_qrs_bounds_on_piecewise_beat():
    on, off = qt.qrs_bounds(piecewise_beat(130.0), R, FS)
    assert on == pytest.approx(Q_ON, abs=3)  # within 12 ms
    assert off == pytest.approx(QRS_OFF, abs=3)


def test_measure_qt_picks_largest_t_lead_and_measures_exactly():
    beat = piecewise_beat(133.5)
    m = qt.measure_qt(beat, R, FS, q_onset=Q_ON, qrs_offset=QRS_OFF)
    assert m.lead == 1
    assert m.qt_ms == pytest.approx((133.5 - Q_ON) * 1000 / FS, abs=1e-6)


def test_measure_qt_raises_without_t_wave():
    beat = piecewise_beat(130.0, t_amp=0.0)
    with pytest.raises(qt.QTError, match="no T wave"):
        qt.measure_qt(beat, R, FS, q_onset=Q_ON, qrs_offset=QRS_OFF)


GENERATING = {
    "framingham": lambda rr: 0.40 + 0.154 * (1 - rr),
    "bazett": lambda rr: 0.41 * np.sqrt(rr),
    "bazett_offset": lambda rr: 0.25 * np.sqrt(rr) + 0.15,
    "fridericia": lambda rr: 0.40 * np.cbrt(rr),
    "fridericia_offset": lambda rr: 0.30 * np.cbrt(rr) + 0.09,
}


@pytest.mark.parametrize("law", list(GENERATING))
def test_each_law_recovers_its_own_generating_law_from_measured_beats(law):
    rr = np.linspace(0.5, 1.3, 9)
    qt_true = GENERATING[law](rr)
    measured = []
    for q in qt_true:
        beat = piecewise_beat(Q_ON + q * FS)
        measured.append(qt.measure_qt(beat, R, FS, q_onset=Q_ON, qrs_offset=QRS_OFF).qt_ms / 1000)
    np.testing.assert_allclose(measured, qt_true, atol=1e-9)
    fits = {name: qt.fit_qt_law(name, rr, np.array(measured)) for name in qt.QT_LAWS}
    assert fits[law].r2 == pytest.approx(1.0, abs=1e-9)
    if law in ("bazett", "fridericia"):
        assert fits["framingham"].r2 < 0.99  # the laws are distinguishable on this grid


def test_fit_parameters():
    rr = np.linspace(0.6, 1.2, 7)
    fit = qt.fit_qt_law("fridericia_offset", rr, 0.3 * np.cbrt(rr) + 0.09)
    assert fit.params["qtc0"] == pytest.approx(0.3)
    assert fit.params["qtc1"] == pytest.approx(0.09)
    assert qt.fit_qt_law("bazett", rr, 0.41 * np.sqrt(rr)).params["qtc"] == pytest.approx(0.41)
    with pytest.raises(ValueError, match="unknown QT law"):
        qt.fit_qt_law("hodges", rr, rr)
