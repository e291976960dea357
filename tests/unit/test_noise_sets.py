"""Noisy rhythm sets and the training-noise sampler (``ecgdiff.data.noise``), on a stub noise array and on the real
NSTDB records."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.signal import resample_poly

from ecgdiff import leads
from ecgdiff.data import noise as nz

N, L, T, LENGTH = 5, 8, 64, 60


@pytest.fixture(scope="module")
def clean():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((N, L, T)), axis=-1) * 0.1
    x[..., LENGTH:] = 0.0
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def stub():
    """Two independent channels, 20 s at 360 Hz (a stand-in with the shape of an NSTDB record)."""
    rng = np.random.default_rng(1)
    return np.cumsum(rng.standard_normal((2, 7200)), axis=-1) * 0.05


def _make(clean, stub, kind="em", seed=0, **kw):
    return nz.make_noisy_set(clean, LENGTH, stub, nz.NSTDB_FS, kind, seed, **kw)


@pytest.mark.parametrize("kind,k", [("em", 1.0), ("bw", 2.0)])
def test_noise_is_k_times_the_lead_peak_to_peak(clean, stub, kind, k):
    s = _make(clean, stub, kind)
    ptp_clean = np.ptp(clean[..., :LENGTH].astype(np.float64), axis=-1)
    np.testing.assert_allclose(s.peak_to_peak, ptp_clean)
    np.testing.assert_allclose(np.ptp(s.noise[..., :LENGTH].astype(np.float64), axis=-1), k * ptp_clean, rtol=1e-5)
    np.testing.assert_allclose(s.noisy, clean + s.noise, atol=1e-6)
    assert np.all(s.noise[..., LENGTH:] == 0) and np.all(s.noisy[..., LENGTH:] == clean[..., LENGTH:])
    assert np.all(s.ratios == k) and np.all(s.channels == 1)


def test_windows_are_resampled_channel_1_at_the_saved_offsets(clean, stub):
    s = _make(clean, stub)
    rs = resample_poly(stub, 5, 18, axis=-1)  # 360 -> 100 Hz
    assert s.manifest["noise_samples"] == rs.shape[1] == 2000
    for i in range(N):
        for j in range(L):
            o = s.offsets[i, j]
            np.testing.assert_allclose(s.noise[i, j, :LENGTH], s.scales[i, j] * rs[1, o : o + LENGTH], rtol=1e-5)


def test_offsets_in_range_and_distinct_per_rhythm(clean, stub):
    s = _make(clean, stub)
    assert s.offsets.min() >= 0 and s.offsets.max() <= 2000 - LENGTH
    assert all(len(set(row)) == L for row in s.offsets.tolist())
    assert len({tuple(r) for r in s.offsets.tolist()}) == N  # every rhythm its own draw


def test_windows_depend_only_on_seed_kind_and_rhythm_id(clean, stub):
    ids = [f"r{i}" for i in range(N)]
    full = _make(clean, stub, rhythm_ids=ids)
    part = nz.make_noisy_set(clean[2:4], LENGTH, stub, nz.NSTDB_FS, "em", 0, rhythm_ids=ids[2:4])
    np.testing.assert_array_equal(part.offsets, full.offsets[2:4])
    assert not np.array_equal(_make(clean, stub, seed=1, rhythm_ids=ids).offsets, full.offsets)


def test_rerun_with_the_same_seed_writes_identical_files(clean, stub, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    nz.save(_make(clean, stub), a)
    nz.save(_make(clean, stub), b)
    for name in ("noisy.npy", "noise.npy", "noise.parquet", "manifest.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    other = tmp_path / "c"
    nz.save(_make(clean, stub, seed=3), other)
    assert (a / "noisy.npy").read_bytes() != (other / "noisy.npy").read_bytes()


def test_save_load_round_trip_and_tamper_check(clean, stub, tmp_path):
    s = _make(clean, stub, "bw", rhythm_ids=[f"ptbxl/{i}" for i in range(N)])
    m = nz.save(s, tmp_path / "set", provenance={"run": "x"})
    back = nz.load(tmp_path / "set")
    for f in ("noisy", "noise", "offsets", "channels", "ratios", "scales", "peak_to_peak"):
        np.testing.assert_array_equal(getattr(back, f), getattr(s, f))
    assert back.rhythm_ids == s.rhythm_ids and back.kind == "bw" and back.data_hash == m["data_hash"]
    assert back.manifest["clean_hash"] == nz.array_hash(clean) and back.manifest["provenance"] == {"run": "x"}
    tab = pd.read_parquet(tmp_path / "set" / "noise.parquet")
    assert list(tab.columns) == ["rhythm", "rhythm_id", "lead", "channel", "offset", "ratio", "scale", "peak_to_peak"]
    arr = np.load(tmp_path / "set" / "noisy.npy")
    arr[0, 0, 0] += 1.0
    np.save(tmp_path / "set" / "noisy.npy", arr)
    with pytest.raises(ValueError, match="noisy.npy has SHA-256"):
        nz.load(tmp_path / "set")


def test_derived_leads_obey_the_lead_laws(clean, stub):
    s = _make(clean, stub)
    x12 = s.twelve_lead()
    idx = {name: i for i, name in enumerate(leads.STANDARD_12)}
    lead_1, lead_2 = x12[:, idx["I"]], x12[:, idx["II"]]
    np.testing.assert_allclose(x12[:, idx["III"]], lead_2 - lead_1, atol=1e-6)
    np.testing.assert_allclose(x12[:, idx["aVR"]], -(lead_1 + lead_2) / 2, atol=1e-6)
    np.testing.assert_allclose(x12[:, idx["aVL"]], lead_1 - lead_2 / 2, atol=1e-6)
    np.testing.assert_allclose(x12[:, idx["aVF"]], lead_2 - lead_1 / 2, atol=1e-6)
    # the derived leads' noise is the derived noise (not an independent window)
    clean12 = leads.derive(clean, leads.BASIS, leads.STANDARD_12)
    np.testing.assert_allclose(x12 - clean12, s.twelve_lead("noise"), atol=1e-5)


def test_bad_inputs_are_named(clean, stub):
    flat = clean.copy()
    flat[3, 4] = 0.25
    with pytest.raises(ValueError, match="rhythm 3 lead V3: flat"):
        _make(flat, stub)
    with pytest.raises(ValueError, match="no test noise ratio for kind 'ma'"):
        _make(clean, stub, "ma")
    with pytest.raises(ValueError, match=r"need \[2, n\]"):
        nz.make_noisy_set(clean, LENGTH, stub[:1], nz.NSTDB_FS, "em", 0)
    with pytest.raises(ValueError, match="does not fit"):
        nz.make_noisy_set(clean, LENGTH, stub[:, :100], nz.NSTDB_FS, "em", 0)
    with pytest.raises(ValueError, match="unknown key"):
        nz.settings_from_config({"chanel": 1})


# ------------------------------------------------------------------ training noise
def _best_match(sig, windows):
    """Largest normalised correlation of ``sig`` with any window (rows of ``windows``)."""
    a = (sig - sig.mean()) / sig.std()
    w = windows - windows.mean(1, keepdims=True)
    w = w / w.std(1, keepdims=True)
    return float((w @ a).max() / len(a))


def test_training_noise_protocol(stub):
    tn = nz.training_noise(stub, "em", seed=0, noise_fs=nz.NSTDB_FS, length=LENGTH)
    rs = resample_poly(stub, 5, 18, axis=-1)
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((16, L, T)), axis=-1) * 0.1
    x[..., LENGTH:] = 0
    out = tn(x, np.random.default_rng(5))
    added = out - x
    assert np.all(added[..., LENGTH:] == 0)
    ratio = np.ptp(added[..., :LENGTH], -1) / np.ptp(x[..., :LENGTH], -1)
    assert ratio.min() >= 0.2 - 1e-9 and ratio.max() <= 2.0 + 1e-9 and ratio.std() > 0.2
    np.testing.assert_allclose(ratio, ratio[:, :1].repeat(L, 1), rtol=1e-6)  # DeScoD: one ratio per example
    per_lead = nz.training_noise(
        stub, "em", noise_fs=nz.NSTDB_FS, length=LENGTH, settings=nz.TrainingNoiseSettings(ratio_per="lead")
    )
    r = np.ptp((per_lead(x, np.random.default_rng(5)) - x)[..., :LENGTH], -1) / np.ptp(x[..., :LENGTH], -1)
    assert r.min() >= 0.2 - 1e-9 and r.max() <= 2.0 + 1e-9 and r.std(axis=1).min() > 0.05
    idx = np.arange(rs.shape[1] - LENGTH + 1)[:, None] + np.arange(LENGTH)
    for b, lead in [(0, 0), (3, 5), (15, 7)]:  # each lead's noise is a window of channel 0, not of channel 1
        assert _best_match(added[b, lead, :LENGTH], rs[0][idx]) > 1 - 1e-9
        assert _best_match(added[b, lead, :LENGTH], rs[1][idx]) < 0.999
    # the same generator state gives the same batch; torch in, torch out
    np.testing.assert_array_equal(tn(x, np.random.default_rng(5)), out)
    xt = torch.tensor(x, dtype=torch.float32)
    ot = tn(xt, np.random.default_rng(5))
    assert isinstance(ot, torch.Tensor) and ot.dtype == torch.float32
    np.testing.assert_allclose(ot.numpy(), out, atol=1e-5)


def test_train_and_test_noise_never_share_samples(clean, stub):
    test = _make(clean, stub)
    train = nz.training_noise(stub, "em", noise_fs=nz.NSTDB_FS, length=LENGTH)
    assert set(np.unique(test.channels)) == {1} and train.channel == 0
    nz.assert_disjoint(test, train)
    same_channel = nz.training_noise(
        stub, "em", noise_fs=nz.NSTDB_FS, length=LENGTH, settings=nz.TrainingNoiseSettings(channel=1)
    )
    with pytest.raises(ValueError, match="overlaps the training noise"):
        nz.assert_disjoint(test, same_channel)
    # DeScoD's original split: the same channel is fine when the spans are disjoint
    first_half = _make(clean, stub, settings=nz.NoisySetSettings(span=(0.0, 0.5)))
    assert first_half.offsets.max() + LENGTH <= 1000
    second_half = nz.training_noise(
        stub, "em", noise_fs=nz.NSTDB_FS, length=LENGTH, settings=nz.TrainingNoiseSettings(channel=1, span=(0.5, 1.0))
    )
    nz.assert_disjoint(first_half, second_half)


def test_settings_disjointness_before_any_test_set(clean, stub):
    nz.assert_settings_disjoint(nz.NoisySetSettings(), nz.TrainingNoiseSettings())  # channels 1 and 0 (the talk's)
    with pytest.raises(ValueError, match="overlaps the test protocol"):
        nz.assert_settings_disjoint(nz.NoisySetSettings(), nz.TrainingNoiseSettings(channel=1))
    with pytest.raises(ValueError, match="overlaps the test protocol"):
        nz.assert_settings_disjoint(
            nz.NoisySetSettings(channel=0, span=(0.4, 1.0)), nz.TrainingNoiseSettings(span=(0.0, 0.5))
        )
    # DeScoD's halves of one channel (touching spans share no sample), either way round
    nz.assert_settings_disjoint(
        nz.NoisySetSettings(channel=0, span=(0.5, 1.0)), nz.TrainingNoiseSettings(span=(0, 0.5))
    )
    nz.assert_settings_disjoint(nz.NoisySetSettings(channel=0, span=(0, 0.5)), nz.TrainingNoiseSettings(span=(0.5, 1)))
    # settings that pass give sets that pass the check on saved offsets; shared settings give a set that fails it
    rng = np.random.default_rng(2)
    for _ in range(20):
        cut = rng.uniform(0.3, 0.7)
        test_st = nz.NoisySetSettings(channel=0, span=(cut, 1.0))
        train_st = nz.TrainingNoiseSettings(span=(rng.uniform(0.0, cut - 0.1), cut))
        nz.assert_settings_disjoint(test_st, train_st)
        train = nz.training_noise(stub, "em", noise_fs=nz.NSTDB_FS, length=LENGTH, settings=train_st)
        nz.assert_disjoint(_make(clean, stub, seed=int(rng.integers(1000)), settings=test_st), train)
    shared = nz.training_noise(stub, "em", noise_fs=nz.NSTDB_FS, length=LENGTH, settings=nz.TrainingNoiseSettings())
    with pytest.raises(ValueError, match="overlaps the training noise"):
        nz.assert_disjoint(_make(clean, stub, settings=nz.NoisySetSettings(channel=0)), shared)


# ------------------------------------------------------------------ the real records
def test_real_nstdb_records(physionet_mirror, clean):
    root = physionet_mirror / "nstdb" / "1.0.0"
    rec = nz.load_noise(root, "em")
    assert rec.signal.shape == (2, 650000) and rec.fs == 360.0 and rec.source == "nstdb/em"
    s = nz.make_noisy_set(clean, LENGTH, rec, None, "em", seed=0)
    assert s.manifest["noise_samples"] == 180556 and s.manifest["noise_source"] == "nstdb/em"
    np.testing.assert_allclose(np.ptp(s.noise[..., :LENGTH], -1), s.peak_to_peak, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown NSTDB noise record"):
        nz.read_nstdb(root, "xx")


def test_simulator_callable_is_accepted(clean):
    calls = []

    def simulate(kind, duration_s, fs, seed):
        calls.append((kind, duration_s, fs, seed))
        return np.random.default_rng(seed).standard_normal((2, int(duration_s * fs)))

    rec = nz.load_noise(simulate, "bw", seed=4, duration_s=30.0)
    assert calls == [("bw", 30.0, 360.0, 4)] and rec.signal.shape == (2, 10800) and "seed=4" in rec.source
    s = nz.make_noisy_set(clean, LENGTH, rec, None, "bw", seed=0)
    np.testing.assert_allclose(np.ptp(s.noise[..., :LENGTH], -1), 2 * s.peak_to_peak, rtol=1e-5)
