"""The rhythm classifier's network: a one-dimensional XResNet (xresnet1d50 by default).

The talk scores reconstructions with an ``xresnet1d50`` trained on real rhythms; the authors' code ran an
``xresnet1d101``. Both are the 1D XResNets of the PTB-XL benchmark (Strodthoff et al., "Deep learning for
ECG analysis: benchmarks and insights from PTB-XL", IEEE JBHI 2021; ``helme/ecg_ptbxl_benchmarking``,
``code/models/xresnet1d.py`` and ``basic_conv1d.create_head1d``), themselves fastai's XResNet ("bag of
tricks", He et al. 2019) with one-dimensional layers. This module follows that code:

- stem: three ``conv -> batch norm -> ReLU`` layers with 32, 32, 64 channels, kernel 5, the first with
  stride 2, then max pooling (kernel 3, stride 2, padding 1);
- four stages of bottleneck blocks (expansion 4): ``1x1 -> k x k (stride) -> 1x1`` convolutions, each
  followed by batch norm, ReLU after the first two; the identity path is ``avg-pool(2, ceil) -> 1x1 conv
  -> batch norm`` where the shape changes; ReLU after the sum. Kernel 5. The first stage keeps the
  resolution, each later one halves it (stride on the middle convolution);
- bottleneck widths: 64 at **every** stage in the benchmark's code (its ``block_szs = [64, 64, 64, 64]``;
  the 64/128/256/512 of image ResNets is commented out there), times the width multiplier ``width``
  (their ``widen``), so every stage outputs ``4 * 64 * width`` channels;
- blocks per stage: ``[3, 4, 6, 3]`` for depth 50, ``[3, 4, 23, 3]`` for 101, ``[3, 8, 36, 3]`` for 152
  (``[2, 2, 2, 2]`` / ``[3, 4, 6, 3]`` with basic blocks, expansion 1, for 18 / 34); ``blocks`` overrides;
- head (``create_head1d`` with the benchmark's ``lin_ftrs_head=[128]``, ``ps_head=0.5``): adaptive
  concat pooling (max and average over time, concatenated), then ``batch norm -> dropout(0.25) -> linear
  -> ReLU`` to 128 features and ``batch norm -> dropout(0.5) -> linear`` to the class logits;
- initialisation: Kaiming-normal convolution and linear weights, zero biases, batch-norm weight 1 and
  bias 0 (the benchmark's ``weight_init``, which its trainer applies to the whole network before
  training and which undoes fastai's zero-initialised last batch norm of each block;
  ``zero_init_residual=True`` restores fastai's choice).

The network maps ``[B, in_channels, T]`` (any ``T`` that survives five halvings) to logits ``[B, n_classes]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

#: Blocks per stage and block expansion of the named depths (ptbxl benchmark's ``xresnet1d18 .. 152``).
DEPTHS: dict[int, tuple[int, tuple[int, ...]]] = {
    18: (1, (2, 2, 2, 2)),
    34: (1, (3, 4, 6, 3)),
    50: (4, (3, 4, 6, 3)),
    101: (4, (3, 4, 23, 3)),
    152: (4, (3, 8, 36, 3)),
}


@dataclass
class XResNetConfig:
    """Sizes of :class:`XResNet1d`; the defaults are the talk's xresnet1d50 with the benchmark's head.

    ``blocks`` (blocks per stage) and ``expansion`` default to those of ``depth``; giving ``blocks``
    builds any other stack (e.g. ``[1, 1, 1, 1]`` with ``width=0.25`` for a small CPU model).
    """

    depth: int = 50
    blocks: list[int] | None = None
    expansion: int | None = None
    width: float = 1.0
    stage_width: int = 64  # bottleneck width of every stage before ``width`` (benchmark: 64)
    kernel_size: int = 5
    stem: list[int] = field(default_factory=lambda: [32, 32, 64])
    stem_kernel_size: int = 5
    head_hidden: list[int] = field(default_factory=lambda: [128])
    head_dropout: float = 0.5
    zero_init_residual: bool = False
    in_channels: int = 12
    n_classes: int = 3

    def __post_init__(self) -> None:
        if self.depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {self.depth}")
        exp, blocks = DEPTHS[self.depth]
        self.expansion = int(exp if self.expansion is None else self.expansion)
        self.blocks = [int(b) for b in (blocks if self.blocks is None else self.blocks)]
        self.stem = [int(c) for c in self.stem]
        self.head_hidden = [int(c) for c in self.head_hidden]
        if self.expansion not in (1, 4):
            raise ValueError(f"expansion must be 1 (basic blocks) or 4 (bottlenecks), got {self.expansion}")
        if not self.blocks or any(b < 1 for b in self.blocks):
            raise ValueError(f"blocks must be a non-empty list of positive counts, got {self.blocks}")
        if len(self.stem) < 1 or any(c < 1 for c in self.stem):
            raise ValueError(f"stem must list positive channel counts, got {self.stem}")
        if self.width <= 0 or self.mid_channels < 1:
            raise ValueError(f"width {self.width} x stage_width {self.stage_width} gives no channels")
        for name in ("kernel_size", "stem_kernel_size"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"{name} must be a positive odd number (same-length convolutions), got {k}")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"head_dropout must be in [0, 1), got {self.head_dropout}")
        if self.in_channels < 1 or self.n_classes < 1:
            raise ValueError(f"in_channels and n_classes must be >= 1, got {self.in_channels}, {self.n_classes}")

    @property
    def mid_channels(self) -> int:
        """Bottleneck width of every stage: ``int(stage_width * width)``."""
        return int(self.stage_width * self.width)

    @property
    def out_channels(self) -> int:
        """Channels of every stage's output (and of the pooled features, halved)."""
        return self.mid_channels * int(self.expansion or 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """``conv (no bias, 'same' padding) -> batch norm [-> ReLU]`` (fastai's ``ConvLayer``, batch norm first)."""
    layers: list[nn.Module] = [
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
        nn.BatchNorm1d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """Residual block: bottleneck (expansion 4) or basic (expansion 1) convolutions plus the identity path."""

    def __init__(self, c_in: int, mid: int, expansion: int, kernel: int, stride: int) -> None:
        super().__init__()
        c_out = mid * expansion
        if expansion == 1:
            convs = [conv_bn(c_in, mid, kernel, stride), conv_bn(mid, c_out, kernel, relu=False)]
        else:
            convs = [conv_bn(c_in, mid, 1), conv_bn(mid, mid, kernel, stride), conv_bn(mid, c_out, 1, relu=False)]
        self.convs = nn.Sequential(*convs)
        idpath: list[nn.Module] = []
        if stride != 1:
            idpath.append(nn.AvgPool1d(2, ceil_mode=True))
        if c_in != c_out:
            idpath.append(conv_bn(c_in, c_out, 1, relu=False))
        self.idpath = nn.Sequential(*idpath)
        self.act = nn.ReLU(inplace=True)

    @property
    def last_bn(self) -> nn.BatchNorm1d:
        return self.convs[-1][1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convs(x) + self.idpath(x))


class AdaptiveConcatPool1d(nn.Module):
    """Max and average over time, concatenated: ``[B, C, T] -> [B, 2C]`` (max first, as fastai)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.amax(dim=-1), x.mean(dim=-1)], dim=1)


def make_head(n_features: int, hidden: list[int], dropout: float, n_classes: int) -> nn.Sequential:
    """Concat pooling, then ``batch norm -> dropout -> linear (-> ReLU)`` layers (``create_head1d``).

    Dropout is ``dropout / 2`` before every hidden layer and ``dropout`` before the output layer (fastai).
    """
    sizes = [2 * n_features, *hidden, n_classes]
    layers: list[nn.Module] = [AdaptiveConcatPool1d()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(nn.BatchNorm1d(a))
        p = dropout if last else dropout / 2
        if p > 0:
            layers.append(nn.Dropout(p))
        layers.append(nn.Linear(a, b))
        if not last:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class XResNet1d(nn.Module):
    """The 1D XResNet of the module docstring: ``[B, in_channels, T] -> logits [B, n_classes]``."""

    def __init__(self, cfg: XResNetConfig) -> None:
        super().__init__()
        self.config = cfg
        chans = [cfg.in_channels, *cfg.stem]
        stem: list[nn.Module] = [
            conv_bn(chans[i], chans[i + 1], cfg.stem_kernel_size, stride=2 if i == 0 else 1)
            for i in range(len(cfg.stem))
        ]
        stem.append(nn.MaxPool1d(kernel_size=3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        stages, c_in = [], cfg.stem[-1]
        for s, n_blocks in enumerate(cfg.blocks):
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(ResBlock(c_in, cfg.mid_channels, int(cfg.expansion or 1), cfg.kernel_size, stride))
                c_in = cfg.out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = make_head(cfg.out_channels, cfg.head_hidden, cfg.head_dropout, cfg.n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The benchmark's ``weight_init`` (see the module docstring), optionally zero residual batch norms."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.config.zero_init_residual:
            for m in self.modules():
                if isinstance(m, ResBlock):
                    nn.init.zeros_(m.last_bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected input [B, {self.config.in_channels}, T], got {list(x.shape)}")
        return self.head(self.stages(self.stem(x)))


__all__ = ["DEPTHS", "XResNetConfig", "XResNet1d", "ResBlock", "make_head"]
