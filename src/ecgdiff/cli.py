"""``ecgdiff``: the beat prior of a workflow run applied to a researcher's own ECG recording.

    ecgdiff info RECORD                                   what was read, which beats were kept and why not the others
    ecgdiff reconstruct RECORD --prior P --observed I     the other leads of every beat, in mV (WFDB, CSV, figure)
    ecgdiff reconstruct RECORD --prior P --missing V1..V6
    ecgdiff denoise RECORD --prior P                      noise level of each lead (algorithm 2), denoised beats
    ecgdiff anomaly RECORD --prior P                      MI anomaly distance of V1-V6 given the limb leads, ST in mV
    ecgdiff qt RECORD --prior P                           QT of each beat from the posterior at the patient's RR

``RECORD``: a WFDB record (``.hea``), a CSV file (one column per lead, the header the lead names; ``--fs``
required) or an EDF/EDF+ file (:func:`ecgdiff.data.readers.read_record`). ``--prior``: a checkpoint of the workflow
(``results/<run>/models/prior_conditional.pt``); its beat database (``results/<run>/data/beats``, found next to it
or given with ``--beats``) gives the beat pipeline's settings and the training beats on which the millivolt scale
of an unrecorded lead is inferred (:mod:`ecgdiff.data.scales`). Outputs go to ``--out`` (default
``ecgdiff-out/``) as ``<record>_<command>.*``; ``--report FILE.html`` adds a self-contained HTML summary. The
library functions behind the commands are :func:`ecgdiff.reconstruct.reconstruct_beatwise` and those of
:mod:`ecgdiff.record_analysis`; defaults are the paper's (MCGdiff, 100 samples, noise levels by 10 EM
iterations: section 3.3), which take minutes per record on a CPU: ``--samples``, ``--steps``, ``--particles`` and
``--noise-iterations`` trade accuracy for time.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__, html_report, provenance
from . import leads as L
from . import record_outputs as out
from .data.readers import FORMATS, ReadError, read_record
from .data.records import RecordError

log = logging.getLogger("ecgdiff.cli")

COMMANDS = ("info", "reconstruct", "denoise", "anomaly", "qt")


class CLIError(Exception):
    """A usage problem the command reports in one line (exit status 2)."""


# ----------------------------------------------------------------------------- arguments
def parse_leads(text: str) -> tuple[str, ...]:
    """``"I,II"``, ``"V1..V6"`` (a range in the standard order) or a mix (``"I,V1..V3"``): canonical lead names."""
    out: list[str] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if ".." in part:
            a, b = (L.canonical(p) for p in part.split("..", 1))
            i, j = L.STANDARD_12.index(a), L.STANDARD_12.index(b)
            if j < i:
                raise L.LeadError(f"lead range {part!r} runs backwards (standard order {', '.join(L.STANDARD_12)})")
            out.extend(L.STANDARD_12[i : j + 1])
        else:
            out.append(L.canonical(part))
    return L.canonical_all(out)


def _option(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecgdiff",
        description="Bayesian reconstruction of ECGs with a diffusion beat prior, on your own recordings.",
        epilog="Run 'ecgdiff COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"ecgdiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    rec = argparse.ArgumentParser(add_help=False)
    g = rec.add_argument_group("record")
    g.add_argument("record", metavar="RECORD", help="WFDB header/record, CSV or EDF/EDF+ file")
    g.add_argument("--format", choices=FORMATS, help="file format (default: from the extension)")
    g.add_argument("--channels", help="channels to use, comma-separated: labels, lead names or LABEL=LEAD")
    g.add_argument("--fs", type=float, help="sampling rate in Hz (required for CSV)")
    g.add_argument("--age", type=float, help="age in years (overrides the file's)")
    g.add_argument("--sex", help="M or F (overrides the file's)")
    g = rec.add_argument_group("output")
    g.add_argument("--out", type=Path, help="output folder (default: ecgdiff-out; info: print only)")
    g.add_argument("--report", type=Path, help="also write a self-contained HTML summary to this file")
    g.add_argument("--quiet", action="store_true", help="no progress output")

    model = argparse.ArgumentParser(add_help=False)
    g = model.add_argument_group("model and sampler")
    g.add_argument(
        "--prior", type=Path, required=True, help="prior checkpoint (results/<run>/models/prior_conditional.pt)"
    )
    g.add_argument("--beats", type=Path, help="its beat database (default: ../data/beats next to the prior's folder)")
    g.add_argument(
        "--sampler", default="mcgdiff", help="posterior sampler (mcgdiff, mgps, dps, pgdm, ddnm, diffpir, reddiff)"
    )
    g.add_argument("--samples", type=int, default=100, help="posterior samples per beat (paper: 100)")
    g.add_argument("--steps", type=int, help="diffusion steps of the sampler (default: the sampler's; MCGdiff 20)")
    g.add_argument("--particles", type=int, help="MCGdiff particles per run (default 50)")
    g.add_argument(
        "--option", type=_option, action="append", default=[], metavar="KEY=VALUE", help="other sampler option"
    )
    g.add_argument("--noise-iterations", type=int, default=10, help="EM iterations of the noise estimation (paper: 10)")
    g.add_argument("--noise-runs", type=int, default=10, help="SMC runs per EM iteration (default 10)")
    g.add_argument("--noise-particles", type=int, default=50, help="particles per SMC run of the noise estimation")
    g.add_argument(
        "--sigma", type=float, help="known noise std of the observed leads (normalised units): no estimation"
    )
    g.add_argument("--batch-beats", type=int, default=16, help="beats per sampler call")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")

    p = sub.add_parser(
        "reconstruct",
        parents=[rec, model],
        help="reconstruct missing leads of every beat (mV)",
        description=_doc("reconstruct"),
    )
    p.add_argument(
        "--observed", type=parse_leads, help="the leads to use, e.g. I or I,II or I,V1..V3 (default: all but --missing)"
    )
    p.add_argument(
        "--missing",
        type=parse_leads,
        help="the leads to reconstruct, e.g. V1..V6 or V1,V3 (default: every standard lead not observed)",
    )
    p.add_argument("--band", type=float, default=0.95, help="central posterior band (default 0.95)")
    p.add_argument("--plot-seconds", type=float, default=10.0, help="seconds of the record in the figure")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser(
        "denoise", parents=[rec, model], help="noise levels per lead and denoised beats", description=_doc("denoise")
    )
    p.set_defaults(func=cmd_denoise)

    p = sub.add_parser(
        "anomaly",
        parents=[rec, model],
        help="MI anomaly distance of V1-V6 given the limb leads",
        description=_doc("anomaly"),
    )
    p.add_argument(
        "--reference",
        type=Path,
        help="anomaly shard folder of a run (default: ../tasks/anomaly next to the prior's folder)",
    )
    p.add_argument(
        "--reference-patients",
        type=int,
        default=50,
        help="when no shards exist: healthy test patients of the beat database to compute the reference on (0: none)",
    )
    p.add_argument("--st-ms", type=float, default=60.0, help="ST deviation at J + this many ms (default 60)")
    p.set_defaults(func=cmd_anomaly)

    p = sub.add_parser(
        "qt", parents=[rec, model], help="QT of each beat from the posterior at its RR", description=_doc("qt")
    )
    p.add_argument(
        "--rr-grid",
        type=lambda t: tuple(float(v) for v in t.split(",")),
        default=(600.0, 750.0, 900.0, 1050.0, 1200.0),
        help="RR values (ms) for the QT-RR laws of one beat (default 600,...,1200)",
    )
    p.add_argument("--no-rr-grid", action="store_true", help="no QT-RR fit")
    p.set_defaults(func=cmd_qt)

    p = sub.add_parser("info", parents=[rec], help="what was read and which beats were kept", description=_doc("info"))
    p.add_argument("--prior", type=Path, help="extract beats in this prior's leads and beat settings")
    p.add_argument("--beats", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_info)
    return parser


_DOCS = {
    "reconstruct": "Reconstruct the missing leads of every beat of RECORD from its observed leads: posterior mean and "
    "band in millivolts, per beat and stitched into the record's timeline (beat windows blended by sin^2 ramps), as WFDB "
    "and CSV, with a figure. A lead whose millivolt scale the observed leads do not measure gets the scale inferred "
    "from them by a log-scale regression on the training beats.",
    "denoise": "Estimate the noise level of each lead of every beat (paper algorithm 2) and draw the denoised beats "
    "(posterior given every sample), in millivolts.",
    "anomaly": "Rescaled Mahalanobis distance of the real V1-V6 from their posterior given the augmented limb leads "
    "(paper 3.3.4), per beat and for the record (median), against healthy patients' distances; ST deviation at "
    "J + 60 ms in millivolts; figure 11 for the median beat.",
    "qt": "QT of every beat from posterior samples given the leads up to the end of the QRS, conditioned on the "
    "beat's RR (paper 3.3.3); QT-RR laws fitted to one beat's posterior over an RR grid.",
    "info": "What was read (leads, rate, duration, units, age and sex) and what the beat pipeline made of it: "
    "the beats kept and the reason each other one was dropped.",
}


def _doc(command: str) -> str:
    return _DOCS[command]


# ----------------------------------------------------------------------------- shared steps
def load_record(args: argparse.Namespace) -> Any:
    channels = [c.strip() for c in args.channels.split(",")] if args.channels else None
    return read_record(args.record, fmt=args.format, channels=channels, fs=args.fs, age=args.age, sex=args.sex)


def default_beats(prior_path: Path) -> Path:
    """``results/<run>/data/beats`` for ``results/<run>/models/<prior>.pt``."""
    return Path(prior_path).resolve().parent.parent / "data" / "beats"


def load_model(args: argparse.Namespace, need_beats: bool = False) -> tuple[Any, Any]:
    """The prior and its beat database (None when absent and not needed)."""
    from .data import dataset
    from .diffusion.prior import load_prior

    if not Path(args.prior).is_file():
        raise CLIError(f"prior checkpoint {args.prior} not found")
    prior = load_prior(args.prior, device=args.device)
    folder = args.beats or default_beats(args.prior)
    db = None
    if (Path(folder) / "manifest.json").is_file():
        db = dataset.load(folder)
        if db.data_hash != prior.data_hash:
            log.warning(
                "beat database %s (data %s) is not the prior's (data %s)",
                folder,
                db.data_hash[:12],
                prior.data_hash[:12],
            )
    elif need_beats or args.beats:
        raise CLIError(
            f"beat database {folder} not found (it gives the training beats the millivolt scales are inferred on): "
            "pass --beats results/<run>/data/beats"
        )
    return prior, db


def sampling_from(args: argparse.Namespace, band: float = 0.95) -> Any:
    from .reconstruct import Sampling

    options = dict(args.option)
    if args.steps is not None:
        options["steps"] = args.steps
    if args.particles is not None:
        options["particles"] = args.particles
    noise = {"iterations": args.noise_iterations, "runs": args.noise_runs, "particles": args.noise_particles}
    try:
        return Sampling(
            sampler=args.sampler,
            options=options,
            n_samples=args.samples,
            noise=noise,
            sigma=args.sigma,
            batch_beats=args.batch_beats,
            seed=args.seed,
            band=((1 - band) / 2, (1 + band) / 2),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise CLIError(str(err).strip("'\"")) from None


def prov(args: argparse.Namespace, record: Any, prior: Any | None = None) -> dict[str, Any]:
    """Provenance of the outputs: the command and its arguments, the prior's data hash and file."""
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}
    label = f"ecgdiff {args.command} on {record.record_id} ({record.meta.get('path')})"
    extra = {"prior": str(args.prior)} if prior is not None else {}
    return provenance.make(
        {"run": "cli", "label": label, **settings},
        data_hash=getattr(prior, "data_hash", None),
        seed=getattr(args, "seed", None),
        **extra,
    )


