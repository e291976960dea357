"""The multi-resolution 1D UNet ``F`` of the rhythm prior: 8 independent leads x 1024 samples (10 s at 100 Hz).

The talk's rhythm prior is unconditional (a label-conditioned prior would leak the downstream
classifier's answer). The authors' network is a SaShiMi (S4 state-space) UNet (d_model 64, 4 layers,
pooling [1, 2, 2], about 16 M parameters) trained as a DDPM with 1000 steps and linear betas
1e-4..0.02. This package keeps one diffusion framework for every prior: the rhythm prior is an EDM
(variance-exploding) denoiser with the preconditioning, loss, noise schedule and samplers of the beat
prior (:mod:`..precond`, :mod:`..schedule`), and its network is a convolutional UNet built from the beat
UNet's blocks (:mod:`.beat_unet`: the EDM ``UNetBlock`` in 1D with adaptive GroupNorm scale/shift and
optional multi-head self-attention, the sinusoidal embedding of eq. 6), not an S4 network.
:data:`PAPER_SIZE` is a configuration of about the authors' parameter count (16 M).

Architecture (EDM's ``DhariwalUNet`` in 1D, several resolutions):

- input convolution (``kernel``) from the ``leads`` to ``channels``; optionally the fixed sinusoidal
  time-position encoding of the beat UNet is added (the zero padding at the end of every window sits at
  fixed positions, which the encoding lets the network locate);
- noise-level embedding: the sinusoidal encoding of ``c_noise`` (as the beat UNet), a 2-layer MLP to
  ``emb_mult * channels`` that modulates every residual block; an optional conditioning MLP adds to the
  encoding before the MLP (``cond_dim = 0``, the default, is the talk's unconditional prior);
- ``len(channel_mult)`` resolution levels; level ``l`` works at ``length / 2^l`` samples with
  ``channels * channel_mult[l]`` channels; between levels a residual block with average pooling by 2
  (down) or nearest-neighbour doubling (up); ``num_blocks`` blocks per level in the encoder, ``num_blocks
  + 1`` in the decoder (skip connections concatenated), two blocks at the bottleneck;
- self-attention (``channels_per_head`` per head) only in the blocks of the coarse levels
  ``attn_levels`` (never at full resolution, where 1024 positions would make it the dominant cost);
- output: GroupNorm, SiLU, convolution (``kernel``, zero-initialised) back to the leads.

Receptive field. Without attention the network is a chain of convolutions whose extent
:func:`receptive_field` computes (and :func:`measure_receptive_field` checks with the gradient of one
output sample). With 4 levels and kernel 3 it is 466 samples with 2 blocks per level (:data:`PAPER_SIZE`:
4.66 s at 100 Hz) and 342 samples with 1 block (3.42 s); kernel 5 doubles it (916 samples, 9.16 s). That
covers 3 to 5 beats at 60 bpm. The attention at the coarse levels (and the GroupNorm statistics, taken over
the whole window) then let every output depend on the whole 10.24-s window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .beat_unet import ResBlock, _groups, count_parameters, positional_encoding


@dataclass
class RhythmUNetConfig:
    """Sizes of :class:`RhythmUNet`; the defaults are :data:`PAPER_SIZE` (about the authors' 16 M parameters).

    ``leads`` and ``length``: the rhythm conventions (8 independent leads, 1000 samples at 100 Hz
    zero-padded to 1024). ``channel_mult``: one entry per resolution level (the length is halved per
    level, so ``length`` must be divisible by ``2^(levels - 1)``). ``attn_levels``: levels (>= 1) whose
    blocks have self-attention. ``cond_dim = 0``: unconditional (the talk).
    """

    ARCH: ClassVar[str] = "rhythm_unet"

    leads: int = 8
    length: int = 1024
    channels: int = 80
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 2, 4])
    num_blocks: int = 2
    attn_levels: list[int] = field(default_factory=lambda: [2, 3])
    emb_mult: int = 4
    dropout: float = 0.1
    kernel: int = 3
    channels_per_head: int = 64
    time_encoding: bool = True
    cond_dim: int = 0

    def __post_init__(self) -> None:
        self.channel_mult = [int(m) for m in self.channel_mult]
        self.attn_levels = sorted({int(a) for a in self.attn_levels})
        levels = len(self.channel_mult)
        for name in ("leads", "length", "channels", "num_blocks", "emb_mult", "channels_per_head"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"rhythm UNet: {name} must be >= 1, got {getattr(self, name)}")
        if levels < 1 or any(m < 1 for m in self.channel_mult):
            raise ValueError(
                f"rhythm UNet: channel_mult must be a non-empty list of ints >= 1, got {self.channel_mult}"
            )
        if self.length % (2 ** (levels - 1)):
            raise ValueError(
                f"rhythm UNet: length {self.length} is not divisible by 2^{levels - 1} ({levels} resolution levels)"
            )
        if self.channels % 2:
            raise ValueError(f"rhythm UNet: channels must be even (sin/cos pairs), got {self.channels}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"rhythm UNet: kernel must be odd and >= 1, got {self.kernel}")
        bad = [a for a in self.attn_levels if not 1 <= a < levels]
        if bad:
            raise ValueError(
                f"rhythm UNet: attn_levels {bad} outside the coarse levels 1..{levels - 1} "
                "(no attention at full resolution)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"rhythm UNet: dropout must be in [0, 1), got {self.dropout}")
        if self.cond_dim < 0:
            raise ValueError(f"rhythm UNet: cond_dim must be >= 0, got {self.cond_dim}")

    @property
    def levels(self) -> int:
        return len(self.channel_mult)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: About the authors' parameter count (SaShiMi UNet, ~16 M): 80 channels, 4 levels [1, 2, 2, 4], 2 blocks.
PAPER_SIZE: dict[str, Any] = RhythmUNetConfig().to_dict()


class RhythmUNet(nn.Module):
    """The raw network ``F(x_in [B, L, T], c_noise [B], cond) -> [B, L, T]`` (wrap it in :class:`~..precond.EDMPrecond`)."""

    def __init__(self, config: RhythmUNetConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = config if config is not None else RhythmUNetConfig(**kwargs)
        self.config = cfg
        c0, k = cfg.channels, cfg.kernel
        emb_ch = cfg.emb_mult * c0
        self.in_conv = nn.Conv1d(cfg.leads, c0, k, padding=k // 2)
        if cfg.time_encoding:
            e_time = positional_encoding(torch.arange(1, cfg.length + 1), c0).T.contiguous()
            self.register_buffer("e_time", e_time, persistent=False)
        else:
            self.e_time = None
        self.cond_mlp = (
            nn.Sequential(nn.Linear(cfg.cond_dim, c0), nn.SiLU(), nn.Linear(c0, c0)) if cfg.cond_dim > 0 else None
        )
        self.map0 = nn.Linear(c0, emb_ch)
        self.map1 = nn.Linear(emb_ch, emb_ch)
        blk = dict(emb_channels=emb_ch, dropout=cfg.dropout, kernel=k, channels_per_head=cfg.channels_per_head)
        last = cfg.levels - 1

        self.enc = nn.ModuleList()
        skips = [c0]
        cout = c0
        for level, mult in enumerate(cfg.channel_mult):
            if level > 0:
                self.enc.append(ResBlock(cout, cout, down=True, **blk))
                skips.append(cout)
            for _ in range(cfg.num_blocks):
                cin, cout = cout, c0 * mult
                self.enc.append(ResBlock(cin, cout, attention=level in cfg.attn_levels, **blk))
                skips.append(cout)
        self.dec = nn.ModuleList()
        self.dec_takes_skip: list[bool] = []
        for level in reversed(range(cfg.levels)):
            mult = cfg.channel_mult[level]
            if level == last:  # bottleneck: two blocks, the first with attention when the level has it
                self.dec.append(ResBlock(cout, cout, attention=last in cfg.attn_levels, **blk))
                self.dec.append(ResBlock(cout, cout, **blk))
                self.dec_takes_skip += [False, False]
            else:
                self.dec.append(ResBlock(cout, cout, up=True, **blk))
                self.dec_takes_skip.append(False)
            for _ in range(cfg.num_blocks + 1):
                cin, cout = cout + skips.pop(), c0 * mult
                self.dec.append(ResBlock(cin, cout, attention=level in cfg.attn_levels, **blk))
                self.dec_takes_skip.append(True)
        self.out_norm = nn.GroupNorm(_groups(cout), cout)
        self.out_conv = nn.Conv1d(cout, cfg.leads, k, padding=k // 2)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    @property
    def conditional(self) -> bool:
        return self.cond_mlp is not None

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        if x.ndim != 3 or x.shape[1] != cfg.leads or x.shape[2] != cfg.length:
            raise ValueError(f"rhythm UNet: expected input [B, {cfg.leads}, {cfg.length}], got {list(x.shape)}")
        vec = positional_encoding(c_noise.reshape(-1).expand(x.shape[0]), cfg.channels).to(x.dtype)
        if self.cond_mlp is not None:
            if cond is None:
                raise ValueError("rhythm UNet: the conditional network needs a conditioning vector")
            if cond.shape != (x.shape[0], cfg.cond_dim):
                raise ValueError(f"rhythm UNet: expected cond [{x.shape[0]}, {cfg.cond_dim}], got {list(cond.shape)}")
            vec = vec + self.cond_mlp(cond.to(vec.dtype))
        emb = F.silu(self.map1(F.silu(self.map0(vec))))
        h = self.in_conv(x)
        if self.e_time is not None:
            h = h + self.e_time.to(h.dtype)
        skips = [h]
        for block in self.enc:
            h = block(h, emb)
            skips.append(h)
        for block, takes in zip(self.dec, self.dec_takes_skip):
            if takes:
                h = torch.cat([h, skips.pop()], dim=1)
            h = block(h, emb)
        return self.out_conv(F.silu(self.out_norm(h)))


# --------------------------------------------------------------------------- receptive field
def _chain(config: RhythmUNetConfig) -> list[str]:
    """The longest path of the network as operations in forward order: ``conv``, ``pool`` (/2), ``up`` (x2)."""
    nb, last = config.num_blocks, config.levels - 1
    ops = ["conv"]  # input convolution
    for level in range(config.levels):
        if level > 0:
            ops += ["pool", "conv", "conv"]  # down block: pooling, then its two convolutions
        ops += ["conv", "conv"] * nb
    ops += ["conv"] * 4  # bottleneck: two blocks
    for level in reversed(range(config.levels)):
        if level < last:
            ops += ["up", "conv", "conv"]  # up block: doubling, then its two convolutions
        ops += ["conv", "conv"] * (nb + 1)
    return ops + ["conv"]  # output convolution


def receptive_field(config: RhythmUNetConfig) -> int:
    """Samples of the input that one output sample sees through the convolutions and resampling (worst phase).

    The longest path runs through every block, encoder down to the bottleneck and decoder back up. Going
    backwards from an output sample ``t`` the input interval ``[a, b]`` of each operation is: convolution
    of kernel ``k``: ``[a - k//2, b + k//2]``; nearest-neighbour doubling (``out[t] = in[t // 2]``):
    ``[a // 2, b // 2]``; average pooling by 2: ``[2a, 2b + 1]``. The extent depends on ``t`` modulo
    ``2^(levels - 1)``; the largest is returned. Attention and the GroupNorm statistics (both global) are
    left out: this is the convolutional receptive field (:func:`measure_receptive_field` checks it).
    """
    ops, r = _chain(config), config.kernel // 2
    unit = 2 ** (config.levels - 1)
    best = 0
    for t in range(unit):
        a, b = t, t
        for op in reversed(ops):
            if op == "conv":
                a, b = a - r, b + r
            elif op == "up":
                a, b = a // 2, b // 2
            else:
                a, b = 2 * a, 2 * b + 1
        best = max(best, b - a + 1)
    return best


def measure_receptive_field(config: RhythmUNetConfig, seed: int = 0) -> int:
    """The receptive field measured: the widest support of the gradient of one output sample.

    The network is built without attention and with its GroupNorms made the identity (both mix the
    whole window), every weight random, in float64, on an input long enough that the support cannot reach
    the ends; the support of ``d F(x)[:, :, t] / d x`` is exactly the set of input samples that reach output
    ``t`` through the convolutions. Measured at ``2^(levels - 1)`` consecutive positions (every phase of the
    resampling), the widest returned.
    """
    unit = 2 ** (config.levels - 1)
    length = unit * (-(-(2 * receptive_field(config) + 4 * unit) // unit))
    cfg = RhythmUNetConfig(**{**config.to_dict(), "length": length, "attn_levels": [], "dropout": 0.0, "cond_dim": 0})
    torch.manual_seed(seed)
    net = RhythmUNet(cfg).double().eval()
    norms = [name for name, m in net.named_modules() if isinstance(m, nn.GroupNorm)]
    for name in norms:
        parent, _, attr = name.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, attr, nn.Identity())
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    x = torch.randn(1, cfg.leads, length, dtype=torch.float64, requires_grad=True)
    out = net(x, torch.zeros(1, dtype=torch.float64))[0]
    best = 0
    for t in range(length // 2, length // 2 + unit):
        (g,) = torch.autograd.grad(out[:, t].sum(), x, retain_graph=True)
        support = (g[0].abs().sum(0) > 0).nonzero().flatten()
        best = max(best, int(support[-1] - support[0] + 1))
    return best


__all__ = [
    "RhythmUNetConfig",
    "RhythmUNet",
    "PAPER_SIZE",
    "receptive_field",
    "measure_receptive_field",
    "count_parameters",
]
