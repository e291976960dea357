"""Speed of the rhythm prior (8 leads x 1024 samples at 100 Hz): training, denoising and posterior sampling.

    python benchmarks/rhythm_speed.py                                   # default + paper sizes, CPU 1 and 2 threads
    python benchmarks/rhythm_speed.py --sizes default --samplers all    # and the six posterior samplers
    python benchmarks/rhythm_speed.py --sizes '{"channels": 24}' --samplers none
    python benchmarks/rhythm_speed.py --sizes default --learn-steps 600 # does the default size learn? (minutes)

For every network size and device: parameters, the convolutional receptive field, FLOP per forward pass and
per training example (forward + backward, counted by ``FlopCounterMode``: matrix products, convolutions,
attention), training rhythms/s (Adam steps of the EDM loss, batch 16 on the CPU (4 above 2 GFLOP per forward),
256 on CUDA), denoiser evaluations/s (no gradient, batch 32 (8) / 1024) and the fraction of the measured matmul peak (helpers of
``benchmarks/flop_timing.py``, shared with ``prior_throughput.py``). On the CPU at 1 and 2 threads; each time
is the best of several repetitions and is also given per CPU-second of the process (what an unloaded core
gives: the machine may be shared), with the fraction of the matmul peak per CPU-second. On CUDA (when present): bfloat16 autocast, eager and ``torch.compile``.

Posterior sampling (``--samplers``): samples/s per patient of each sampler of :mod:`ecgdiff.inverse`
(``get_sampler(name, steps=50)``, the talk's 50 steps, 10 samples per patient, one patient) on the talk's
missing-lead problem (lead I observed over the 1000 valid samples, observation std 0.05) with the
default-size network (random weights: the cost of a trained network of that size) on the CPU.

``--learn-steps N`` trains the default size for N steps on rhythms made from the embedded default's
simulated cohort (:mod:`ecgdiff.data.synthetic`, filtered and resampled to 100 Hz as the rhythm database
does, 1000 samples zero-padded to 1024, 70/15/15 split by patient) and reports the CV loss before and after
and the time: the check that the proposed default trains in a few minutes and learns something.

Sizes: ``default`` (the embedded default run), ``real`` (LUDB + CinC), ``paper`` (about the authors'
16 M parameters, :data:`ecgdiff.diffusion.networks.rhythm_unet.PAPER_SIZE`), or JSON overrides of the
default. Results: ``results/benchmarks/rhythm_speed.{csv,md,json}`` (git-ignored).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flop_timing import count_flops, measure_peaks, timed2  # noqa: E402  (benchmarks/flop_timing.py)

from ecgdiff import io, leads, provenance, tables  # noqa: E402
from ecgdiff.diffusion.networks import model_config_dict  # noqa: E402
from ecgdiff.diffusion.networks.rhythm_unet import (  # noqa: E402
    PAPER_SIZE,
    RhythmUNetConfig,
    count_parameters,
    receptive_field,
)
from ecgdiff.diffusion.precond import training_loss  # noqa: E402
from ecgdiff.diffusion.prior import Prior, build_model  # noqa: E402
from ecgdiff.inverse import Mask, get_sampler  # noqa: E402
from ecgdiff.inverse.bench import measure  # noqa: E402

#: The proposed sizes (the workflow's ``rhythm_prior.model`` sections; see docs/prior.md).
SIZES: dict[str, dict] = {
    "default": dict(channels=16, channel_mult=[1, 2, 2, 4], num_blocks=1, attn_levels=[3], dropout=0.0),
    "real": dict(channels=32, channel_mult=[1, 2, 2, 4], num_blocks=2, attn_levels=[2, 3], dropout=0.1),
    "paper": PAPER_SIZE,
}
#: The proposed training settings of the default run (``rhythm_prior.train``).
TRAIN: dict[str, dict] = {
    "default": dict(
        steps=600, batch_size=16, lr=2e-3, lr_warmup_steps=50, ema=0.995, grad_clip=1.0, cv_every=100, cv_sigmas=8
    ),
    "real": dict(
        steps=1600, batch_size=16, lr=1e-3, lr_warmup_steps=100, ema=0.995, grad_clip=1.0, cv_every=100, cv_sigmas=8
    ),
}
SAMPLERS = ("mgps", "dps", "pgdm", "ddnm", "diffpir", "reddiff")


def size_config(size: str) -> RhythmUNetConfig:
    if size.startswith("{"):
        return RhythmUNetConfig(**{**SIZES["default"], **json.loads(size)})
    return RhythmUNetConfig(**SIZES[size])


def bench_network(size: str, device: torch.device, compile_: bool, peaks: tuple, iters: int) -> list:
    cfg = size_config(size)
    peak, peak_cpu, peak_dtype = peaks
    torch.manual_seed(0)
    model = build_model(model_config_dict(cfg), 0.5).to(device)
    n_params = count_parameters(model)
    cpu_model = copy.deepcopy(model).cpu()
    xb = torch.randn(2, cfg.leads, cfg.length)
    fwd = count_flops(lambda: cpu_model(xb, torch.ones(2))) / 2
    train_flops = (
        count_flops(lambda: training_loss(cpu_model, xb, None, torch.Generator().manual_seed(0)).backward()) / 2
    )
    amp = device.type == "cuda"
    if device.type == "cuda":
        bt, be = 256, 1024
    else:  # CPU: smaller batches for the large sizes (a few seconds per timed call)
        bt, be = (16, 32) if fwd < 2e9 else (4, 8)
    net = torch.compile(model) if compile_ else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(bt, cfg.leads, cfg.length, device=device)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = training_loss(net, x, None, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    xe = torch.randn(be, cfg.leads, cfg.length, device=device)
    sig = torch.full((be,), 1.0, device=device)

    def evaluate():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            net(xe, sig)

    rows = []
    for task, fn, batch, flops in (("train", step, bt, train_flops), ("denoise", evaluate, be, fwd)):
        model.train(task == "train")
        for _ in range(2 if not compile_ else 4):
            fn()
        times = [timed2(fn, device) for _ in range(iters)]
        wall, cpu = min(t for t, _ in times), min(c for _, c in times)
        rate, rate_cpu = batch / wall, (batch / cpu if device.type == "cpu" else float("nan"))
        rows.append(
            dict(
                size=size,
                device=device.type,
                threads=torch.get_num_threads() if device.type == "cpu" else None,
                task=task,
                batch=batch,
                params=n_params,
                receptive_field_s=receptive_field(cfg) / 100.0,
                gflop_forward=fwd / 1e9,
                gflop_per_example=flops / 1e9,
                per_s=rate,
                per_cpu_s=rate_cpu,
                tflops=rate * flops / 1e12,
                peak_tflops=peak / 1e12,
                peak_dtype=peak_dtype,
                peak_fraction=rate * flops / peak,
                peak_fraction_cpu_time=rate_cpu * flops / peak_cpu,
                amp=amp,
                compile=compile_,
            )
        )
    return rows


def bench_samplers(size: str, names: list[str], n_samples: int, steps: int) -> list:
    """Posterior samples/s per patient on the talk's lead-I-observed problem, the network on the CPU."""
    cfg = size_config(size)
    torch.manual_seed(0)
    model = build_model(model_config_dict(cfg), 0.5)
    with torch.no_grad():  # non-trivial output layer (it starts at zero)
        model.net.out_conv.weight.normal_(0, 0.02)
    meta = {"model_config": model_config_dict(cfg), "conditional": False, "leads": list(leads.BASIS), "fs": 100.0}
    D = Prior(model, meta, torch.device("cpu")).denoiser()
    mask = torch.zeros(cfg.leads, cfg.length, dtype=torch.bool)
    mask[leads.BASIS.index("I"), :1000] = True
    op = Mask(mask)
    x = 0.2 * torch.randn(1, cfg.leads, cfg.length, generator=torch.Generator().manual_seed(1))
    y = op.forward(x)[0] + 0.05 * torch.randn(op.m, generator=torch.Generator().manual_seed(2))
    rows = []
    for name in names:
        r = measure(get_sampler(name, steps=steps), D, y, op, 0.05, n_samples, 1, torch.Generator().manual_seed(0))
        r.update(size=size, steps=steps, threads=torch.get_num_threads(), samples_per_s_per_patient=r["samples_per_s"])
        rows.append(r)
        print(
            f"  {name:8s} {r['samples_per_s_per_patient']:8.3f} samples/s per patient  ({r['seconds']:.1f} s for "
            f"{n_samples}; denoised states/sample {r['denoiser_rows_per_sample']:.0f}, VJPs/sample "
            f"{r['vjp_rows_per_sample']:.0f}; fwd {r['forward_frac']:.2f} vjp {r['vjp_frac']:.2f})",
            flush=True,
        )
    return rows