#: Output folder when ``--out`` is not given.
DEFAULT_OUT = Path("ecgdiff-out")


def stem(args: argparse.Namespace, record: Any, suffix: str = "") -> Path:
    """``<out>/<record>_<command><suffix>``: the common name of a command's files."""
    return Path(args.out or DEFAULT_OUT) / f"{record.record_id}_{args.command}{suffix}"


def record_section(record: Any) -> list[html_report.Item]:
    from .record_analysis import record_info

    info = record_info(record)
    keep = ("path", "format", "leads", "fs", "duration_s", "units", "age", "age_source", "sex", "sex_source")
    return [html_report.Table({k: info[k] for k in keep if k in info})]


def report(args: argparse.Namespace, title: str, sections: list[tuple[str, list[html_report.Item]]], p: dict) -> None:
    if args.report:
        html_report.write(args.report, title, sections, footer=provenance.footer(p))
        print(f"report: {args.report}")


def _print_files(paths: Sequence[Path | str]) -> None:
    for path in paths:
        print(f"  {path}")


# ----------------------------------------------------------------------------- commands
def cmd_reconstruct(args: argparse.Namespace) -> int:
    from .data.scales import LeadScales
    from .reconstruct import beat_params, missing_leads, plan, reconstruct_beatwise

    if args.observed is None and args.missing is None:
        raise CLIError("give --observed LEADS, --missing LEADS or both")
    record = load_record(args)
    if args.observed is not None:
        observed = args.observed
    else:
        observed = tuple(n for n in record.leads if n not in args.missing)
        if not observed:
            raise CLIError(f"every recorded lead ({', '.join(record.leads)}) is among --missing")
    missing = missing_leads(observed, args.missing)
    prior, db = load_model(args)
    p = plan(prior.leads, observed)
    if p.unknown and db is None:
        raise CLIError(
            f"the millivolt scale of {', '.join(p.unknown)} is inferred from the training beats, and no beat database "
            f"was found at {default_beats(args.prior)}: pass --beats results/<run>/data/beats"
        )
    sampling = sampling_from(args, args.band)
    scales = LeadScales.from_database(db, seed=args.seed) if p.unknown else None
    rec = reconstruct_beatwise(
        record,
        prior,
        observed,
        missing=missing,
        scales=scales,
        sampling=sampling,
        params=beat_params(prior, db),
        show_progress=not args.quiet,
    )
    return write_reconstruction(args, record, prior, rec)


