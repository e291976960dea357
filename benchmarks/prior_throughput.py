"""Throughput of the beat prior: training and generation (K = 20) in beats/s, FLOPs per beat, fraction of peak.

    python benchmarks/prior_throughput.py                      # CPU (and CUDA when present), default + paper sizes
    python benchmarks/prior_throughput.py --devices cpu --threads 2 --sizes default

Model sizes come from the workflow configuration (``prior.model`` of config/config.yaml, overridden by
config/paper.yaml or config/ludb.yaml). FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode``
(matrix products, convolutions and attention; normalisations and element-wise operations are not
counted), per beat, for one forward pass (generation: times K) and for forward + backward (training).
Every time is the best (minimum) of several repetitions, which makes the numbers robust to other load
on a shared machine. The device's peak is measured with a large matrix product (float32 on CPU, bfloat16 on CUDA, the precision
training uses there), and each throughput is reported as a fraction of it. Results are printed and written
to results/benchmarks/prior_throughput.{csv,json,png}.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flop_timing import count_flops, measure_peak, timed2  # noqa: E402  (benchmarks/flop_timing.py)

from ecgdiff.diffusion.networks.beat_unet import UNetConfig, count_parameters  # noqa: E402
from ecgdiff.diffusion.precond import training_loss  # noqa: E402
from ecgdiff.diffusion.prior import build_model  # noqa: E402
from ecgdiff.diffusion.sample import ve_sample  # noqa: E402


def model_config(size: str) -> dict:
    """``prior.model`` of the default configuration, overridden by config/<size>.yaml (size 'default': none)
    or by a JSON object given as the size (``'{"channels": 64, "num_blocks": 2}'``)."""
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())["prior"]["model"]
    if size.startswith("{"):
        return {**cfg, **json.loads(size)}
    if size != "default":
        over = yaml.safe_load((ROOT / f"config/{size}.yaml").read_text()).get("prior", {}).get("model", {})
        cfg = {**cfg, **over}
    return cfg


def bench(
    size: str,
    device: torch.device,
    batch_train: int,
    batch_gen: int,
    iters: int,
    k: int,
    compile_: bool,
    peak: float,
    peak_dtype: str,
    tasks: list[str],
) -> list[dict]:
    mcfg = UNetConfig(**model_config(size))
    model = build_model(mcfg.to_dict(), 0.5).to(device)
    amp = device.type == "cuda"
    n_params = count_parameters(model)
    gen = torch.Generator().manual_seed(0)
    # FLOPs per beat (counted on the CPU copy of the model at batch 2, in float32)
    cpu_model = copy.deepcopy(model).cpu()
    xb, cb = torch.randn(2, mcfg.leads, mcfg.length), torch.randn(2, 4)
    fwd = count_flops(lambda: cpu_model(xb, torch.ones(2), cb)) / 2

    def train_step_cpu():
        training_loss(cpu_model, xb, cb, torch.Generator().manual_seed(0)).backward()

    train_flops = count_flops(train_step_cpu) / 2

    rows = []
    # training
    net = torch.compile(model) if compile_ else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch_train, mcfg.leads, mcfg.length, device=device)
    c = torch.randn(batch_train, 4, device=device)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = training_loss(net, x, c, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3 if not compile_ else 5):
        step()
    times = [timed2(step, device) for _ in range(iters)]
    dt = min(t for t, _ in times)
    cpu = min(c for _, c in times)
    rate = batch_train / dt
    rows.append(
        dict(
            size=size,
            device=device.type,
            task="train",
            batch=batch_train,
            params=n_params,
            beats_per_cpu_s=batch_train / cpu if device.type == "cpu" else float("nan"),
            gflop_per_beat=train_flops / 1e9,
            beats_per_s=rate,
            tflops=rate * train_flops / 1e12,
            peak_tflops=peak / 1e12,
            peak_dtype=peak_dtype,
            peak_fraction=rate * train_flops / peak,
            amp=amp,
            compile=compile_,
        )
    )
    if "generate" not in tasks:
        return rows
    # generation (VE sampler, K steps)
    model.eval()
    cond = torch.randn(batch_gen, 4, device=device)

    def D(xx, s):
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            return net(xx, s, cond).float()

    ve_sample(D, (batch_gen, mcfg.leads, mcfg.length), 2, generator=gen, device=device)
    reps = max(2, iters // 4)
    times = [
        timed2(lambda: ve_sample(D, (batch_gen, mcfg.leads, mcfg.length), k, generator=gen, device=device), device)
        for _ in range(reps)
    ]
    dt = min(t for t, _ in times)
    rate = batch_gen / dt
    gf = k * fwd
    rows.append(
        dict(
            size=size,
            device=device.type,
            task=f"generate_K{k}",
            batch=batch_gen,
            params=n_params,
            beats_per_cpu_s=batch_gen / min(c for _, c in times) if device.type == "cpu" else float("nan"),
            gflop_per_beat=gf / 1e9,
            beats_per_s=rate,
            tflops=rate * gf / 1e12,
            peak_tflops=peak / 1e12,
            peak_dtype=peak_dtype,
            peak_fraction=rate * gf / peak,
            amp=amp,
            compile=compile_,
        )
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu and, when present, cuda)")
    ap.add_argument(
        "--sizes",
        default="default,ludb,paper",
        help="comma-separated config names, or ';'-separated JSON model overrides",
    )
    ap.add_argument("--tasks", default="train,generate")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=0, help="timed training steps (0: 5 on CPU, 30 on CUDA)")
    ap.add_argument("--steps", type=int, default=20, help="K of the generation benchmark")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network (CUDA)")
    ap.add_argument("--out", default=str(ROOT / "results/benchmarks"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devs = (
        (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
        if args.devices == "auto"
        else args.devices.split(",")
    )
    rows = []
    for dname in devs:
        device = torch.device(dname)
        peak, pdt = measure_peak(device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
        print(
            f"{dname} ({name}, threads={args.threads}): measured matmul peak {peak / 1e12:.3f} TFLOP/s ({pdt})",
            flush=True,
        )
        for size in args.sizes.split(";") if args.sizes.startswith("{") else args.sizes.split(","):
            if device.type == "cpu":
                bt, bg, it = 64, 64, args.iters or 5
            else:
                bt, bg, it = 1024, 2048, args.iters or 30
            for r in bench(
                size,
                device,
                bt,
                bg,
                it,
                args.steps,
                args.compile and device.type == "cuda",
                peak,
                pdt,
                args.tasks.split(","),
            ):
                r.update(device_name=name, threads=args.threads)
                rows.append(r)
                print(
                    f"  {size[:40]:8s} {r['task']:12s} {r['params'] / 1e6:6.2f} M params  {r['gflop_per_beat']:8.3f} GFLOP/beat"
                    f"  {r['beats_per_s']:10.1f} beats/s ({r.get('beats_per_cpu_s', float('nan')):.1f}/cpu-s)  {r['tflops']:.4f} TFLOP/s  {100 * r['peak_fraction']:5.1f} % of peak",
                    flush=True,
                )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "prior_throughput.csv", index=False)
    (out / "prior_throughput.json").write_text(
        json.dumps({"command": " ".join(sys.argv), "torch": torch.__version__, "rows": rows}, indent=2, default=str)
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, col, lab in (
        (axes[0], "beats_per_s", "beats / s"),
        (axes[1], "peak_fraction", "fraction of measured peak"),
    ):
        labels = [f"{r.size}\n{r.device} {r.task}" for r in df.itertuples()]
        ax.bar(range(len(df)), df[col])
        ax.set_xticks(range(len(df)), labels, fontsize=6, rotation=60, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel(lab)
    fig.suptitle(f"Beat prior throughput (training; generation with K = {args.steps})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "prior_throughput.png", dpi=120)
    print(f"wrote {out}/prior_throughput.csv, .json, .png")


if __name__ == "__main__":
    main()
