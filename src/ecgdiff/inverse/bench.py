"""Speed measurement of the samplers: a UNet-sized stand-in denoiser and a counting/timing wrapper.

:class:`StandInDenoiser` has the shape of the beat paper's network (appendix 6.6) at a configurable width:
EDM preconditioning (``sigma_data = 0.5``), an input convolution (kernel 1) to ``channels``, a sinusoidal
noise-level embedding, residual blocks of two kernel-3 convolutions with group normalisation and SiLU, one
self-attention layer (``channels / 64`` heads) and an output convolution. Its weights are random: it costs what a
trained network of that size costs, which is all a speed benchmark needs.

:class:`CountingDenoiser` wraps any denoiser and records the number of calls, of denoised states, of
vector-Jacobian products (VJPs) and the time spent in forward evaluations and in VJPs, so that a sampler's
cost splits into denoiser forward / denoiser VJP / the sampler's own arithmetic.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from ..diffusion import schedule

Tensor = torch.Tensor


class _Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, channels), nn.Conv1d(channels, channels, 3, padding=1)
        self.n2, self.c2 = nn.GroupNorm(8, channels), nn.Conv1d(channels, channels, 3, padding=1)
        self.emb = nn.Linear(channels, channels)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        r = self.c1(torch.nn.functional.silu(self.n1(h))) + self.emb(e)[:, :, None]
        return h + self.c2(torch.nn.functional.silu(self.n2(r)))


class StandInDenoiser(nn.Module):
    """Random-weight EDM denoiser shaped like the beat paper's 1D UNet (one resolution), ``D(x, sigma)``."""

    def __init__(
        self,
        leads: int = 9,
        channels: int = 64,
        blocks: int = 4,
        sigma_data: float = schedule.SIGMA_DATA,
        seed: int = 0,
    ) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.sigma_data, self.channels = sigma_data, channels
        self.inp = nn.Conv1d(leads, channels, 1)
        self.blocks = nn.ModuleList(_Block(channels) for _ in range(blocks))
        self.attn = nn.MultiheadAttention(channels, max(1, channels // 64), batch_first=True)
        self.out = nn.Conv1d(channels, leads, 1)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def _embed(self, c_noise: Tensor) -> Tensor:
        half = self.channels // 2
        freq = torch.exp(-math.log(1000.0) * torch.arange(half, device=c_noise.device) / half)
        ang = c_noise[:, None] * freq[None]
        return torch.cat([ang.sin(), ang.cos()], dim=1)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        s = sigma.reshape(-1, 1, 1).to(x.dtype)
        sd2 = self.sigma_data**2
        c_in = 1 / torch.sqrt(s * s + sd2)
        c_skip = sd2 / (s * s + sd2)
        c_out = s * self.sigma_data * c_in
        e = self._embed(torch.log(s.reshape(-1)) / 4)
        h = self.inp(c_in * x)
        for blk in self.blocks:
            h = blk(h, e)
        a, _ = self.attn(h.transpose(1, 2), h.transpose(1, 2), h.transpose(1, 2), need_weights=False)
        h = h + a.transpose(1, 2)
        return c_skip * x + c_out * self.out(h)


class _MarkBackward(torch.autograd.Function):
    """Identity whose backward records when the VJP through the wrapped denoiser starts."""

    @staticmethod
    def forward(ctx, x: Tensor, box: list) -> Tensor:  # type: ignore[override]
        ctx.box = box
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        ctx.box.append(time.perf_counter())
        return g, None


@dataclass
class CountingDenoiser:
    """Counts and times the calls of ``denoiser`` (forward and vector-Jacobian products)."""

    denoiser: object
    sync: bool = False
    calls: int = 0
    rows: int = 0
    vjps: int = 0
    vjp_rows: int = 0
    forward_s: float = 0.0
    vjp_s: float = 0.0
    _starts: list = field(default_factory=list)

    def _now(self) -> float:
        if self.sync:
            torch.cuda.synchronize()
        return time.perf_counter()

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        t0 = self._now()
        out = self.denoiser(x, sigma)
        self.forward_s += self._now() - t0
        self.calls += 1
        self.rows += x.shape[0]
        if x.requires_grad and out.requires_grad:
            self.vjps += 1
            self.vjp_rows += x.shape[0]
            box: list = []
            out = _MarkBackward.apply(out, box)

            def on_grad(g: Tensor) -> None:
                if box:
                    self.vjp_s += self._now() - box[0]

            x.register_hook(on_grad)
        return out


def measure(
    sampler,
    denoiser,
    y: Tensor,
    operator,
    sigma_y,
    n_samples: int,
    patients: int = 1,
    generator: torch.Generator | None = None,
) -> dict:
    """Run ``sampler.sample_batch`` on ``patients`` copies of ``y`` and report throughput and cost split."""
    dev = y.device
    counter = CountingDenoiser(denoiser, sync=dev.type == "cuda")
    ys = y[None].expand(patients, -1).contiguous()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    x = sampler.sample_batch(counter, ys, operator, sigma_y, n_samples, generator)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    if not torch.isfinite(x).all():
        raise RuntimeError(f"{sampler.name}: non-finite samples in the speed benchmark")
    draws = patients * n_samples
    return {
        "sampler": sampler.name,
        "patients": patients,
        "samples_per_patient": n_samples,
        "seconds": total,
        "samples_per_s": draws / total,
        "denoiser_calls": counter.calls,
        "denoiser_rows_per_sample": counter.rows / draws,
        "vjp_rows_per_sample": counter.vjp_rows / draws,
        "forward_frac": counter.forward_s / total,
        "vjp_frac": counter.vjp_s / total,
        "other_frac": max(0.0, 1 - (counter.forward_s + counter.vjp_s) / total),
    }