def write_reconstruction(args: argparse.Namespace, record: Any, prior: Any, rec: Any) -> int:
    p = prov(args, record, prior)
    s = stem(args, record)
    names = list(rec.observed)
    signals = [rec.stitched_observed]
    for k, lead in enumerate(rec.leads):
        names += [lead, f"{lead} low", f"{lead} high"]
        signals.append(np.stack([rec.stitched_mean[k], rec.stitched_low[k], rec.stitched_high[k]]))
    lo, hi = rec.band
    comments = [
        f"ecgdiff {__version__} reconstruct: {', '.join(rec.leads)} from {', '.join(rec.observed)} of {record.meta.get('path')}",
        f"posterior mean and central {100 * (hi - lo):.0f}% band (<lead> low/high) in mV, {rec.settings['sampler']}, "
        f"{rec.settings['n_samples']} samples per beat; filtered signal at {rec.fs:g} Hz",
        "beat windows blended by sin^2 ramps; NaN before the first and after the last kept beat",
    ]
    files = out.write_wfdb(s, rec.fs, np.concatenate(signals), names, comments)
    cols = {f"{o}_observed": rec.stitched_observed[j] for j, o in enumerate(rec.observed)}
    for k, lead in enumerate(rec.leads):
        cols.update(
            {
                f"{lead}_mean": rec.stitched_mean[k],
                f"{lead}_low": rec.stitched_low[k],
                f"{lead}_high": rec.stitched_high[k],
            }
        )
        if rec.stitched_truth is not None:
            cols[f"{lead}_recorded"] = rec.stitched_truth[k]
    cols["covered"] = rec.covered.astype(int)
    files.append(out.write_csv(s.with_suffix(".csv"), out.signal_table(rec.fs, cols)))
    values = {"mean_mV": rec.mean, "low_mV": rec.low, "high_mV": rec.high}
    if rec.truth is not None:
        values["recorded_mV"] = rec.truth
    files.append(
        out.write_csv(Path(f"{s}_beats.csv"), out.beat_table(values, rec.leads, rec.r_index, rec.before, rec.fs))
    )
    summary = rec.summary()
    files.append(out.write_summary(s.with_suffix(".json"), summary))
    covered = np.flatnonzero(rec.covered)
    start = covered[0] / rec.fs if len(covered) else 0.0
    fig = out.plot_timeline(
        s,
        rec.fs,
        {o: rec.stitched_observed[j] for j, o in enumerate(rec.observed)},
        {lead: (rec.stitched_mean[k], rec.stitched_low[k], rec.stitched_high[k]) for k, lead in enumerate(rec.leads)},
        None if rec.stitched_truth is None else {lead: rec.stitched_truth[k] for k, lead in enumerate(rec.leads)},
        f"{record.record_id}: {', '.join(rec.leads)} reconstructed from {', '.join(rec.observed)} "
        f"({rec.settings['sampler']}, {rec.settings['n_samples']} samples, {100 * (hi - lo):.0f}% band)",
        p,
        seconds=args.plot_seconds,
        start_s=max(0.0, start - 0.2),
    )
    files += [Path(f) for f in fig]
    print(f"{record.record_id}: {len(rec.r_index)} beats; {', '.join(rec.leads)} from {', '.join(rec.observed)}")
    if rec.scale_inferred:
        print(
            f"  inferred millivolt scales: {', '.join(rec.scale_inferred)} (log-scale regression on the training beats)"
        )
    if "against_record" in summary:
        for lead, v in summary["against_record"].items():
            print(
                f"  {lead}: RMSE {v['rmse_mV']:.3f} mV, R2 {v['r2']:.2f}, band coverage {v['band_coverage']:.2f} (against the record's own {lead})"
            )
    _print_files(files)
    table = pd.DataFrame(
        [{"lead": k, **v} for k, v in summary.get("against_record", {}).items()]
        or [{"lead": lead} for lead in rec.leads]
    )
    report(
        args,
        f"{record.record_id}: reconstruction of {', '.join(rec.leads)}",
        [
            ("Record", record_section(record)),
            (
                "Reconstruction",
                [
                    html_report.Table(
                        {
                            "observed": ", ".join(rec.observed),
                            "reconstructed": ", ".join(rec.leads),
                            "beats": len(rec.r_index),
                            "observation": rec.plan.mode,
                            "inferred scales": ", ".join(rec.scale_inferred) or "none",
                            "sampler": rec.settings,
                        }
                    ),
                    html_report.Table(table, "Against the record's own leads where it has them (mV)."),
                    html_report.Figure(
                        fig[0], "Observed leads (red), posterior mean and band (blue), recorded (dashed)."
                    ),
                ],
            ),
        ],
        p,
    )
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    from .reconstruct import beat_params
    from .record_analysis import denoise_record

    record = load_record(args)
    prior, db = load_model(args)
    res = denoise_record(record, prior, sampling_from(args), beat_params(prior, db), show_progress=not args.quiet)
    p = prov(args, record, prior)
    s = stem(args, record)
    B, Lk = res.sigma.shape
    noise = pd.DataFrame(
        {
            "beat": np.repeat(np.arange(B), Lk),
            "r_s": np.repeat(res.r_index / res.fs, Lk),
            "lead": np.tile(np.asarray(res.leads, dtype=object), B),
            "noise_sd_mV": res.sigma_mv.reshape(-1),
            "noise_sd_normalised": res.sigma.reshape(-1),
            "scale_mV": res.scales.reshape(-1),
        }
    )
    files = [out.write_csv(Path(f"{s}_noise.csv"), noise)]
    values = {"recorded_mV": res.observed, "mean_mV": res.mean, "low_mV": res.low, "high_mV": res.high}
    files.append(
        out.write_csv(Path(f"{s}_beats.csv"), out.beat_table(values, res.leads, res.r_index, res.before, res.fs))
    )
    files += out.write_wfdb(
        s, res.fs, res.stitched_mean, list(res.leads), [f"ecgdiff {__version__} denoise: posterior mean (mV)"]
    )
    summary = res.summary()
    files.append(out.write_summary(s.with_suffix(".json"), summary))
    level = res.sigma_mv.mean(axis=1)
    show = sorted({int(np.argmin(np.abs(level - np.median(level)))), int(np.argmax(level))})
    t_ms = (np.arange(res.mean.shape[-1]) - res.before) * 1000.0 / res.fs
    fig = out.plot_denoised(
        s,
        t_ms,
        res.leads,
        res.observed[show],
        res.mean[show],
        res.low[show],
        res.high[show],
        res.sigma_mv[show],
        f"{record.record_id}: denoised beats {show} (median and largest noise)",
        p,
    )
    files += [Path(f) for f in fig]
    print(f"{record.record_id}: {B} beats; median noise std per lead (µV):")
    print("  " + ", ".join(f"{k} {1000 * v:.0f}" for k, v in summary["median_noise_sd_mV"].items()))
    _print_files(files)
    report(
        args,
        f"{record.record_id}: noise levels and denoised beats",
        [
            ("Record", record_section(record)),
            (
                "Noise levels (paper algorithm 2)",
                [
                    html_report.Table(
                        pd.DataFrame(
                            {
                                "lead": list(res.leads),
                                "median noise sd (µV)": [1000 * summary["median_noise_sd_mV"][n] for n in res.leads],
                                "median noise sd (normalised)": [
                                    summary["median_noise_sd_normalised"][n] for n in res.leads
                                ],
                                "RMS correction (mV)": [summary["rms_correction_mV"][n] for n in res.leads],
                            }
                        )
                    ),
                    html_report.Figure(
                        fig[0], "Recorded (grey) and denoised beats (posterior mean and band, blue), mV."
                    ),
                ],
            ),
        ],
        p,
    )
    return 0


