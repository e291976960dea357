"""Margins of the signal-quality checks (:mod:`ecgdiff.data.quality`) on the real records of the local
PhysioNet copy, and on corrupted copies of its healthy records.

Every LUDB and PhysioNet/CinC 2021 record of the mirror is read as ``config/real.yaml``'s beat database
reads it (:func:`ecgdiff.data.beatdb.source_specs`, the lead set, ``data.beats`` and ``data.quality`` of
that configuration) and goes through :func:`ecgdiff.data.beats.extract_beats`. For each record that gives
beats, the statistic each check thresholds is computed by the quality module's own functions: on the raw
signal :func:`~ecgdiff.data.quality.rail_run`, :func:`~ecgdiff.data.quality.plateau_counts` and
:func:`~ecgdiff.data.quality.lead_law_correlations`; on exactly the arrays ``extract_beats`` passes to
:func:`~ecgdiff.data.quality.check_beats` (captured by wrapping it), :func:`~ecgdiff.data.quality.beat_statistics`.
The same is measured on corrupted copies of every healthy record:

- ``noise``: one recorded lead of the lead set (seeded choice) replaced by white noise of its own standard
  deviation;
- ``limb_inverted``: one recorded limb lead (seeded choice) multiplied by -1;
- ``v1_v6_swapped``: V1 and V6 exchanged;
- ``ii_inverted_12``: lead II multiplied by -1 and the other limb leads derived from I and -II
  (:func:`ecgdiff.leads.derive`, Einthoven's and Goldberger's laws hold), all 12 leads kept;
- ``ii_inverted_8``: the same as the 8 independent leads (I, -II, V1..V6), the form in which the lead II
  polarity check applies (it is skipped when three or more limb leads are recorded);
- ``clipped``: every lead clipped at 70 % of its maximum.

Prints, per check, its threshold, the worst value over the real records of each label (healthy, mi,
other) with the record, the number of real records the check rejects, and the range of the statistic over
the corrupted copies aimed at it with the fraction the check catches. Saves everything (with one row per
record and copy) to ``results/benchmarks/quality_margins.json``.

    python benchmarks/quality_margins.py [--mirror ../shared/physionet] [--out results/benchmarks/quality_margins.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ecgdiff import leads as L
from ecgdiff.data import beatdb, quality
from ecgdiff.data import beats as beats_mod
from ecgdiff.data.beats import BeatParams, extract_beats
from ecgdiff.data.quality import QualityError, QualityParams
from ecgdiff.data.records import Record, RecordError, SourceProblem
from ecgdiff.io import write_json

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_beat_database import merged  # noqa: E402 (config/config.yaml + config/real.yaml, as the workflow)

CORRUPTIONS = ("noise", "limb_inverted", "v1_v6_swapped", "ii_inverted_12", "ii_inverted_8", "clipped")


@contextlib.contextmanager
def captured_beat_checks() -> Iterator[list[tuple[Any, ...]]]:
    """The arguments of every :func:`ecgdiff.data.quality.check_beats` call that ``extract_beats`` makes
    while the context is open (the call itself goes through unchanged)."""
    calls: list[tuple[Any, ...]] = []
    original = beats_mod.check_beats

    def recording(*args: Any, **kwargs: Any) -> list[str]:
        calls.append(args)
        return original(*args, **kwargs)

    beats_mod.check_beats = recording
    try:
        yield calls
    finally:
        beats_mod.check_beats = original


def _rng(record_id: str, what: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"{record_id}|{what}".encode()).digest()[:8], "little"))


def measure(record: Record, lead_set: tuple[str, ...], bp: BeatParams, qp: QualityParams) -> dict[str, Any]:
    """Statistics of every check on one record, and the verdict of the pipeline (``status``: ``kept``,
    ``rejected`` with ``reasons``, or ``unusable``: no beats for a reason that is not a quality check)."""
    x = np.asarray(record.signal, dtype=float)
    fs = float(record.fs)
    row: dict[str, Any] = {"record_id": record.record_id, "leads": len(record.leads)}
    rails = record.meta.get("rails_mv") or [None] * len(record.leads)
    rail_s, clip = 0.0, (0, "")
    for k, name in enumerate(record.leads):
        lead = x[k]
        if not np.isfinite(lead).all() or np.ptp(lead) == 0:
            continue
        for rail in rails[k] if k < len(rails) and rails[k] is not None else ():
            rail_s = max(rail_s, quality.rail_run(lead, rail) / fs)
        n = max(quality.plateau_counts(lead, fs, qp.clip_min_run_s).values())
        if n > clip[0]:
            clip = (n, name)
    law = quality.lead_law_correlations(record)
    row.update(rail_s=rail_s, clip_runs=clip[0], clip_lead=clip[1])
    row.update(limb_corr=law[0][1] if law else None, limb_lead=law[0][0] if law else None)
    with captured_beat_checks() as calls:
        try:
            extract_beats(record, lead_set, bp, qp)
            row["status"], row["reasons"] = "kept", ""
        except QualityError as exc:
            row["status"], row["reasons"] = "rejected", exc.reason
        except RecordError as exc:
            row["status"], row["reasons"] = "unusable", exc.reason
    if not calls:  # no beat reached check_beats: only the signal statistics
        return row
    args = calls[-1]
    st = quality.beat_statistics(args[0], *args[2:9])
    row["joint_corr"] = st["joint_corr"]
    row["lead_corr"] = None if st["lead_corr"] is None else dict(zip(lead_set, map(float, st["lead_corr"])))
    row["qrs_mv"] = None if st["qrs_mv"] is None else dict(zip(lead_set, map(float, st["qrs_mv"])))
    row.update(limb_recorded=st["limb_recorded"], ii_inverted=bool(st["ii_inverted"]), swap_gain=st["swap_gain"])
    net = st["net_qrs_mv"]
    row["swap_flag"] = bool(st["swap_gain"] is not None and st["swap_gain"] > qp.swap_margin and net["V1"] > net["V6"])
    return row


def corrupt(record: Record, kind: str, lead_set: tuple[str, ...]) -> tuple[Record, str]:
    """A corrupted copy of ``record`` and the lead concerned (see the module docstring)."""
    x = np.array(record.signal, dtype=float)
    names = list(record.leads)
    if kind == "noise":
        choices = [n for n in lead_set if n in names]
        lead = choices[_rng(record.record_id, kind).integers(len(choices))]
        k = names.index(lead)
        x[k] = _rng(record.record_id, "white").normal(0.0, x[k].std(), x.shape[1])
    elif kind == "limb_inverted":
        choices = [n for n in names if n in L.LIMB]
        lead = choices[_rng(record.record_id, kind).integers(len(choices))]
        x[names.index(lead)] *= -1
    elif kind == "v1_v6_swapped":
        lead = "V1,V6"
        i, j = names.index("V1"), names.index("V6")
        x[[i, j]] = x[[j, i]]
    elif kind in ("ii_inverted_12", "ii_inverted_8"):
        lead = "II"
        basis = L.derive(x, names, L.BASIS)
        basis[L.BASIS.index("II")] *= -1
        names = list(L.STANDARD_12 if kind == "ii_inverted_12" else L.BASIS)
        x = L.derive(basis, L.BASIS, names)
    elif kind == "clipped":
        lead = "all"
        top = x.max(axis=1, keepdims=True)
        x = np.where(top > 0, np.minimum(x, 0.7 * top), x)
    else:
        raise ValueError(f"unknown corruption {kind!r}")
    meta = dict(record.meta)
    if names != list(record.leads):
        meta["rails_mv"] = None  # derived leads have no format rails
    return dataclasses.replace(record, signal=x, leads=tuple(names), meta=meta), lead


# (check, threshold text, statistic key, "min" = low values fail / "max" = high values fail, corruption)
CHECKS = (
    ("template_min_corr", "joint_corr", "min", "noise"),
    ("lead_min_corr", "lead_corr_min", "min", "noise"),
    ("max_qrs_mv", "qrs_mv_max", "max", None),
    ("rail_min_s", "rail_s", "max", None),
    ("clip_min_runs", "clip_runs", "max", "clipped"),
    ("limb_min_corr", "limb_corr", "min", "limb_inverted"),
    ("swap_margin", "swap_gain", "max", "v1_v6_swapped"),
    ("polarity", "ii_inverted", "max", "ii_inverted_8"),
)


def _flat(row: dict[str, Any], target: str | None = None) -> dict[str, Any]:
    """Scalar statistics of a row: the smallest lead correlation (or, for a noise copy, that of the replaced
    lead), the largest QRS amplitude."""
    out = dict(row)
    lc, qa = row.get("lead_corr"), row.get("qrs_mv")
    if lc:
        name = target if target in lc else min(lc, key=lc.get)
        out["lead_corr_min"], out["lead_corr_lead"] = lc[name], name
    if qa:
        name = max(qa, key=qa.get)
        out["qrs_mv_max"], out["qrs_mv_lead"] = qa[name], name
    return out


def caught(check: str, row: dict[str, Any], qp: QualityParams) -> bool:
    """Whether ``check`` rejects the record (its own test, the others aside)."""
    v = row.get({c[0]: c[1] for c in CHECKS}[check])
    if v is None:
        return False
    return {
        "template_min_corr": lambda: v < qp.template_min_corr,
        "lead_min_corr": lambda: v < qp.lead_min_corr,
        "max_qrs_mv": lambda: v > qp.max_qrs_mv,
        "rail_min_s": lambda: v >= qp.rail_min_s,
        "clip_min_runs": lambda: v >= qp.clip_min_runs,
        "limb_min_corr": lambda: v < qp.limb_min_corr,
        "swap_margin": lambda: bool(row.get("swap_flag")),
        "polarity": lambda: bool(v) and row.get("limb_recorded", 0) < 3,
    }[check]()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirror", default=str(REPO / "../shared/physionet"))
    ap.add_argument("--out", default=str(REPO / "results/benchmarks/quality_margins.json"))
    ap.add_argument("--limit", type=int, default=None, help="first N records of each source only (a quick look)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = merged("config/real.yaml")
    mirror = Path(args.mirror)
    roots = {"ludb": mirror / "ludb/1.0.1", "challenge-2021": mirror / "challenge-2021/1.0.3"}
    specs = beatdb.source_specs(cfg, {k: str(v) for k, v in roots.items()})
    lead_set = L.canonical_all(cfg.get("leads", L.PAPER_9))
    bp = BeatParams.from_config(cfg["data"].get("beats", {}))
    qp = QualityParams.from_config(cfg["data"].get("quality", {}))

    real: list[dict[str, Any]] = []
    copies: list[dict[str, Any]] = []
    unread: list[dict[str, str]] = []
    for spec in specs:
        for i, rec in enumerate(spec.read()):
            if args.limit is not None and i >= args.limit:
                break
            if isinstance(rec, SourceProblem):
                continue
            if isinstance(rec, RecordError):
                unread.append({"record_id": rec.record_id, "reason": rec.reason})
                continue
            label = beatdb.record_label(rec)
            label = label if label in ("healthy", "mi") else "other"  # as beatdb.patient_labels groups them
            row = measure(rec, lead_set, bp, qp)
            row.update(source=rec.source, label=label)
            real.append(row)
            if label != "healthy" or row["status"] == "unusable":
                continue
            for kind in CORRUPTIONS:
                bad, lead = corrupt(rec, kind, lead_set)
                crow = measure(bad, lead_set, bp, qp)
                crow.update(source=rec.source, label=label, corruption=kind, corrupted_lead=lead)
                copies.append(crow)
    measured_s = time.perf_counter() - t0

    usable = [_flat(r) for r in real if r["status"] != "unusable"]
    flat_copies = [_flat(c, c["corrupted_lead"]) for c in copies]
    summary: dict[str, Any] = {}
    print(
        f"{len(real)} records read ({len(unread)} unreadable), {len(usable)} give beats; "
        f"{len(flat_copies)} corrupted copies of {len({c['record_id'] for c in copies})} healthy records "
        f"({measured_s:.0f} s)\n"
    )
    head = f"{'check':18s} {'threshold':>9s} | {'worst healthy':>20s} {'worst mi':>20s} {'worst other':>20s} | "
    print(head + f"{'rejects h/mi/o':>14s} | corrupted copies: range, caught")
    for check, key, side, target in CHECKS:
        threshold = getattr(qp, check)
        entry: dict[str, Any] = {"threshold": threshold, "statistic": key, "fails_when": side, "real": {}}
        cells, rejects = [], []
        for label in ("healthy", "mi", "other"):
            rows = [r for r in usable if r["label"] == label and r.get(key) is not None]
            n_rej = sum(caught(check, r, qp) for r in rows)
            rejects.append(n_rej)
            if not rows:
                cells.append("-")
                entry["real"][label] = {"n": 0}
                continue
            pick = (max if side == "max" else min)(rows, key=lambda r: float(r[key]))
            v = pick[key]
            entry["real"][label] = {
                "n": len(rows),
                "worst": float(v),
                "record_id": pick["record_id"],
                "rejected": int(n_rej),
                **({"count_true": int(sum(bool(r[key]) for r in rows))} if key == "ii_inverted" else {}),
            }
            if key == "ii_inverted":
                cells.append(f"{entry['real'][label]['count_true']}/{len(rows)} all negative")
            else:
                cells.append(f"{float(v):.3g} ({pick['record_id']})")
        corr_txt = "-"
        if target is not None:
            rows = [c for c in flat_copies if c["corruption"] == target]
            vals = np.array([float(c[key]) for c in rows if c.get(key) is not None])
            if rows:
                hit = np.mean([caught(check, c, qp) for c in rows])
                excluded = np.mean([c["status"] != "kept" for c in rows])
                entry["corrupted"] = {
                    "corruption": target,
                    "n": len(rows),
                    "n_measured": len(vals),
                    "min": float(vals.min()) if len(vals) else None,
                    "max": float(vals.max()) if len(vals) else None,
                    "caught": float(hit),
                    "excluded_for_any_reason": float(excluded),
                }
                rng = f"{vals.min():.3g}..{vals.max():.3g}" if len(vals) else "not measured"
                corr_txt = f"{target}: {rng} (n={len(vals)}/{len(rows)}), {hit:.0%} caught, {excluded:.0%} excluded"
        print(
            f"{check:18s} {threshold!s:>9s} | {cells[0]:>20s} {cells[1]:>20s} {cells[2]:>20s} | "
            f"{'/'.join(map(str, rejects)):>14s} | {corr_txt}"
        )
        summary[check] = entry
    print("\nworst real value by source:")
    by_source: dict[str, Any] = {}
    for check, key, side, _ in CHECKS:
        cells = []
        for src in [s.source for s in specs]:
            rows = [r for r in usable if r["source"] == src and r.get(key) is not None]
            if not rows:
                continue
            if key == "ii_inverted":
                hits = [r["record_id"] for r in rows if r[key]]
                by_source.setdefault(check, {})[src] = {"n": len(rows), "records": hits}
                cells.append(f"{src} {len(hits)}/{len(rows)} all negative {hits}")
                continue
            pick = (max if side == "max" else min)(rows, key=lambda r: float(r[key]))
            by_source.setdefault(check, {})[src] = {
                "n": len(rows),
                "worst": float(pick[key]),
                "record_id": pick["record_id"],
            }
            cells.append(f"{src} {float(pick[key]):.3g} ({pick['record_id']})")
        print(f"  {check:18s} " + "; ".join(cells))
    kept = [r for r in usable if r["status"] == "kept" and r.get("lead_corr_min") is not None]
    low = sorted(kept, key=lambda r: r["lead_corr_min"])[:3]
    print(
        "  lowest lead correlations of kept records: "
        + "; ".join(
            f"{r['record_id']} ({r['label']}) {r['lead_corr_lead']} {r['lead_corr_min']:.3f}, "
            f"QRS {r['qrs_mv'][r['lead_corr_lead']]:.2f} mV"
            for r in low
        )
    )
    print("\nnoise copies by the kind of lead replaced (statistic of the replaced lead, lead-law correlation):")
    noise_split: dict[str, Any] = {}
    for kind, members in (("limb", L.LIMB), ("precordial", L.PRECORDIAL)):
        rows = [c for c in flat_copies if c["corruption"] == "noise" and c["corrupted_lead"] in members]
        lc = np.array([c["lead_corr"][c["corrupted_lead"]] for c in rows if c.get("lead_corr")])
        law = np.array([c["limb_corr"] for c in rows if c.get("limb_corr") is not None])
        noise_split[kind] = {
            "n": len(rows),
            "lead_corr": [float(lc.min()), float(lc.max())] if len(lc) else None,
            "limb_corr": [float(law.min()), float(law.max())] if len(law) else None,
            "caught_lead_min_corr": float(np.mean([caught("lead_min_corr", c, qp) for c in rows])) if rows else None,
            "caught_limb_min_corr": float(np.mean([caught("limb_min_corr", c, qp) for c in rows])) if rows else None,
            "excluded": float(np.mean([c["status"] != "kept" for c in rows])) if rows else None,
        }
        ns = noise_split[kind]
        print(
            f"  {kind:10s} n={len(rows):2d}: replaced lead's correlation "
            f"{lc.min():.3g}..{lc.max():.3g} (n={len(lc)}), lead-law correlation "
            + (f"{law.min():.3g}..{law.max():.3g}" if len(law) else "-")
            + f"; caught by lead_min_corr {ns['caught_lead_min_corr']:.0%}, by limb_min_corr "
            f"{ns['caught_limb_min_corr']:.0%}, excluded {ns['excluded']:.0%}"
        )
    print("\ncorrupted copies: fraction caught by each check, by any, and without beats for another reason:")
    by_copy: dict[str, Any] = {}
    for kind in CORRUPTIONS:
        rows = [c for c in flat_copies if c["corruption"] == kind]
        if not rows:
            continue
        fr = {check: float(np.mean([caught(check, c, qp) for c in rows])) for check, *_ in CHECKS}
        fr["any check"] = float(np.mean([c["status"] == "rejected" for c in rows]))
        fr["no beats (not a quality check)"] = float(np.mean([c["status"] == "unusable" for c in rows]))
        by_copy[kind] = {"n": len(rows), "caught": fr}
        print(f"  {kind:15s} n={len(rows):3d} " + ", ".join(f"{k} {v:.0%}" for k, v in fr.items() if v))
    counts = {
        label: {
            s: sum(r["label"] == label and r["status"] == s for r in real) for s in ("kept", "rejected", "unusable")
        }
        for label in ("healthy", "mi", "other")
    }
    print("\nreal records by verdict:", counts)
    for r in real:
        if r["status"] == "rejected":
            print(f"  rejected {r['record_id']} ({r['label']}): {r['reasons']}")
    out = {
        "command": "python benchmarks/quality_margins.py",
        "sources": [{"source": s.source, "options": dict(s.options)} for s in specs],
        "lead_set": list(lead_set),
        "quality": dataclasses.asdict(qp),
        "checks": summary,
        "corruptions": by_copy,
        "by_source": by_source,
        "noise_by_lead_kind": noise_split,
        "verdicts": counts,
        "unreadable": unread,
        "records": real,
        "copies": copies,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(args.out, out)
    print(f"\nsaved {args.out} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
