"""Artefact-removal baselines on real signals: filter errors, DeScoD training and sampling cost on the CPU.

    python benchmarks/descod_filters.py [--mirror ../shared/physionet] [--threads 1] [--out results/benchmarks]

Data: the 200 LUDB records (10 s, 500 Hz) preprocessed as the rhythms are (notch 50/60 Hz Q 50, zero-phase
0.6-Hz high-pass of order 5, ``resample_poly`` to 100 Hz, leads I, II, V1-V6, 1000 samples zero-padded to
1024), and the NSTDB ``bw`` and ``em`` records resampled 360 -> 100 Hz.

1. Filters: test inputs as the talk's protocol builds them (:func:`ecgdiff.data.noise.make_noisy_set`:
   channel 1, every lead its own random window, scaled to 1 x (em) or 2 x (bw) the lead's peak-to-peak);
   RMSE and mean absolute error (mV) over the valid samples of the 8 leads, for the noisy input,
   :func:`filters.highpass` and :func:`filters.median_baseline`.
2. DeScoD cost: seconds per training step (forward + backward, best of a few) at batch 32 rhythms,
   extrapolated to one epoch of 250 rhythms x 8 leads, for a few feature widths in joint and per-lead
   form; seconds per rhythm for one 50-step denoising (one shot).
3. With ``--train-epochs E`` (> 0): a short DeScoD training per noise kind at ``--train-feats`` (joint) on
   the first 160 rhythms with channel-0 noise (:func:`ecgdiff.data.noise.training_noise`; validation: the
   next 20), then the errors of its denoising of the last 20 rhythms' test inputs (channel 1), next to the
   filters' on the same inputs.

Prints a table and writes ``descod_filters.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ecgdiff import leads as L
from ecgdiff.baselines import descod, descod_train, filters
from ecgdiff.data import beats
from ecgdiff.data import noise as nz
from ecgdiff.data.records import Record, read_source
from ecgdiff.io import write_json

FS, LENGTH, PADDED = 100.0, 1000, 1024


def ludb_rhythms(root: Path) -> np.ndarray:
    out = []
    for rec in read_source("ludb", root / "ludb" / "1.0.1"):
        if not isinstance(rec, Record):
            continue
        x = L.derive(rec.signal, rec.leads, L.BASIS)
        x = beats.resample(beats.filter_signal(x, rec.fs), rec.fs, FS)[:, :LENGTH]
        if x.shape[1] < LENGTH:
            continue
        pad = np.zeros((len(L.BASIS), PADDED), np.float32)
        pad[:, :LENGTH] = x
        out.append(pad)
    return np.stack(out)


def nstdb(root: Path, kind: str) -> nz.NoiseRecord:
    return nz.read_nstdb(root / "nstdb" / "1.0.0", kind)  # [2, n] mV at 360 Hz (resampled where used)


def noisy_inputs(clean: np.ndarray, rec: nz.NoiseRecord, kind: str, seed: int) -> np.ndarray:
    """The talk's test protocol (channel 1, 1 x em / 2 x bw the lead's peak-to-peak)."""
    return nz.make_noisy_set(clean, LENGTH, rec, None, kind, seed).noisy


def errors(x: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    d = (x - truth)[..., :LENGTH]
    return {"rmse": float(np.sqrt((d**2).mean())), "mae": float(np.abs(d).mean())}


def best_time(fn, reps: int = 3) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def time_config(cfg: descod.DeScoDConfig, x: torch.Tensor) -> dict:
    """Seconds per rhythm of one training step (batch of ``len(x)`` rhythms) and of one 50-step denoising."""
    model = descod.DeScoD(cfg)
    opt = torch.optim.Adam(model.net.parameters(), lr=1e-3)
    x0 = model.to_net(x)
    gen = torch.Generator().manual_seed(0)
    mask = torch.zeros(1, 1, x.shape[-1])
    mask[..., :LENGTH] = 1

    def step() -> None:
        lv = model.draw_levels(x0.shape[0], gen)
        loss, _ = model.loss(x0, x0, mask, lv, torch.randn(x0.shape, generator=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()

    per_rhythm = best_time(step) / len(x)
    with torch.no_grad():
        c = model.to_net(x[:4])
        level = torch.full((c.shape[0],), 0.5)
        t_fwd = best_time(lambda: model.net(c, c, level)) / 4
    return {
        "feats": cfg.feats,
        "lead_mode": cfg.lead_mode,
        "parameters": descod.count_parameters(model.net),
        "train_s_per_rhythm": per_rhythm,
        "epoch_s_250_rhythms": per_rhythm * 250,
        "denoise_s_per_rhythm_per_shot": t_fwd * cfg.steps,
    }


def short_training(root: Path, clean: np.ndarray, epochs: int, feats: int) -> list[dict]:
    import tempfile

    tr, cv, te = clean[:160], clean[160:180], clean[180:]
    rows = []
    for kind in ("bw", "em"):
        rec = nstdb(root, kind)
        train_noise = nz.training_noise(rec, kind, length=LENGTH)  # channel 0, 0.2-2.0 x, one per rhythm
        noisy = noisy_inputs(te, rec, kind, seed=1)
        cfg = descod.DeScoDConfig(feats=feats, epochs=epochs, batch_size=32)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as work:
            ck = descod_train.train(tr, train_noise, cfg, work, cv=cv, device="cpu")
        t_train = time.perf_counter() - t0
        model = descod.model_from_checkpoint(ck)
        t0 = time.perf_counter()
        den = descod.denoise(model, noisy, noise_kind=kind, device="cpu")
        t_den = time.perf_counter() - t0
        for name, y in (
            ("noisy input", noisy),
            ("highpass 0.67 Hz", filters.highpass(noisy, FS, length=LENGTH)),
            ("median 200+600 ms", filters.median_baseline(noisy, FS, length=LENGTH)),
            (f"DeScoD feats {feats}, {epochs} epochs", den),
        ):
            rows.append({"noise": kind, "method": name, **errors(y, te)})
        rows[-1].update(
            train_s=t_train,
            denoise_s=t_den,
            best_epoch=ck["best_epoch"],
            cv_losses=[h["cv_loss"] for h in ck["history"]],
        )
        for r in rows[-4:]:
            print(f"{r['noise']:5s} {r['method']:28s} {r['rmse']:8.4f} {r['mae']:8.4f}")
        print(
            f"  trained in {t_train:.0f} s (best epoch {ck['best_epoch']}), denoised {len(te)} rhythms in {t_den:.0f} s"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", default=str(REPO.parent / "shared" / "physionet"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks"))
    ap.add_argument("--feats", default="16,32,80")
    ap.add_argument("--train-epochs", type=int, default=0)
    ap.add_argument("--train-feats", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.mirror)
    clean = ludb_rhythms(root)
    print(f"{len(clean)} LUDB rhythms [N, 8, 1024]")
    result: dict = {
        "n_rhythms": len(clean),
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
    }

    rows = []
    for kind in ("bw", "em"):
        noisy = noisy_inputs(clean, nstdb(root, kind), kind, seed=0)
        for name, y in (
            ("noisy input", noisy),
            ("highpass 0.67 Hz", filters.highpass(noisy, FS, length=LENGTH)),
            ("highpass 0.5 Hz", filters.highpass(noisy, FS, filters.HighpassConfig(0.5), length=LENGTH)),
            ("median 200+600 ms", filters.median_baseline(noisy, FS, length=LENGTH)),
        ):
            rows.append({"noise": kind, "method": name, **errors(y, clean)})
    result["filters"] = rows
    print(f"{'noise':5s} {'method':20s} {'RMSE mV':>8s} {'MAE mV':>8s}")
    for r in rows:
        print(f"{r['noise']:5s} {r['method']:20s} {r['rmse']:8.4f} {r['mae']:8.4f}")

    timing = []
    x = torch.from_numpy(clean[:32])
    for feats in [int(f) for f in args.feats.split(",")]:
        for mode in ("joint", "per_lead"):
            if mode == "per_lead" and feats > 32:
                continue  # 8 x the joint cost: measured at the small widths only
            row = time_config(descod.DeScoDConfig(feats=feats, lead_mode=mode), x)
            timing.append(row)
            print(
                f"feats {feats:3d} {mode:8s} {row['parameters']:8d} params  train {row['train_s_per_rhythm'] * 1000:7.1f} ms/rhythm "
                f"-> {row['epoch_s_250_rhythms']:7.1f} s/epoch (250 rhythms)  denoise {row['denoise_s_per_rhythm_per_shot']:6.2f} s/rhythm"
            )
    result["descod_timing"] = timing
    if args.train_epochs > 0:
        result["descod_short_training"] = short_training(root, clean, args.train_epochs, args.train_feats)
    out = Path(args.out)
    write_json(out / "descod_filters.json", result)
    print(f"-> {out / 'descod_filters.json'}")


if __name__ == "__main__":
    main()