def cmd_anomaly(args: argparse.Namespace) -> int:
    from .reconstruct import beat_params
    from .record_analysis import AnomalySettings, anomaly_record, reference_from_database, reference_from_shards
    from .tasks import figures
    from .tasks.beat import anomaly as anomaly_task

    record = load_record(args)
    prior, db = load_model(args)
    settings = AnomalySettings(st_ms=args.st_ms)
    missing = [n for n in (*settings.observed, *settings.scored) if not L.derivable(record.leads, n)]
    if missing:
        raise CLIError(f"{record.record_id}: the anomaly score needs the limb leads and V1-V6; missing {missing}")
    sampling = sampling_from(args)
    folder = args.reference or Path(args.prior).resolve().parent.parent / "tasks" / "anomaly"
    reference = None
    if any(Path(folder).glob("shard_*.npz")):
        reference = reference_from_shards(folder)
    elif args.reference is not None:
        raise CLIError(f"no anomaly shard (shard_*.npz) in {args.reference}")
    elif db is not None and args.reference_patients > 0:
        reference = reference_from_database(
            db, prior, sampling, settings, args.reference_patients, show_progress=not args.quiet
        )
    else:
        log.warning("no reference distribution: no anomaly shards in %s and no beat database", folder)
    res = anomaly_record(
        record, prior, sampling, settings, reference, beat_params(prior, db), show_progress=not args.quiet
    )
    p = prov(args, record, prior)
    s = stem(args, record)
    table = pd.DataFrame(
        {"beat": np.arange(len(res.r_index)), "r_s": res.r_index / res.fs, "distance": res.beat_distance}
    )
    for k, lead in enumerate(settings.scored):
        table[f"distance_{lead}"] = res.distance[:, k]
    for k, lead in enumerate(settings.scored):
        table[f"st_mV_{lead}"] = res.st_mv[:, k]
    if reference is not None:
        table["reference_percentile"] = [reference.percentile(v) for v in res.beat_distance]
    files = [out.write_csv(s.with_suffix(".csv"), table)]
    summary = res.summary()
    files.append(out.write_summary(s.with_suffix(".json"), summary))
    i = res.example
    t_ms = (np.arange(res.true_mv.shape[-1]) - res.before) * 1000.0 / res.fs
    fig = anomaly_task.draw_st(
        res.true_mv[i : i + 1],
        res.mean_mv[i : i + 1],
        res.sd_mv[i : i + 1],
        res.st_index[i : i + 1],
        list(settings.scored),
        [f"{record.record_id}, beat {i} (median distance {res.beat_distance[i]:.3f})"],
        t_ms,
        f"ST deviation at J+{settings.st_ms:.0f} ms: recorded beat minus posterior given {', '.join(settings.observed)} (figure 11)",
    )
    from .plots import save_figure

    st_paths = figures.paths(f"{s}_st")
    save_figure(fig, st_paths, p)
    files += [Path(f) for f in st_paths]
    items: list[html_report.Item] = [
        html_report.Table({k: v for k, v in summary.items() if k not in ("distance_per_beat", "sampling")})
    ]
    items.append(html_report.Figure(st_paths[0], "Figure 11 for the median-distance beat (mV)."))
    print(f"{record.record_id}: {len(res.r_index)} beats; distance (median over beats) {res.record_distance:.3f}")
    if reference is not None:
        pct = reference.percentile(res.record_distance)
        ref_paths = out.plot_reference(
            f"{s}_reference",
            reference.distances,
            res.beat_distance,
            res.record_distance,
            pct,
            reference.source,
            f"{record.record_id} against healthy patients (figure 9)",
            p,
        )
        files += [Path(f) for f in ref_paths]
        items.append(html_report.Figure(ref_paths[0], f"Reference: {reference.source}."))
        print(f"  {pct:.0f}th percentile of {len(reference.distances)} healthy reference patients ({reference.source})")
    print(
        "  ST deviation (mV, median over beats): "
        + ", ".join(
            f"{k} {v:+.3f}" if v is not None else f"{k} -"
            for k, v in summary["st_deviation_mV_median_over_beats"].items()
        )
    )
    _print_files(files)
    report(
        args,
        f"{record.record_id}: anomaly score",
        [("Record", record_section(record)), ("Anomaly (paper 3.3.4)", items)],
        p,
    )
    return 0


