"""The 1D UNet ``F`` of the beat prior (paper section 2.5, appendix 6.6).

A one-dimensional transcription of the ``DhariwalUNet`` of NVlabs' EDM code (the ADM network with
192 channels, dropout 0.1 and 64 channels per attention head), with the input stage of the paper:

- the preconditioned beat ``c_in x`` (``[B, L, T]``) goes through a kernel-1 convolution to ``C``
  channels (``e_x``);
- a sinusoidal time-position encoding (eq. 6, base 1000, fixed) ``e_time [C, T]`` is added;
- the noise level enters as the same positional encoding of ``c_noise`` (``e_v``, ``[C]``);
- the conditioning vector (:mod:`ecgdiff.diffusion.conditioning`) goes through a 2-layer MLP
  (``e_cat``, ``[C]``; absent in the unconditional variant);
- ``e_x + e_time + e_v + e_cat`` (vectors repeated over time) enters the UNet, and, as in EDM, the
  vector ``e_v + e_cat`` also passes a 2-layer MLP to the embedding that modulates every residual
  block (adaptive GroupNorm scale and shift).

Residual blocks: GroupNorm, SiLU, convolution (kernel 3), adaptive scale/shift, SiLU, dropout,
convolution (zero-initialised), residual connection; optional multi-head self-attention with
``heads = channels // 64`` (at least 1). Each resolution level has ``num_blocks`` blocks in the encoder
and ``num_blocks + 1`` in the decoder (skip connections concatenated), resolutions are halved/doubled
between levels; the paper uses one level with two blocks and attention.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..conditioning import COND_DIM


@dataclass
class UNetConfig:
    """Sizes of :class:`UNet1D` (the paper's defaults; ``cond_dim=0`` gives the unconditional variant)."""

    leads: int = 9
    length: int = 176
    channels: int = 192
    channel_mult: list[int] = field(default_factory=lambda: [1])
    num_blocks: int = 2
    attn_levels: list[int] = field(default_factory=lambda: [0])
    emb_mult: int = 4
    dropout: float = 0.1
    kernel: int = 3
    channels_per_head: int = 64
    cond_dim: int = COND_DIM

    def __post_init__(self) -> None:
        self.channel_mult = [int(m) for m in self.channel_mult]
        self.attn_levels = [int(a) for a in self.attn_levels]
        for name in ("leads", "length", "channels", "num_blocks", "emb_mult", "kernel", "channels_per_head"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise ValueError(f"channel_mult must be a non-empty list of integers >= 1, got {self.channel_mult}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.cond_dim < 0:
            raise ValueError(f"cond_dim must be >= 0, got {self.cond_dim}")
        if self.length % (2 ** (len(self.channel_mult) - 1)):
            raise ValueError(
                f"length {self.length} is not divisible by 2^{len(self.channel_mult) - 1} "
                f"({len(self.channel_mult)} resolution levels)"
            )
        if self.channels % 2:
            raise ValueError(f"channels must be even (sin/cos pairs), got {self.channels}")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {self.kernel}")
        bad = [a for a in self.attn_levels if not 0 <= a < len(self.channel_mult)]
        if bad:
            raise ValueError(f"attn_levels {bad} outside 0..{len(self.channel_mult) - 1}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def positional_encoding(positions: torch.Tensor, channels: int, base: float = 1000.0) -> torch.Tensor:
    """Sinusoidal encoding of eq. 6: ``[..., channels]`` with ``sin(base^(-r/(C/2)) t)`` at ``2r``, ``cos`` at ``2r+1``."""
    half = channels // 2
    freqs = base ** (-torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    angles = positions.float().unsqueeze(-1) * freqs
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)


def _groups(channels: int) -> int:
    """GroupNorm groups as in EDM: at most 32, at least 4 channels per group."""
    g = min(32, max(1, channels // 4))
    while channels % g:
        g -= 1
    return g


def _heads(channels: int, channels_per_head: int) -> int:
    """``channels // channels_per_head`` heads (at least 1), reduced until it divides ``channels``."""
    h = max(1, channels // channels_per_head)
    while channels % h:
        h -= 1
    return h


class ResBlock(nn.Module):
    """EDM ``UNetBlock`` in 1D: residual block with adaptive scale/shift, optional resampling and attention."""

    def __init__(
        self,
        cin: int,
        cout: int,
        emb_channels: int,
        dropout: float,
        kernel: int = 3,
        attention: bool = False,
        channels_per_head: int = 64,
        up: bool = False,
        down: bool = False,
    ) -> None:
        super().__init__()
        self.up, self.down = up, down
        self.norm0 = nn.GroupNorm(_groups(cin), cin)
        self.conv0 = nn.Conv1d(cin, cout, kernel, padding=kernel // 2)
        self.affine = nn.Linear(emb_channels, 2 * cout)
        self.norm1 = nn.GroupNorm(_groups(cout), cout)
        self.dropout = nn.Dropout(dropout)
        self.conv1 = nn.Conv1d(cout, cout, kernel, padding=kernel // 2)
        nn.init.zeros_(self.conv1.weight)
        nn.init.zeros_(self.conv1.bias)
        self.skip = nn.Conv1d(cin, cout, 1) if (cin != cout or up or down) else None
        self.heads = _heads(cout, channels_per_head) if attention else 0
        if attention:
            self.norm2 = nn.GroupNorm(_groups(cout), cout)
            self.qkv = nn.Conv1d(cout, 3 * cout, 1)
            self.proj = nn.Conv1d(cout, cout, 1)
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.down:
            return F.avg_pool1d(x, 2)
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        orig = x
        x = self.conv0(self._resample(F.silu(self.norm0(x))))
        scale, shift = self.affine(emb).unsqueeze(-1).to(x.dtype).chunk(2, dim=1)
        x = F.silu(torch.addcmul(shift, self.norm1(x), scale + 1))
        x = self.conv1(self.dropout(x))
        skip = self._resample(orig)
        x = x + (self.skip(skip) if self.skip is not None else skip)
        if self.heads:
            b, c, t = x.shape
            q, k, v = self.qkv(self.norm2(x)).reshape(b, 3, self.heads, c // self.heads, t).transpose(-1, -2).unbind(1)
            a = F.scaled_dot_product_attention(q, k, v)  # [B, heads, T, c/heads]
            x = x + self.proj(a.transpose(-1, -2).reshape(b, c, t))
        return x


class UNet1D(nn.Module):
    """The raw network ``F(x_in, c_noise, cond) -> [B, L, T]`` (wrap it in :class:`~.precond.EDMPrecond`)."""

    def __init__(self, config: UNetConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = config if config is not None else UNetConfig(**kwargs)
        self.config = cfg
        c0 = cfg.channels
        emb_ch = cfg.emb_mult * c0
        self.in_conv = nn.Conv1d(cfg.leads, c0, 1)
        self.register_buffer(
            "e_time", positional_encoding(torch.arange(1, cfg.length + 1), c0).T.contiguous(), persistent=False
        )
        self.cond_mlp = (
            nn.Sequential(nn.Linear(cfg.cond_dim, c0), nn.SiLU(), nn.Linear(c0, c0)) if cfg.cond_dim > 0 else None
        )
        self.map0 = nn.Linear(c0, emb_ch)
        self.map1 = nn.Linear(emb_ch, emb_ch)
        blk = dict(emb_channels=emb_ch, dropout=cfg.dropout, kernel=cfg.kernel, channels_per_head=cfg.channels_per_head)

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
        for level in reversed(range(len(cfg.channel_mult))):
            mult = cfg.channel_mult[level]
            if level == len(cfg.channel_mult) - 1:
                self.dec.append(ResBlock(cout, cout, attention=bool(cfg.attn_levels), **blk))
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
        self.out_conv = nn.Conv1d(cout, cfg.leads, cfg.kernel, padding=cfg.kernel // 2)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    @property
    def conditional(self) -> bool:
        return self.cond_mlp is not None

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        if x.ndim != 3 or x.shape[1] != cfg.leads or x.shape[2] != cfg.length:
            raise ValueError(f"expected input [B, {cfg.leads}, {cfg.length}], got {list(x.shape)}")
        e_v = positional_encoding(c_noise.reshape(-1).expand(x.shape[0]), cfg.channels)
        vec = e_v
        if self.cond_mlp is not None:
            if cond is None:
                raise ValueError("the conditional network needs a conditioning vector")
            if cond.shape != (x.shape[0], cfg.cond_dim):
                raise ValueError(f"expected cond [{x.shape[0]}, {cfg.cond_dim}], got {list(cond.shape)}")
            vec = vec + self.cond_mlp(cond.to(e_v.dtype))
        h = self.in_conv(x) + self.e_time.to(x.dtype) + vec.unsqueeze(-1).to(x.dtype)
        emb = F.silu(self.map1(F.silu(self.map0(vec))))
        skips = [h]
        for block in self.enc:
            h = block(h, emb)
            skips.append(h)
        for block, takes in zip(self.dec, self.dec_takes_skip):
            if takes:
                h = torch.cat([h, skips.pop()], dim=1)
            h = block(h, emb)
        return self.out_conv(F.silu(self.out_norm(h)))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["UNetConfig", "UNet1D", "ResBlock", "positional_encoding", "count_parameters"]