def simulated_cohort_rhythms(n_patients: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rhythms ``[n, 8, 1024]`` of the embedded default's simulated cohort at 100 Hz and a 70/15/15 split."""
    from ecgdiff.data import synthetic
    from ecgdiff.data.beats import BeatParams, filter_signal, resample
    from ecgdiff.data.synthetic_config import SyntheticConfig

    cfg = SyntheticConfig(n_patients=n_patients, seed=seed)
    params = BeatParams()  # notch 50/60 Hz Q 50, high-pass 0.6 Hz order 5 (the rhythm conventions)
    out = np.zeros((n_patients, len(leads.BASIS), 1024), np.float32)
    for i, (_, signal, _) in enumerate(synthetic.simulate_cohort(cfg)):
        x = leads.derive(signal, leads.STANDARD_12, leads.BASIS)
        out[i, :, :1000] = resample(filter_signal(x, cfg.fs, params), cfg.fs, 100.0)[:, :1000]
    split = np.array(["train"] * n_patients, dtype=object)
    perm = np.random.default_rng(seed).permutation(n_patients)
    n_cv = n_test = int(round(0.15 * n_patients))
    split[perm[:n_cv]], split[perm[n_cv : n_cv + n_test]] = "cv", "test"
    return out, split


def learn(size: str, steps: int, n_patients: int, threads: int) -> dict:
    """Train ``size`` for ``steps`` on the simulated cohort's rhythms; CV loss before/after and the time."""
    import tempfile

    from ecgdiff.diffusion.train import TrainConfig, TrainData, Trainer

    x, split = simulated_cohort_rhythms(n_patients)
    t = lambda s: torch.from_numpy(x[split == s])  # noqa: E731
    data = TrainData(t("train"), None, t("cv"), None, leads.BASIS, 100.0, "simulated", cond_names=())
    every = max(steps // 6, 1)
    cfg = TrainConfig(**{**TRAIN["default"], "steps": steps, "cv_every": every, "log_every": every, "cv_beats": "all"})
    with tempfile.TemporaryDirectory() as work:
        tr = Trainer(data, size_config(size), cfg, work, variant="unconditional", device="cpu")
        untrained = tr.cv_loss()
        t0, c0 = time.perf_counter(), time.process_time()
        tr.run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    res = dict(
        size=size,
        threads=threads,
        steps=steps,
        batch=tr.batch_size,
        n_train=int(len(data.x_train)),
        n_cv=int(len(data.x_cv)),
        cv_untrained=untrained,
        cv_history=[round(r["cv_loss"], 4) for r in tr.history],
        cv_best=tr.best["cv_loss"],
        best_step=tr.best["step"],
        wall_s=wall,
        cpu_s=cpu,
    )
    print(
        f"learn {size}: {steps} steps x {tr.batch_size} on {res['n_train']} rhythms: CV loss untrained {untrained:.4f}"
        f" -> best {res['cv_best']:.4f} (step {res['best_step']}; history {res['cv_history']}); "
        f"{wall:.0f} s wall, {cpu:.0f} CPU-s",
        flush=True,
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="default,paper", help="comma-separated names, or ';'-separated JSON overrides")
    ap.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu and, when present, cuda)")
    ap.add_argument("--threads", default="1,2", help="CPU thread counts")
    ap.add_argument("--iters", type=int, default=3, help="timed repetitions (CPU; CUDA: 10x)")
    ap.add_argument("--samplers", default="none", help="'all', 'none' or a comma-separated list (default size)")
    ap.add_argument("--sampler-threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=10, help="posterior samples per patient")
    ap.add_argument("--steps", type=int, default=50, help="diffusion steps of the posterior samplers")
    ap.add_argument("--learn-steps", type=int, default=0, help="train the default size this many steps (0: off)")
    ap.add_argument("--learn-patients", type=int, default=240, help="simulated patients (the embedded default)")
    ap.add_argument("--out", default=str(ROOT / "results/benchmarks"))
    args = ap.parse_args()
    devs = (
        (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
        if args.devices == "auto"
        else args.devices.split(",")
    )
    sizes = args.sizes.split(";") if args.sizes.startswith("{") else args.sizes.split(",")
    rows, sampler_rows, learned = [], [], []
    for dname in devs:
        device = torch.device(dname)
        for threads in [int(t) for t in args.threads.split(",")] if device.type == "cpu" else [None]:
            if threads:
                torch.set_num_threads(threads)
            peaks = measure_peaks(device)
            peak, pdt = peaks[0], peaks[2]
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
            print(
                f"{dname} ({name}, threads={threads}): matmul peak {peak / 1e12:.3f} TFLOP/s, "
                f"{peaks[1] / 1e12:.3f} TFLOP per CPU-s ({pdt})",
                flush=True,
            )
            for size in sizes:
                for compile_ in (False, True) if device.type == "cuda" else (False,):
                    iters = args.iters * (10 if device.type == "cuda" else 1)
                    for r in bench_network(size, device, compile_, peaks, iters):
                        r["device_name"] = name
                        rows.append(r)
                        print(
                            f"  {size[:40]:8s} {r['task']:8s} {r['params'] / 1e6:6.2f} M  RF {r['receptive_field_s']:.2f} s"
                            f"  {r['gflop_forward']:.3f} GFLOP/fwd  {r['per_s']:9.1f} /s ({r['per_cpu_s']:.1f} /CPU-s)"
                            f"  {r['tflops']:.4f} TFLOP/s = {100 * r['peak_fraction']:4.1f} % of peak"
                            f" ({100 * r['peak_fraction_cpu_time']:4.1f} % per CPU-s)"
                            + (" compiled" if compile_ else ""),
                            flush=True,
                        )
    if args.samplers != "none":
        torch.set_num_threads(args.sampler_threads)
        names = list(SAMPLERS) if args.samplers == "all" else args.samplers.split(",")
        print(
            f"posterior samplers (default size, CPU, {args.sampler_threads} threads, {args.steps} steps):", flush=True
        )
        sampler_rows = bench_samplers("default", names, args.samples, args.steps)
    if args.learn_steps:
        torch.set_num_threads(args.sampler_threads)
        learned.append(learn("default", args.learn_steps, args.learn_patients, args.sampler_threads))

    out = Path(args.out)
    prov = provenance.make(
        {"benchmark": "rhythm_speed", **vars(args)},
        seed=0,
        cpu_count=os.cpu_count(),
        load_average=os.getloadavg(),
        cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    )
    if rows:
        tables.write_table(
            pd.DataFrame(rows),
            out / "rhythm_speed.csv",
            out / "rhythm_speed.md",
            caption="Rhythm prior network (8 x 1024): training rhythms/s and denoiser evaluations/s, FLOP, peak fraction",
            provenance=prov,
            floatfmt=".4g",
        )
    io.write_json(
        out / "rhythm_speed.json",
        {"provenance": prov, "sizes": SIZES, "rows": rows, "samplers": sampler_rows, "learn": learned},
    )
    print(f"wrote {out}/rhythm_speed.*")


if __name__ == "__main__":
    main()