def cmd_qt(args: argparse.Namespace) -> int:
    from .reconstruct import beat_params
    from .record_analysis import qt_record

    record = load_record(args)
    prior, db = load_model(args)
    grid = None if args.no_rr_grid else args.rr_grid
    res = qt_record(record, prior, sampling_from(args), grid, beat_params(prior, db), show_progress=not args.quiet)
    p = prov(args, record, prior)
    s = stem(args, record)
    summary = res.summary()
    rows = pd.DataFrame(summary["per_beat"])
    q = res.qt_ms
    rows["qt_posterior_low_ms"] = [np.nanquantile(v, 0.025) if np.isfinite(v).any() else np.nan for v in q]
    rows["qt_posterior_high_ms"] = [np.nanquantile(v, 0.975) if np.isfinite(v).any() else np.nan for v in q]
    files = [out.write_csv(s.with_suffix(".csv"), rows)]
    if res.fits:
        laws = pd.DataFrame([{"law": k, **v} for k, v in res.fits.items()])
        files.append(out.write_csv(Path(f"{s}_laws.csv"), laws))
    files.append(out.write_summary(s.with_suffix(".json"), summary))
    fig = out.plot_qt(
        s,
        res.r_index / res.fs,
        res.qt_real_ms,
        res.qt_ms,
        res.rr_grid_ms,
        res.qt_grid_ms,
        res.fits,
        f"{record.record_id}: QT from the posterior given the QRS (beat's own RR)",
        p,
    )
    files += [Path(f) for f in fig]
    med = summary["qt_posterior_median_ms"]
    print(
        f"{record.record_id}: {len(res.r_index)} beats; posterior QT median {med:.0f} ms"
        if med
        else f"{record.record_id}: no beat with a measurable QT"
    )
    _print_files(files)
    items: list[html_report.Item] = [
        html_report.Table(rows),
        html_report.Figure(fig[0], "QT per beat and QT against RR."),
    ]
    if res.fits:
        items.insert(
            1,
            html_report.Table(
                pd.DataFrame([{"law": k, **v} for k, v in res.fits.items()]), f"QT-RR laws of beat {res.grid_beat}."
            ),
        )
    report(args, f"{record.record_id}: QT", [("Record", record_section(record)), ("QT (paper 3.3.3)", items)], p)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import json

    from .record_analysis import record_info

    record = load_record(args)
    lead_set, params = None, None
    if args.prior is not None:
        from .data import dataset
        from .diffusion.prior import load_prior
        from .reconstruct import beat_params

        prior = load_prior(args.prior, device="cpu")
        folder = args.beats or default_beats(args.prior)
        db = dataset.load(folder) if (Path(folder) / "manifest.json").is_file() else None
        lead_set, params = prior.leads, beat_params(prior, db)
    info = record_info(record, lead_set, params)
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        print(format_info(info))
    if args.out is not None or args.report:
        path = stem(args, record, ".json")
        out.write_summary(path, info)
        print(f"  {path}")
    if args.report:
        beats = info["beats"]
        report(
            args,
            f"{record.record_id}: record information",
            [
                ("Record", [html_report.Table({k: v for k, v in info.items() if k != "beats"})]),
                (
                    "Beats kept",
                    [html_report.Table(pd.DataFrame(beats["kept"]))]
                    if beats["kept"]
                    else [html_report.Text(beats.get("error", "none"))],
                ),
                (
                    "Beats dropped",
                    [html_report.Table(pd.DataFrame(beats["rejected"]))]
                    if beats.get("rejected")
                    else [html_report.Text("none")],
                ),
            ],
            prov(args, record),
        )
    return 0


