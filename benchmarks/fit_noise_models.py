"""Fit the simulated NSTDB noise (``ecgdiff.data.synthetic_noise``) to the real records and compare them.

    OMP_NUM_THREADS=1 python benchmarks/fit_noise_models.py [--mirror ../shared/physionet] [--write]
        [--seeds 10] [--out results/benchmarks/fit_noise_models.json]

Reads ``nstdb/1.0.0/bw`` and ``em`` (2 channels, 360 Hz, 30 min) with wfdb, fits every channel
(``synthetic_noise.fit_channel``: binned Welch PSD, envelope of the part above 0.7 Hz), and prints, real
against simulated (30-min simulations at 360 Hz, mean and sd over ``--seeds`` seeds): the share of the power
in 0-0.5, 0.5-1, 1-5, 5-20, 20-50 Hz, the sd and amplitude quantiles (0.5, 5, 25, 50, 75, 95, 99.5 %), the
excess kurtosis, the envelope statistics (sd of the 1-s log-RMS above 0.7 Hz, its autocorrelation at lags
1, 10, 30 s) and the mean magnitude-squared coherence of the two channels below 50 Hz. ``--write`` replaces
the fitted constants of ``src/ecgdiff/data/synthetic_noise.py`` (between its ``BEGIN FITTED`` and
``END FITTED`` lines); without it the constants there are compared as they are and the refitted ones
printed. Writes JSON.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
from scipy import signal as sps  # noqa: E402
from scipy import stats  # noqa: E402

from ecgdiff.data import synthetic_noise as N  # noqa: E402
from ecgdiff.io import write_json, write_text  # noqa: E402

QUANTILES = (0.5, 5, 25, 50, 75, 95, 99.5)
MODULE = REPO / "src" / "ecgdiff" / "data" / "synthetic_noise.py"


def describe(x: np.ndarray, fs: float) -> dict:
    """The compared statistics of one channel."""
    x = np.asarray(x, float) - np.mean(x)
    var, acov = N.log_rms_autocovariance(N.high_part(x, fs), fs)
    return {
        "fractions": N.band_fractions(x, fs).tolist(),
        "sd_mv": float(np.std(x)),
        "quantiles_mv": np.percentile(x, QUANTILES).tolist(),
        "kurtosis": float(stats.kurtosis(x)),
        "envelope_sd": float(np.sqrt(var)),
        "envelope_acf_1_10_30": [float(acov[k - 1] / var) for k in (1, 10, 30)],
    }


def coherence(x: np.ndarray, fs: float) -> float:
    f, c = sps.coherence(x[0], x[1], fs=fs, nperseg=4096)
    return float(np.mean(c[(f > 0) & (f < 50)]))


def _numbers(values: list[float], indent: int) -> str:
    """A tuple literal of ``values`` wrapped at 120 characters, continuation lines indented by ``indent``."""
    body = textwrap.wrap(", ".join(repr(float(v)) for v in values), width=118 - indent)
    return "(" + ("\n" + " " * (indent + 1)).join(body) + ")"


def block(models: dict, targets: dict) -> str:
    """The fitted-constants block of the module (kept out of ``ruff format``: one bin per line is unreadable)."""
    lines = [
        "# BEGIN FITTED (written by `python benchmarks/fit_noise_models.py --write` from nstdb 1.0.0 bw and em)",
        "# fmt: off",
        "#: Per kind, per channel: ``psd`` (mV^2/Hz per bin of :data:`BIN_EDGES`), ``sigma`` and ``tau_s`` of the",
        "#: envelope of the part above :data:`CROSSOVER_HZ`.",
        "MODELS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {",
    ]
    for kind, chans in models.items():
        lines.append(f'    "{kind}": (')
        for m in chans:
            lines.append(f'        {{"sigma": {m["sigma"]!r}, "tau_s": {m["tau_s"]!r},')
            lines.append(f'         "psd": {_numbers(m["psd"], 16)}}},')
        lines.append("    ),")
    lines += [
        "}",
        "#: Per kind, per channel, the real record's numbers the simulation must reproduce: ``fractions`` (share of",
        "#: the power in each of :data:`BANDS`, Welch PSD as in the fit) and ``sd_mv``.",
        "TARGETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {",
    ]
    for kind, chans in targets.items():
        lines.append(f'    "{kind}": (')
        for t in chans:
            lines.append(f'        {{"sd_mv": {t["sd_mv"]!r}, "fractions": {_numbers(t["fractions"], 22)}}},')
        lines.append("    ),")
    lines += ["}", "# fmt: on", "# END FITTED", ""]
    return "\n".join(lines)


def main() -> None:
    import wfdb

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "physionet")
    ap.add_argument("--write", action="store_true", help="write the fitted constants into the module")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "fit_noise_models.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    real, models, targets = {}, {}, {}
    for kind in N.KINDS:
        rec = wfdb.rdrecord(str(args.mirror / "nstdb" / "1.0.0" / kind))
        if rec.fs != N.NSTDB_FS or rec.p_signal.shape[1] != 2:
            raise SystemExit(f"nstdb {kind}: expected 2 channels at 360 Hz, got {rec.p_signal.shape[1]} at {rec.fs}")
        real[kind] = rec.p_signal.T
        fits = [N.fit_channel(real[kind][c], N.NSTDB_FS, np.random.default_rng(c)) for c in range(2)]
        models[kind] = [m for m, _ in fits]
        targets[kind] = [t for _, t in fits]
    if args.write:
        text = MODULE.read_text()
        new = re.sub(r"# BEGIN FITTED.*?# END FITTED\n", lambda _: block(models, targets), text, flags=re.S)
        write_text(MODULE, new)
        print(f"wrote the fitted constants into {MODULE.relative_to(REPO)}")
    else:
        models = {k: list(v) for k, v in N.MODELS.items()}
        print(block(models, targets))
    report: dict = {"seeds": args.seeds, "kinds": {}}
    n = real["bw"].shape[1]
    for kind in N.KINDS:
        report["kinds"][kind] = {"coherence_real": coherence(real[kind], N.NSTDB_FS), "channels": []}
        sims = []
        for s in range(args.seeds):
            streams = np.random.SeedSequence([s, 0x4E57, N.KINDS.index(kind)]).spawn(2)
            sims.append(
                np.stack(
                    [
                        N.simulate_channel(models[kind][c], n, N.NSTDB_FS, np.random.default_rng(streams[c]))
                        for c in (0, 1)
                    ]
                )
            )
        report["kinds"][kind]["coherence_simulated"] = float(np.mean([coherence(x, N.NSTDB_FS) for x in sims]))
        for c in range(2):
            r = describe(real[kind][c], N.NSTDB_FS)
            d = [describe(x[c], N.NSTDB_FS) for x in sims]
            sim = {k: np.mean([v[k] for v in d], axis=0).tolist() for k in r}
            sim_sd = {k: np.std([v[k] for v in d], axis=0).tolist() for k in r}
            report["kinds"][kind]["channels"].append({"real": r, "simulated_mean": sim, "simulated_sd": sim_sd})
            print(f"\n{kind} channel {c}   real | simulated mean +- sd over {args.seeds} seeds")
            for key in r:
                rv, sv, ss = np.atleast_1d(r[key]), np.atleast_1d(sim[key]), np.atleast_1d(sim_sd[key])
                cells = "  ".join(f"{a:8.4f} | {b:8.4f} +- {e:6.4f}" for a, b, e in zip(rv, sv, ss))
                print(f"  {key:22s} {cells}")
        print(
            f"{kind}: coherence of the channels below 50 Hz: real {report['kinds'][kind]['coherence_real']:.3f}, "
            f"simulated {report['kinds'][kind]['coherence_simulated']:.3f}"
        )
    report["bands_hz"] = [list(b) for b in N.BANDS]
    report["quantiles_pct"] = list(QUANTILES)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(args.out, report)
    print(f"\n{report['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
