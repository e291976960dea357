"""Runtime of one artefact-removal alternation (``ecgdiff.inverse.artefacts``) on real rhythms and real noise.

Usage (from the repository root, PYTHONPATH=src):

    python benchmarks/artefact_alternation.py                          # 8 patients, mgps and ddnm, CPU
    python benchmarks/artefact_alternation.py --samplers ddnm --patients 8 --kind bw

Problem: ``--patients`` LUDB records (the local PhysioNet copy; 500 Hz, 10 s) filtered and resampled to 100 Hz
as the rhythms are (notch 50/60 Hz, high-pass 0.6 Hz, ``resample_poly``), leads I, II, V1-V6, 1000 samples
zero-padded to 1024, noised by the test protocol (``ecgdiff.data.noise``: NSTDB ``em`` or ``bw``, channel 1).
Denoiser: a small random-weight convolutional EDM denoiser (3 convolutions, kernel 5, width ``--width``): it costs
what a small network costs, which is all a timing needs (its samples are not meaningful). Settings: the defaults
of :class:`ecgdiff.inverse.artefacts.ArtefactSettings` (512 frequencies, 5 rounds, Lasso 0.1, Ridge 1, 10 samples),
``tol = 0`` so every round runs. Reported: total seconds, sampling seconds, the Lasso (round 0) and the Ridge
refits separately, denoiser calls. Writes ``results/benchmarks/artefact_alternation.{csv,md,json}`` (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ecgdiff import io, leads, provenance, tables  # noqa: E402
from ecgdiff.data import beats, noise  # noqa: E402
from ecgdiff.data.records import read_wfdb_record  # noqa: E402
from ecgdiff.diffusion import schedule  # noqa: E402
from ecgdiff.inverse.artefacts import ArtefactModel, ArtefactSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class ConvDenoiser(nn.Module):
    """EDM-preconditioned three-layer convolutional denoiser with random weights, ``D(x, sigma)``."""

    def __init__(self, leads: int = 8, width: int = 32, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv1d(leads + 1, width, 5, padding=2),
            nn.SiLU(),
            nn.Conv1d(width, width, 5, padding=2),
            nn.SiLU(),
            nn.Conv1d(width, leads, 5, padding=2),
        )
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.reshape(-1, 1, 1).to(x.dtype)
        sd2 = schedule.SIGMA_DATA**2
        c_in = 1 / torch.sqrt(s * s + sd2)
        c_skip, c_out = sd2 / (s * s + sd2), s * schedule.SIGMA_DATA * c_in
        level = (torch.log(s) / 4).expand(-1, 1, x.shape[-1])
        return c_skip * x + c_out * self.net(torch.cat([c_in * x, level], dim=1))


def ludb_rhythms(root: Path, n: int) -> np.ndarray:
    """``[n, 8, 1024]`` rhythms from the first ``n`` LUDB records (100 Hz, 1000 valid samples, zero padding)."""
    params = beats.BeatParams(fs=100.0)
    out = np.zeros((n, len(leads.BASIS), 1024), dtype=np.float32)
    for i in range(n):
        rec = read_wfdb_record(root / "ludb" / "1.0.1" / "data" / str(i + 1), f"ludb/{i + 1}")
        x = beats.preprocess(rec.signal[leads.indices(leads.BASIS, rec.leads)], rec.fs, params)
        out[i, :, :1000] = x[:, :1000]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samplers", default="mgps,ddnm")
    ap.add_argument("--patients", type=int, default=8)
    ap.add_argument("--kind", default="em", choices=["em", "bw"])
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--physionet", default=os.environ.get("ECGDIFF_PHYSIONET_MIRROR", str(REPO.parent / "shared" / "physionet"))
    )
    ap.add_argument("--out", default="results/benchmarks")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.physionet)

    clean = ludb_rhythms(root, args.patients)
    rec = noise.load_noise(root / "nstdb" / "1.0.0", args.kind)
    noisy = noise.make_noisy_set(clean, 1000, rec, None, args.kind, seed=0)
    y = torch.tensor(noisy.noisy)
    den = ConvDenoiser(len(leads.BASIS), args.width)

    rows = []
    for name in args.samplers.split(","):
        s = ArtefactSettings(sampler=name, rounds=args.rounds, tol=0.0)
        model = ArtefactModel(s)
        model.design(1000).H  # noqa: B018  (the Ridge operator, once per window length: timed apart)
        t0 = time.perf_counter()
        res = model.run(den, y, 1000, torch.Generator().manual_seed(0))
        total = time.perf_counter() - t0
        h = res.history
        t_h = time.perf_counter()
        ArtefactModel(s).design(1000).H  # noqa: B018
        h_setup = time.perf_counter() - t_h
        row = {
            "sampler": name,
            "patients": args.patients,
            "leads": len(leads.BASIS),
            "length": 1024,
            "rounds": len(h),
            "samples": s.n_samples,
            "total_s": total,
            "sampling_s": sum(r["sampling_s"] for r in h),
            "lasso_s": h[0]["regression_s"],
            "lasso_max_iter_used": int(model.last_lasso_iters.max()),
            "ridge_s": sum(r["regression_s"] for r in h[1:]),
            "ridge_setup_s": h_setup,
            "denoiser_calls": sum(r["denoiser_calls"] for r in h),
            "kind": args.kind,
            "width": args.width,
            "threads": args.threads,
        }
        rows.append(row)
        print(
            f"{name:8s} total {total:8.1f} s  sampling {row['sampling_s']:8.1f} s  lasso {row['lasso_s']:6.2f} s "
            f"(max {row['lasso_max_iter_used']} iterations)  ridge {row['ridge_s']:6.3f} s "
            f"(+ {h_setup:.2f} s setup)  denoiser calls {row['denoiser_calls']}",
            flush=True,
        )
    df = pd.DataFrame(rows)
    prov = provenance.make({"benchmark": "artefact_alternation", **vars(args)}, seed=0, cpu_count=os.cpu_count())
    out = Path(args.out)
    tables.write_table(
        df,
        out / "artefact_alternation.csv",
        out / "artefact_alternation.md",
        caption="One artefact-removal alternation (5 rounds) on the CPU: 8 patients x 8 leads x 1024",
        provenance=prov,
    )
    io.write_json(out / "artefact_alternation.json", {"provenance": prov, "rows": rows})
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