def _units(units: Any) -> str:
    if isinstance(units, dict):
        distinct = sorted(set(map(str, units.values())))
        return distinct[0] if len(distinct) == 1 else ", ".join(f"{k} {v}" for k, v in units.items())
    return str(units)


def format_info(info: dict[str, Any]) -> str:
    """The text of ``ecgdiff info``."""
    lines = [
        f"record    {info['record_id']} ({info['format']}: {info['path']})",
        f"leads     {', '.join(info['leads'])}",
        f"rate      {info['fs']:g} Hz, {info['samples']} samples, {info['duration_s']:g} s",
        f"units     {_units(info['units'])} (read as mV)",
        f"age       {info['age'] if info['age'] is not None else 'unknown (pass --age)'}"
        + (f" [{info['age_source']}]" if info.get("age_source") else ""),
        f"sex       {info['sex'] or 'unknown (pass --sex)'}"
        + (f" [{info['sex_source']}]" if info.get("sex_source") else ""),
        f"determine {', '.join(info['determined_leads'])}",
    ]
    if info["ignored_channels"]:
        lines.append("ignored   " + "; ".join(f"{k}: {v}" for k, v in info["ignored_channels"].items()))
    if info["approximations"]:
        lines.append("approx.   " + "; ".join(f"{k}: {v}" for k, v in info["approximations"].items()))
    beats = info["beats"]
    if beats.get("error"):
        lines.append(f"beats     none: {beats['error']}")
        return "\n".join(lines)
    lines.append(
        f"beats     {len(beats['kept'])} kept of {beats['detected_r_peaks']} R peaks (beat leads {', '.join(info['beat_leads'])})"
    )
    for b in beats["kept"]:
        lines.append(f"  kept    #{b['beat_index']:<4d} R at {b['r_s']:8.3f} s, RR {b['rr_ms']:6.1f} ms")
    for b in beats["rejected"]:
        lines.append(f"  dropped #{b['beat_index']:<4d} R at {b['r_s']:8.3f} s: {b['stage']}: {b['reason']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """The console script ``ecgdiff`` (and ``python -m ecgdiff``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
        force=True,
    )
    if getattr(args, "quiet", False):
        logging.getLogger("ecgdiff.progress").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except (CLIError, ReadError, RecordError, L.LeadError, FileNotFoundError) as err:
        print(f"ecgdiff {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
