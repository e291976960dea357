"""Posterior samples per second of every sampler at its default settings on a 9 x 176 beat problem.

Usage (from the repository root, PYTHONPATH=src):

    python benchmarks/inverse_speed.py                     # CPU (and CUDA when available)
    python benchmarks/inverse_speed.py --devices cuda --samples 100 --patients 8 --channels 192

Problem: aVL, aVR, aVF observed (sigma 0.05), V1-V6 missing (the MI task's observation). Denoisers: the
analytic Gaussian-mixture denoiser of the accuracy benchmark and a random-weight stand-in shaped like the beat
paper's 1D UNet (:class:`ecgdiff.inverse.bench.StandInDenoiser`). ``--patients`` observations are sampled at once
(``sample_batch``), so MCGdiff's ``patients x samples x particles`` states go through the denoiser together.
Each row: samples per second, denoiser calls, denoised states and vector-Jacobian products per posterior draw,
and the fraction of time spent in denoiser forward passes, in VJPs and in the sampler's own arithmetic.
Writes ``results/benchmarks/inverse_speed.{csv,md,json}`` (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ecgdiff import io, leads, provenance, tables  # noqa: E402
from ecgdiff.inverse import Mask, available, get_sampler  # noqa: E402
from ecgdiff.inverse.bench import StandInDenoiser, measure  # noqa: E402
from ecgdiff.inverse.gmm import random_beatlike_gmm  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samplers", default=",".join(available()))
    ap.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--denoisers", default="gmm,unet")
    ap.add_argument("--samples", type=int, default=10, help="posterior draws per patient")
    ap.add_argument("--patients", type=int, default=4)
    ap.add_argument("--channels", type=int, default=64, help="width of the stand-in UNet (paper: 192)")
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default="results/benchmarks")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    names = leads.PAPER_9
    shape = (len(names), 176)
    gmm = random_beatlike_gmm(shape, n_components=4, rank=16, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[leads.indices(["aVL", "aVR", "aVF"], names)] = True
    op = Mask(mask)
    x = gmm.sample(1, torch.Generator().manual_seed(1)).float()
    y = op.forward(x)[0] + 0.05 * torch.randn(op.m, generator=torch.Generator().manual_seed(2))

    rows = []
    for dev in args.devices.split(","):
        device = torch.device(dev)
        for dname in args.denoisers.split(","):
            den = (
                gmm.to(device) if dname == "gmm" else StandInDenoiser(len(names), args.channels, args.blocks).to(device)
            )
            params = 0 if dname == "gmm" else sum(p.numel() for p in den.parameters())
            for name in args.samplers.split(","):
                sampler = get_sampler(name)
                r = measure(
                    sampler,
                    den,
                    y.to(device),
                    op.to(device),
                    0.05,
                    args.samples,
                    args.patients,
                    torch.Generator(device=device).manual_seed(0),
                )
                r.update(
                    device=dev,
                    denoiser=dname,
                    denoiser_params=params,
                    particles=getattr(sampler, "particles", 1),
                    steps=sampler.steps,
                )
                rows.append(r)
                print(
                    f"{dev:5s} {dname:5s} {name:8s} {r['samples_per_s']:10.3f} samples/s  "
                    f"rows/sample {r['denoiser_rows_per_sample']:7.0f}  vjp/sample {r['vjp_rows_per_sample']:5.0f}  "
                    f"fwd {r['forward_frac']:.2f} vjp {r['vjp_frac']:.2f} other {r['other_frac']:.2f}",
                    flush=True,
                )
    df = pd.DataFrame(rows)[
        [
            "device",
            "denoiser",
            "sampler",
            "steps",
            "particles",
            "patients",
            "samples_per_patient",
            "seconds",
            "samples_per_s",
            "denoiser_calls",
            "denoiser_rows_per_sample",
            "vjp_rows_per_sample",
            "forward_frac",
            "vjp_frac",
            "other_frac",
            "denoiser_params",
        ]
    ]
    stem = "inverse_speed" + (f"_{args.tag}" if args.tag else "")
    prov = provenance.make(
        {"benchmark": "inverse_speed", **vars(args)},
        seed=0,
        cpu_count=os.cpu_count(),
        cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    )
    tables.write_table(
        df,
        Path(args.out) / f"{stem}.csv",
        Path(args.out) / f"{stem}.md",
        caption="Posterior sampler throughput on a 9 x 176 problem (aVL, aVR, aVF observed), defaults",
        provenance=prov,
        floatfmt=".3f",
    )
    io.write_json(Path(args.out) / f"{stem}.json", {"provenance": prov, "rows": rows})
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
