"""DeScoD-ECG (Li et al. 2023): a conditional DDPM that removes baseline wander or noise from an ECG.

The model (Li, Ditzler, Roveda, Li 2023, "DeScoD-ECG: Deep Score-Based Diffusion Model for ECG Baseline
Wander and Noise Removal"; code ``HuayuLiArizona/Score-based-ECG-Denoising``) is a denoising diffusion
probabilistic model (Ho et al. 2020) of the CLEAN signal ``x0`` whose noise predictor also sees the NOISY
recording ``y``: ``eps_theta(x_t, y, sqrt(alpha_bar))``. Denoising is ancestral sampling of
``p(x0 | y)`` from white noise, ``shots`` independent samples averaged (the authors' "multi-shot"
ensemble; the talk's evaluation used one). The talk retrained it on 10-s rhythms (leads x 1024 at 100 Hz,
millivolts) with the released settings except epochs and batch (authors' ``config/base.yaml``: 50 steps,
quadratic betas 1e-4..0.5, feature width 80; the talk's copy: 100 epochs, batch 128, lr 1e-3).

The pieces, each checked by ``tests/unit/test_descod.py``:

- :func:`ddpm_schedule`: the beta schedule and every derived array, in ONE function. Index ``i = t - 1``
  for diffusion step ``t = 1..T``: ``alphas_cumprod[i] = prod_{s <= t} (1 - beta_s)`` (``alpha_bar_t``; its
  first entry is ``1 - beta_1``, not 1: the classic off-by-one starts the product at ``t = 0``) and
  ``alphas_cumprod_prev[i] = alpha_bar_{t-1}`` with ``alpha_bar_0 = 1``.
- :class:`DeScoDNet`: the authors' ``ConditionalModel``: two streams of five convolutional blocks
  (``HNFBlock``: four parallel dilated convolutions of widths 3, 5, 9, 15, half the features
  instance-normalised, leaky ReLU 0.2, residual), one for ``x_t`` and one for ``y``; after each block of
  the ``x_t`` stream a ``Bridge`` (convolution, noise-level FiLM, convolution) adds its output to the
  matching block of the ``y`` stream; the noise level enters as a sinusoidal encoding of the continuous
  ``sqrt(alpha_bar)`` (WaveGrad's conditioning). Convolutions use reflect padding and Kaiming-normal
  initialisation, as released.
- :class:`DeScoD`: the network plus the schedule: :meth:`DeScoD.loss` (the authors' ``p_losses``: a
  continuous level ``sqrt(alpha_bar) ~ U[sqrt(alpha_bar_t), sqrt(alpha_bar_{t-1})]`` for a uniform step
  ``t``, ``x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps``, L1 loss between ``eps`` and its
  prediction, summed) and :meth:`DeScoD.reverse` (their ``p_sample_loop``: ``x0`` from the predicted
  noise, the exact Gaussian posterior ``q(x_{t-1} | x_t, x0)``, no clipping).
- :func:`denoise`: batched multi-shot denoising of ``[P, 8, T]`` arrays on CPU or GPU.

Leads. DeScoD is single-lead (QT-database beats). The talk's retrained copy takes the nine leads of a
rhythm at once (its ``ConditionalModel`` has 9 input and output channels). We default to the joint form
(``lead_mode="joint"``: the 8 modelled leads are the channels) because (1) it is the model behind the
talk's table, (2) the noise of each lead is an independent NSTDB window while the clean leads are
strongly correlated, information a per-lead network cannot use, and (3) it costs one eighth of the
per-lead form (the blocks' width does not depend on the number of input channels). ``lead_mode="per_lead"``
is DeScoD's own form: every lead of every rhythm is one single-channel example (leads as batch).

Padding. Rhythms are ``length`` valid samples zero-padded at the end to the network's length. The
condition's padding is zero, the loss sums over valid samples only, and :func:`denoise` returns zeros
there: padding never contributes to training or to any output.

Where this differs from the released code (none changes the model's definition):

- The released ``ConditionalModel`` declares six layers per stream but pairs them with five bridges by
  ``zip``, so the sixth block of each stream is never run; it is not built here (same function, fewer
  unused parameters).
- The training step ``t`` is drawn per example, not once per batch (same expected loss, lower variance).
- Validation loss is computed on a fixed set (noise, levels and ``eps`` drawn once from the seed), so that
  the best-on-validation choice compares epochs on the same draws; the authors redrew them every epoch.
- A checkpoint records the noise kind it was trained on and :func:`load_model` refuses any other (the
  talk's evaluation denoised the electrode-motion inputs with the baseline-wander model).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import checkpoints
from .. import leads as leadlib
from ..runtime import pick_device

log = logging.getLogger(__name__)

FORMAT = "ecgdiff.descod/1"
NOISE_KINDS: tuple[str, ...] = ("bw", "em")
LEAD_MODES: tuple[str, ...] = ("joint", "per_lead")
BETA_SCHEDULES: tuple[str, ...] = ("linear", "quad")


class NoiseKindError(ValueError):
    """A DeScoD model was asked to remove a noise kind other than the one it was trained on."""


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DeScoDConfig:
    """DeScoD-ECG settings; defaults are the talk's retraining (``Bayesian_ECG/DeScoD/config/base.yaml``).

    feats, steps, beta_*: network width 80, 50 steps, quadratic betas 1e-4..0.5 (authors' base.yaml).
    epochs, batch_size, lr: 100, 128, 1e-3 (the talk's copy; the authors' was 400 epochs, batch 96).
    lr_step_epochs, lr_gamma: StepLR(150, 0.1) of the authors' ``utils.train`` (inactive within 100 epochs).
    grad_clip: global gradient-norm clipping at 1.0 (authors' ``utils.train``).
    lead_mode: ``"joint"`` (the talk's multi-lead copy) or ``"per_lead"`` (DeScoD's single-lead form).
    shots: samples averaged at test time (the talk used 1; the authors report 1 and 10).
    cv_repeats: noisy copies of each validation rhythm in the fixed validation set.
    length: valid samples per rhythm (10 s at 100 Hz); samples after it are padding.
    seed: initialisation, data order, training noise and sampling.

    The training noise itself (channel, span, the 0.2-2.0 ratio range) is ``ecgdiff.data.noise``'s
    :class:`~ecgdiff.data.noise.TrainingNoiseSettings`.
    """

    feats: int = 80
    steps: int = 50
    beta_schedule: str = "quad"
    beta_start: float = 1e-4
    beta_end: float = 0.5
    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    lr_step_epochs: int = 150
    lr_gamma: float = 0.1
    grad_clip: float | None = 1.0
    lead_mode: str = "joint"
    shots: int = 1
    cv_repeats: int = 2
    length: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.feats < 4 or self.feats % 4:
            raise ValueError(f"descod.feats must be a positive multiple of 4 (four parallel filters), got {self.feats}")
        for name in ("steps", "epochs", "batch_size", "lr_step_epochs", "shots", "cv_repeats", "length"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"descod.{name} must be >= 1, got {getattr(self, name)}")
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"descod.beta_schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}")
        if not 0.0 < self.beta_start <= self.beta_end < 1.0:
            raise ValueError(
                f"descod betas need 0 < beta_start <= beta_end < 1, got {self.beta_start}, {self.beta_end}"
            )
        if self.lr <= 0 or not 0.0 < self.lr_gamma <= 1.0:
            raise ValueError(f"descod.lr must be > 0 and lr_gamma in (0, 1], got {self.lr}, {self.lr_gamma}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"descod.grad_clip must be > 0 or None, got {self.grad_clip}")
        if self.lead_mode not in LEAD_MODES:
            raise ValueError(f"descod.lead_mode must be one of {LEAD_MODES}, got {self.lead_mode!r}")

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | None) -> DeScoDConfig:
        """Build from a configuration section; unknown keys are an error (none is silently ignored)."""
        cfg = dict(cfg or {})
        names = {f.name for f in fields(cls)}
        unknown = set(cfg) - names
        if unknown:
            raise ValueError(f"unknown descod keys {sorted(unknown)} (known: {sorted(names)})")
        return cls(**cfg)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> dict[str, Any]:
        """Settings that must agree for a training checkpoint to be resumed (the epoch budget may grow)."""
        d = self.to_dict()
        for k in ("epochs", "shots"):
            d.pop(k)
        return d


# ----------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class DDPMSchedule:
    """A discrete DDPM schedule, float64 arrays ``[T]`` indexed by ``i = t - 1`` (step ``t = 1..T``)."""

    betas: np.ndarray
    alphas: np.ndarray
    alphas_cumprod: np.ndarray  # alpha_bar_t
    alphas_cumprod_prev: np.ndarray  # alpha_bar_{t-1}, alpha_bar_0 = 1
    posterior_variance: np.ndarray  # Var q(x_{t-1} | x_t, x0)
    posterior_log_variance: np.ndarray  # its log, clipped at 1e-20 (it is 0 at t = 1)
    posterior_mean_coef1: np.ndarray  # coefficient of x0 in E q(x_{t-1} | x_t, x0)
    posterior_mean_coef2: np.ndarray  # coefficient of x_t

    @property
    def steps(self) -> int:
        return len(self.betas)

    @property
    def sqrt_alphas_cumprod_prev(self) -> np.ndarray:
        """``[T + 1]``: ``sqrt(alpha_bar_t)`` for ``t = 0..T`` (the continuous noise levels' grid)."""
        return np.sqrt(np.concatenate([[1.0], self.alphas_cumprod]))


def ddpm_schedule(kind: str, steps: int, beta_start: float, beta_end: float) -> DDPMSchedule:
    """Betas (``"linear"`` or ``"quad"``: linear in ``sqrt(beta)``, DeScoD's) and every derived array."""
    if kind == "linear":
        betas = np.linspace(beta_start, beta_end, steps, dtype=np.float64)
    elif kind == "quad":
        betas = np.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=np.float64) ** 2
    else:
        raise ValueError(f"beta schedule must be one of {BETA_SCHEDULES}, got {kind!r}")
    alphas = 1.0 - betas
    abar = np.cumprod(alphas)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
    return DDPMSchedule(
        betas=betas,
        alphas=alphas,
        alphas_cumprod=abar,
        alphas_cumprod_prev=abar_prev,
        posterior_variance=post_var,
        posterior_log_variance=np.log(np.maximum(post_var, 1e-20)),
        posterior_mean_coef1=betas * np.sqrt(abar_prev) / (1.0 - abar),
        posterior_mean_coef2=(1.0 - abar_prev) * np.sqrt(alphas) / (1.0 - abar),
    )


# ----------------------------------------------------------------------------- network
class _Conv(nn.Conv1d):
    """Conv1d with reflect "same" padding, Kaiming-normal weights and zero bias (the released ``Conv1d``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int = 1) -> None:
        super().__init__(c_in, c_out, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.padding_mode = "reflect"
        nn.init.kaiming_normal_(self.weight)
        nn.init.zeros_(self.bias)


class NoiseLevelEncoding(nn.Module):
    """``[sin(l * w_k), cos(l * w_k)]`` with ``w_k = 1e4^(-k / (dim/2))`` of the level ``l = sqrt(alpha_bar)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, level: Tensor) -> Tensor:
        count = self.dim // 2
        step = torch.arange(count, dtype=level.dtype, device=level.device) / count
        enc = level.reshape(-1, 1) * torch.exp(-math.log(1e4) * step)[None]
        return torch.cat([torch.sin(enc), torch.cos(enc)], dim=-1)


class HNFBlock(nn.Module):
    """Four parallel dilated convolutions (3, 5, 9, 15), half instance-normalised, two k=9 convs, residual."""

    def __init__(self, feats: int, dilation: int) -> None:
        super().__init__()
        self.filters = nn.ModuleList([_Conv(feats, feats // 4, k, dilation) for k in (3, 5, 9, 15)])
        self.conv_1 = _Conv(feats, feats, 9)
        self.norm = nn.InstanceNorm1d(feats // 2)
        self.conv_2 = _Conv(feats, feats, 9)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.cat([f(x) for f in self.filters], dim=1)
        normed, plain = self.conv_1(h).chunk(2, dim=1)
        h = F.leaky_relu(torch.cat([self.norm(normed), plain], dim=1), 0.2)
        return F.leaky_relu(self.conv_2(h), 0.2) + x


class Bridge(nn.Module):
    """Convolution, FiLM by the noise-level embedding (``(1 + gamma) h + beta``), convolution."""

    def __init__(self, feats: int) -> None:
        super().__init__()
        self.input_conv = _Conv(feats, feats, 3)
        self.film = nn.Linear(feats, 2 * feats)
        self.output_conv = _Conv(feats, feats, 3)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.input_conv(x)
        gamma, beta = self.film(emb).unsqueeze(-1).chunk(2, dim=1)
        return self.output_conv((1 + gamma) * h + beta)


DILATIONS: tuple[int, ...] = (1, 2, 4, 2)  # the released blocks of each stream that are run (see module doc)


class DeScoDNet(nn.Module):
    """The noise predictor ``eps_theta(x_t, y, level)``: ``[B, C, T]`` x2 and ``[B]`` -> ``[B, C, T]``."""

    def __init__(self, channels: int, feats: int = 80) -> None:
        super().__init__()
        self.channels, self.feats = channels, feats

        def stream() -> nn.ModuleList:
            head = nn.Sequential(_Conv(channels, feats, 9), nn.LeakyReLU(0.2))
            return nn.ModuleList([head, *[HNFBlock(feats, d) for d in DILATIONS]])

        self.stream_x = stream()
        self.stream_cond = stream()
        self.embed = NoiseLevelEncoding(feats)
        self.bridge = nn.ModuleList([Bridge(feats) for _ in range(len(DILATIONS) + 1)])
        self.conv_out = _Conv(feats, channels, 9)

    def forward(self, x: Tensor, cond: Tensor, level: Tensor) -> Tensor:
        emb = self.embed(level)
        skips = []
        for layer, bridge in zip(self.stream_x, self.bridge):
            x = layer(x)
            skips.append(bridge(x, emb))
        for skip, layer in zip(skips, self.stream_cond):
            cond = layer(cond) + skip
        return self.conv_out(cond)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- the diffusion model
EpsFn = Callable[[Tensor, Tensor, Tensor, int], Tensor]


class DeScoD(nn.Module):
    """Network + schedule of one DeScoD-ECG model; works on network-shaped tensors ``[B, C, T]``.

    ``leads`` are the rhythm's lead names (the channels in joint mode); ``noise_kind`` is the artefact the
    model was trained to remove (``None`` until trained).
    """

    def __init__(
        self, config: DeScoDConfig, leads: Sequence[str] = leadlib.BASIS, noise_kind: str | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.leads = tuple(leads)
        self.noise_kind = noise_kind
        self.channels = len(self.leads) if config.lead_mode == "joint" else 1
        self.net = DeScoDNet(self.channels, config.feats)
        self.schedule = ddpm_schedule(config.beta_schedule, config.steps, config.beta_start, config.beta_end)
        s = self.schedule
        for name, arr in (
            ("sqrt_levels", s.sqrt_alphas_cumprod_prev),  # [T + 1]
            ("sqrt_recip_abar", np.sqrt(1.0 / s.alphas_cumprod)),
            ("sqrt_recipm1_abar", np.sqrt(1.0 / s.alphas_cumprod - 1.0)),
            ("coef1", s.posterior_mean_coef1),
            ("coef2", s.posterior_mean_coef2),
            ("post_std", np.exp(0.5 * s.posterior_log_variance)),
        ):
            self.register_buffer(name, torch.tensor(arr, dtype=torch.float32), persistent=False)

    # layout ------------------------------------------------------------------
    def to_net(self, x: Tensor) -> Tensor:
        """``[P, L, T]`` rhythms -> network inputs (``[P, L, T]`` joint, ``[P * L, 1, T]`` per lead)."""
        return x if self.config.lead_mode == "joint" else x.reshape(-1, 1, x.shape[-1])

    def from_net(self, x: Tensor, n_leads: int) -> Tensor:
        return x if self.config.lead_mode == "joint" else x.reshape(-1, n_leads, x.shape[-1])

    # forward process ---------------------------------------------------------
    def draw_levels(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Continuous levels ``sqrt(alpha_bar) ~ U[sqrt(abar_t), sqrt(abar_{t-1})]``, ``t ~ U{1..T}`` (on CPU)."""
        t = torch.randint(1, self.config.steps + 1, (n,), generator=generator)
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        levels = self.sqrt_levels.detach().cpu().double()
        return (levels[t - 1] + u * (levels[t] - levels[t - 1])).float()

    @staticmethod
    def q_sample(x0: Tensor, level: Tensor, eps: Tensor) -> Tensor:
        """``x_t = level * x0 + sqrt(1 - level^2) * eps`` with ``level = sqrt(alpha_bar)`` per example."""
        lv = level.reshape(-1, *([1] * (x0.dim() - 1))).to(x0)
        return lv * x0 + (1.0 - lv * lv).sqrt() * eps

    def loss(self, x0: Tensor, cond: Tensor, mask: Tensor, level: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
        """Summed L1 error of the predicted noise over the valid samples (``mask``), and their count."""
        x_t = self.q_sample(x0, level, eps)
        pred = self.net(x_t, cond, level.to(x0))
        mask = mask.to(x0).expand_as(pred)
        return ((pred - eps).abs() * mask).sum(), mask.sum()

    # reverse process ---------------------------------------------------------
    @torch.no_grad()
    def reverse(self, cond: Tensor, generator: torch.Generator | None = None, eps_fn: EpsFn | None = None) -> Tensor:
        """Ancestral sampling of ``x0`` given the condition ``cond [B, C, T]`` (white noise start, T steps).

        ``eps_fn(x_t, cond, level, i)`` replaces the network (tests use an oracle). Noise is drawn on
        ``generator``'s device (CPU by default) and moved, so a seed gives the same draws on any device.
        """
        gen_device = generator.device if generator is not None else torch.device("cpu")

        def randn() -> Tensor:
            return torch.randn(cond.shape, generator=generator, device=gen_device).to(cond)

        x = randn()
        for i in reversed(range(self.config.steps)):
            level = self.sqrt_levels[i + 1].expand(cond.shape[0])
            eps = eps_fn(x, cond, level, i) if eps_fn is not None else self.net(x, cond, level)
            x0 = self.sqrt_recip_abar[i] * x - self.sqrt_recipm1_abar[i] * eps
            x = self.coef1[i] * x0 + self.coef2[i] * x
            if i > 0:
                x = x + self.post_std[i] * randn()
        return x


# ----------------------------------------------------------------------------- files
def model_from_checkpoint(blob: Mapping[str, Any], path: str | Path = "<checkpoint>") -> DeScoD:
    """Rebuild a :class:`DeScoD` from a checkpoint dictionary (see :mod:`.descod_train`); ``path`` names it in errors."""
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a DeScoD checkpoint (format {blob.get('format')!r}, expected {FORMAT!r})")
    checkpoints.require(blob, ("config", "leads", "noise_kind", "state_dict"), path, "DeScoD checkpoint")
    try:
        model = DeScoD(DeScoDConfig.from_dict(blob["config"]), blob["leads"], blob["noise_kind"])
    except (TypeError, ValueError) as err:
        raise checkpoints.CheckpointError(path, f"invalid model configuration: {err}") from err
    checkpoints.load_weights(model.net, blob["state_dict"], path, "DeScoD network")
    return model.eval()


def load_model(path: str | Path, noise_kind: str, map_location: str | torch.device = "cpu") -> DeScoD:
    """Load the model trained on ``noise_kind``; a model trained on any other noise kind is refused.

    A damaged or foreign file raises :class:`ecgdiff.checkpoints.CheckpointError` naming it and the problem."""
    if noise_kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}, got {noise_kind!r}")
    blob = checkpoints.load(path, "DeScoD checkpoint", weights_only=False, map_location=map_location)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a DeScoD checkpoint (format {blob.get('format')!r})")
    if blob.get("noise_kind") != noise_kind:
        raise NoiseKindError(
            f"{path}: this DeScoD model was trained on {blob.get('noise_kind')!r} noise and cannot serve as the "
            f"{noise_kind!r} model (one model per noise type)"
        )
    return model_from_checkpoint(blob, path)


# ----------------------------------------------------------------------------- denoising
def denoise(
    model: DeScoD,
    noisy: np.ndarray | Tensor,
    *,
    noise_kind: str | None = None,
    shots: int | None = None,
    batch_size: int = 64,
    seed: int | None = None,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Denoise rhythms ``noisy [P, L, T]`` (mV): the mean of ``shots`` samples of ``p(x0 | y)``, ``[P, L, T]``.

    ``T`` is either the model's valid length or longer (zero padding at the end); samples from ``length``
    on must be zero in the input and are zero in the output. ``noise_kind``, when given, must be the
    model's. ``shots`` and ``seed`` default to the model's configuration. ``batch_size`` counts network
    inputs (a rhythm in joint mode, a lead in per-lead mode), shots included.
    """
    cfg = model.config
    if noise_kind is not None and noise_kind != model.noise_kind:
        raise NoiseKindError(
            f"DeScoD model trained on {model.noise_kind!r} noise asked to remove {noise_kind!r} noise (one model per noise type)"
        )
    y = torch.as_tensor(np.asarray(noisy, dtype=np.float32))
    if y.dim() != 3 or y.shape[1] != len(model.leads):
        raise ValueError(f"denoise expects [P, {len(model.leads)}, T] ({', '.join(model.leads)}), got {tuple(y.shape)}")
    n_leads, t_in = y.shape[1:]
    length = cfg.length
    if t_in < length:
        raise ValueError(f"denoise: inputs have {t_in} samples, fewer than the model's valid length {length}")
    if t_in > length and bool(torch.any(y[..., length:] != 0)):
        raise ValueError(f"denoise: the padding (samples {length}..{t_in - 1}) of the noisy input is not zero")
    if not bool(torch.isfinite(y).all()):
        raise ValueError("denoise: the noisy input has non-finite values")
    shots = cfg.shots if shots is None else int(shots)
    if shots < 1 or batch_size < 1:
        raise ValueError(f"denoise: shots and batch_size must be >= 1, got {shots}, {batch_size}")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    model = model.to(dev).eval()
    gen = torch.Generator().manual_seed(cfg.seed if seed is None else int(seed))

    cond = model.to_net(y)  # [B, C, T]
    out = torch.zeros_like(cond)
    chunk = max(1, batch_size // shots)
    for a in range(0, cond.shape[0], chunk):
        c = cond[a : a + chunk].to(dev)
        reps = c.repeat(shots, 1, 1)  # shot-major
        x = model.reverse(reps, gen).reshape(shots, *c.shape).mean(0)
        out[a : a + chunk] = x.cpu()
    res = model.from_net(out, n_leads)
    res[..., length:] = 0.0
    return res.numpy()
