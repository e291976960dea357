"""The ``ecgdiff`` command line on a real LUDB record with a tiny prior trained in the session (``ludb_run``):
the same millivolts from the WFDB record and its CSV and EDF conversions, the exactness of the millivolt chain,
every subcommand's files, clear errors, the stitching weights and the progress lines."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from record_fixtures import ludb_root, write_csv, write_edf

from ecgdiff import cli, progress
from ecgdiff.data.readers import read_record
from ecgdiff.reconstruct import blend_weights, stitch

pytest.importorskip("pyedflib", reason="EDF files are read with pyedflib (requirements.txt)")

RECORD = "40"  # LUDB record 40: sinus rhythm, 9 beats kept of 11
FAST = ["--samples", "4", "--steps", "3", "--particles", "3", "--noise-iterations", "1", "--noise-runs", "1"]
FAST += ["--noise-particles", "3", "--quiet"]


@pytest.fixture(scope="module")
def record_files(physionet_mirror, tmp_path_factory):
    """The WFDB record (the shared copy, as it is) and its CSV and EDF conversions."""
    hea = ludb_root(physionet_mirror) / "data" / f"{RECORD}.hea"
    rec = read_record(hea)
    folder = tmp_path_factory.mktemp("records")
    return {
        "wfdb": hea,
        "csv": write_csv(hea.with_suffix(""), folder / f"{RECORD}.csv"),
        "edf": write_edf(hea.with_suffix(""), folder / f"{RECORD}.edf", sex=rec.sex, age=int(rec.age)),
        "age": rec.age,
        "sex": rec.sex,
    }


def run(args, capsys=None):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr() if capsys is not None else None
    return code, captured


def test_help_lists_every_subcommand():
    done = subprocess.run([sys.executable, "-m", "ecgdiff", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for command in cli.COMMANDS:
        assert command in done.stdout
    script = Path(sys.executable).parent / "ecgdiff"
    if script.exists() or shutil.which("ecgdiff"):  # the console script of an installed package
        done = subprocess.run([str(script) if script.exists() else "ecgdiff", "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and all(c in done.stdout for c in cli.COMMANDS)


def test_reconstruct_gives_the_same_millivolts_from_wfdb_csv_and_edf(ludb_run, record_files, tmp_path, capsys):
    prior = ludb_run / "models" / "prior_conditional.pt"
    outputs = {}
    for fmt in ("wfdb", "csv", "edf"):
        extra = ["--fs", "500", "--age", record_files["age"], "--sex", record_files["sex"]] if fmt == "csv" else []
        out = tmp_path / fmt
        code, cap = run(
            ["reconstruct", record_files[fmt], "--observed", "I", "--prior", prior, "--out", out, *FAST, *extra], capsys
        )
        assert code == 0, cap.err
        assert "inferred millivolt scales" in cap.out
        outputs[fmt] = out
    stitched = {f: pd.read_csv(o / f"{RECORD}_reconstruct.csv") for f, o in outputs.items()}
    beats = {f: pd.read_csv(o / f"{RECORD}_reconstruct_beats.csv") for f, o in outputs.items()}
    ref = stitched["wfdb"]
    assert [c for c in ref.columns if c.endswith("_mean")] == [f"{n}_mean" for n in cli.L.STANDARD_12[1:]]
    for fmt in ("csv", "edf"):
        assert list(stitched[fmt].columns) == list(ref.columns)
        np.testing.assert_allclose(stitched[fmt].to_numpy(float), ref.to_numpy(float), atol=1e-6, equal_nan=True)
        b, r = beats[fmt], beats["wfdb"]
        np.testing.assert_allclose(
            b.select_dtypes("number").to_numpy(), r.select_dtypes("number").to_numpy(), atol=1e-6
        )
    # the WFDB output reads back to the CSV's millivolts (1 nV resolution)
    w = wfdb.rdrecord(str(outputs["wfdb"] / f"{RECORD}_reconstruct"))
    assert w.units[0] == "mV" and w.fs == 250 and w.sig_name[:4] == ["I", "II", "II low", "II high"]
    np.testing.assert_allclose(w.p_signal[:, 1], ref["II_mean"], atol=2e-6, equal_nan=True)
    assert np.isnan(ref["II_mean"].iloc[0]) and ref["covered"].sum() > 0.6 * len(ref)
    mean, lo, hi = (ref[f"V2_{k}"].to_numpy() for k in ("mean", "low", "high"))
    ok = np.isfinite(mean)
    assert np.all(lo[ok] <= mean[ok] + 1e-9) and np.all(mean[ok] <= hi[ok] + 1e-9)
    for ext in ("png", "pdf", "json", "hea", "dat"):
        assert (outputs["wfdb"] / f"{RECORD}_reconstruct.{ext}").stat().st_size > 0


def test_a_lead_the_observed_leads_determine_comes_back_exactly(ludb_run, record_files, tmp_path, capsys):
    """Observed I and II, noise-free: the prior's aVL, aVR, aVF are observed exactly and their scales measured, so the
    reconstructed III must be II - I of the observed leads in millivolts, with a band of zero width: the whole
    chain (normalisation, scales, derivation, stitching) is exact."""
    prior = ludb_run / "models" / "prior_conditional.pt"
    code, cap = run(
        ["reconstruct", record_files["wfdb"], "--observed", "I,II", "--missing", "III", "--prior", prior]
        + ["--out", tmp_path, "--sigma", "0", *FAST],
        capsys,
    )
    assert code == 0, cap.err
    t = pd.read_csv(tmp_path / f"{RECORD}_reconstruct.csv")
    assert [c for c in t.columns if c.endswith("_mean")] == ["III_mean"]
    ok = t["covered"].to_numpy(bool)
    np.testing.assert_allclose(t.loc[ok, "III_mean"], (t["II_observed"] - t["I_observed"])[ok], atol=1e-5)
    np.testing.assert_allclose(t.loc[ok, "III_high"] - t.loc[ok, "III_low"], 0, atol=1e-5)


def test_missing_leads_option_and_mask_observation(ludb_run, record_files, tmp_path, capsys):
    prior = ludb_run / "models" / "prior_conditional.pt"
    code, cap = run(
        ["reconstruct", record_files["wfdb"], "--missing", "V1..V3", "--prior", prior, "--out", tmp_path, *FAST], capsys
    )
    assert code == 0, cap.err
    import json

    summary = json.loads((tmp_path / f"{RECORD}_reconstruct.json").read_text())
    assert summary["reconstructed"] == ["V1", "V2", "V3"] and summary["observation"] == "mask"
    assert summary["observed"] == ["I", "II", "III", "aVR", "aVL", "aVF", "V4", "V5", "V6"]
    assert summary["scales_inferred"] == ["V1", "V2", "V3"]
    assert set(summary["against_record"]) == {"V1", "V2", "V3"}


def test_denoise_anomaly_qt_and_info_write_their_files(ludb_run, record_files, tmp_path, capsys):
    prior = ludb_run / "models" / "prior_conditional.pt"
    rec = record_files["wfdb"]
    code, cap = run(
        ["denoise", rec, "--prior", prior, "--out", tmp_path, "--report", tmp_path / "d.html", *FAST], capsys
    )
    assert code == 0, cap.err
    noise = pd.read_csv(tmp_path / f"{RECORD}_denoise_noise.csv")
    assert len(noise) == 9 * 9 and (noise["noise_sd_mV"] > 0).all()
    np.testing.assert_allclose(noise["noise_sd_mV"], noise["noise_sd_normalised"] * noise["scale_mV"])
    html = (tmp_path / "d.html").read_text()
    assert html.count("data:image/png;base64,") >= 1 and "http" not in html.replace("http-equiv", "")

    code, cap = run(["anomaly", rec, "--prior", prior, "--out", tmp_path, "--reference-patients", "3", *FAST], capsys)
    assert code == 0, cap.err
    a = pd.read_csv(tmp_path / f"{RECORD}_anomaly.csv")
    assert len(a) == 9 and (a["distance"] > 0).all() and a["reference_percentile"].between(0, 100).all()
    assert [c for c in a.columns if c.startswith("st_mV_")] == [f"st_mV_V{k}" for k in range(1, 7)]
    assert "percentile of 3 healthy reference patients" in cap.out
    assert (tmp_path / f"{RECORD}_anomaly_st.png").exists() and (tmp_path / f"{RECORD}_anomaly_reference.pdf").exists()

    code, cap = run(["qt", rec, "--prior", prior, "--out", tmp_path, "--no-rr-grid", *FAST], capsys)
    assert code == 0, cap.err
    q = pd.read_csv(tmp_path / f"{RECORD}_qt.csv")
    assert len(q) == 9 and q["qt_real_ms"].between(250, 550).all()

    code, cap = run(["info", rec], capsys)
    assert code == 0
    assert "9 kept of 11 R peaks" in cap.out and "first beat (no preceding RR interval)" in cap.out
    assert "leaves the record" in cap.out and "age       " in cap.out


def test_errors_name_what_is_missing(ludb_run, record_files, tmp_path, capsys):
    prior = ludb_run / "models" / "prior_conditional.pt"
    code, cap = run(
        ["reconstruct", record_files["csv"], "--fs", "500", "--observed", "I", "--prior", prior, *FAST], capsys
    )
    assert code == 2 and "gives no age or sex" in cap.err and "--age and --sex" in cap.err
    code, cap = run(["reconstruct", record_files["csv"], "--observed", "I", "--prior", prior, *FAST], capsys)
    assert code == 2 and "pass fs / --fs" in cap.err
    code, cap = run(["reconstruct", record_files["wfdb"], "--observed", "I", "--prior", tmp_path / "none.pt"], capsys)
    assert code == 2 and "none.pt not found" in cap.err
    code, cap = run(
        ["reconstruct", record_files["wfdb"], "--observed", "I", "--prior", prior, "--beats", tmp_path, *FAST], capsys
    )
    assert code == 2 and "beat database" in cap.err and "--beats" in cap.err
    with pytest.raises(SystemExit):
        cli.main(["reconstruct", str(record_files["wfdb"]), "--observed", "V9", "--prior", str(prior)])
    assert cli.parse_leads("I,V1..V3") == ("I", "V1", "V2", "V3")


def test_stitching_is_a_partition_of_unity():
    w = blend_weights(176, 25)
    assert w.min() > 0 and w.max() == 1 and np.allclose(w[25:-25], 1) and np.allclose(w[:25], w[::-1][:25])
    t = np.arange(1000, dtype=float)
    signal = np.sin(t / 30)[None]
    r = np.array([100, 250, 700])  # beats 1-2 overlap; 2-3 leave a gap
    windows = np.stack([signal[:, a - 48 : a + 128] for a in r])
    out, covered = stitch(windows, r, 48, 1000, 25)
    np.testing.assert_allclose(out[0, covered], signal[0, covered])  # blending copies of one signal returns it
    assert not covered[: 100 - 48].any() and np.isnan(out[0, : 100 - 48]).all() and np.isnan(out[0, 700 + 128 :]).all()
    gap = np.arange(250 + 128, 700 - 48)
    np.testing.assert_allclose(
        out[0, gap], np.interp(gap, [gap[0] - 1, gap[-1] + 1], signal[0, [gap[0] - 1, gap[-1] + 1]])
    )
    two = np.stack([np.zeros((1, 176)), np.ones((1, 176))])
    mix, _ = stitch(two, np.array([100, 150]), 48, 400, 25)
    inside = mix[0, 150 - 48 : 100 + 128]
    assert np.all((inside >= 0) & (inside <= 1)) and inside[0] < 0.01 and inside[-1] > 0.99  # weights sum to 1


def test_progress_lines_in_the_log_when_not_a_terminal(monkeypatch, caplog):
    monkeypatch.setenv("ECGDIFF_PROGRESS", "log")
    with caplog.at_level(logging.INFO, logger="ecgdiff.progress"):
        with progress.bar(total=3, desc="beats ludb", unit="records", interval_s=0) as bar:
            for _ in range(3):
                bar.update(1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("beats ludb: 0/3 records (0%)") and lines[-1].startswith(
        "beats ludb: 3/3 records (100%)"
    )
    assert all("<" in ln and "records/s" in ln for ln in lines[1:])  # elapsed<remaining and the rate
    assert len(lines) == 4  # one line per count, the closing refresh not repeated
    assert progress.eta(1, 4, 10.0) == "00:30" and progress.eta(0, 4, 1.0) == "?"


def test_library_reconstruction_at_the_rhythm_rate(ludb_run, ludb_db, record_files):
    """``reconstruct_beatwise`` as the rhythm tables call it, resampled to their 100 Hz."""
    from ecgdiff.data.scales import LeadScales
    from ecgdiff.diffusion.prior import load_prior
    from ecgdiff.reconstruct import Sampling, reconstruct_beatwise

    prior = load_prior(ludb_run / "models" / "prior_conditional.pt", device="cpu")
    rec = read_record(record_files["wfdb"])
    sampling = Sampling(options={"steps": 3, "particles": 3}, n_samples=3, sigma=0.0, batch_beats=5)
    with pytest.raises(ValueError, match="scale of V1, V2, V3, V4, V5, V6 is not measured by I, II"):
        reconstruct_beatwise(rec, prior, ["I", "II"], missing=["V1"], sampling=sampling, show_progress=False)
    scales = LeadScales.from_database(ludb_db)
    r = reconstruct_beatwise(
        rec, prior, ["I", "II"], missing=["III", "V1"], scales=scales, sampling=sampling, show_progress=False
    )
    assert r.leads == ("III", "V1") and r.plan.mode == "mask" and r.scale_inferred == leads_precordial()
    assert r.mean.shape == (9, 2, 176) and r.scale_model["features"] == ["I", "II", "aVL", "aVR", "aVF"]
    mean, low, high = r.stitched_at(100.0)
    assert mean.shape == (2, 1000) and np.isnan(mean[:, 0]).all() and np.isfinite(mean[:, 500]).all()
    for edge in ("zero", "hold"):
        assert np.isfinite(r.stitched_at(100.0, edge=edge)[0]).all()


def leads_precordial():
    return cli.L.PRECORDIAL
