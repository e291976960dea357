"""ECGrecover: the learned missing-lead baseline of the talk's reconstruction table.

ECGrecover (Lence et al. 2024, "ECGrecover: a deep learning approach for electrocardiogram signal completion",
arXiv 2406.16901) is a U-Net that maps an incomplete 12-lead ECG (a ``12 x T`` image, the missing parts
replaced) to the complete 12 leads, trained with a composite loss of amplitude error and correlation. The talk
retrained it on its rhythms (anchors: "ECGrecover"), and its table scores it next to the posterior samplers.

What is followed, and where from
--------------------------------
The paper gives the idea (U-Net, composite loss); the layers come from the authors' network as the talk's code
ships it (``EcgRecover/tools/LoadModel.py`` of the talk's repository):

- The input ``[B, 12, T]`` is one image ``[B, 1, 12, T]``. Each of ``depth`` encoder levels has two branches
  with ``channels * 2**level`` channels each: a 2-D convolution over leads and time (kernel ``(13, 4)``,
  stride ``(1, 2)``, padding ``(6, 1)``: time halves, every output lead sees its 12 neighbours at most 6 rows
  away) and a 1-D convolution applied to every lead with the same weights (kernel 4, stride 2, padding 1),
  each followed by batch normalisation and LeakyReLU(0.02); the 1-D branch has dropout 0.2, the 2-D branch
  none. The 2-D branch feeds only itself, and so does the 1-D branch; a level's skip tensor is the
  concatenation (1-D, 2-D).
- The decoder is 2-D only: ``depth`` transposed convolutions (the encoder's 2-D kernel, time doubled), each
  with batch normalisation and LeakyReLU, the skip tensor of the next level up concatenated after each, the
  last one down to 1 channel; then a linear transposed convolution with kernel ``(13, 3)`` and stride 1.
  Defaults (16 channels, depth 4, i.e. 16/32/64/128 per branch) are the authors'.
- Loss: ``MSE - 0.1 x Pearson`` (anchors), MSE over every lead and valid sample, Pearson the mean over leads
  and rhythms of the per-lead correlation along time.
- Optimiser (the authors' training script): Adam, lr 0.01, batch 256, 100 epochs, learning rate divided by 10
  after 5 epochs without improvement (``ReduceLROnPlateau``).

Where a choice had to be made
-----------------------------
- The authors run the 1-D branch as a Python loop over the 12 leads, each pass normalising with its own
  batch statistics while all passes share (and update twelve times a step) one set of running statistics used
  at evaluation. Here the branch is the equivalent 2-D convolution with a lead kernel of 1, normalised over
  all leads together, the same in training and evaluation.
- Their network also builds 1-D decoder layers and a "transition block" whose outputs are never used; they
  are left out (they change nothing but the parameter count).
- The loss is computed on the valid samples only (``x[..., :length]``); the padding never enters a metric
  (rhythm conventions) and the output's padding is set to zero.
- Protocols (config key ``protocol``):

  * ``talk`` (default): 12 x ``padded_length`` (1024) windows at 100 Hz in millivolts, no scaling, withheld
    leads zeroed (the talk's retraining, anchors).
  * ``original``: the paper's windows: the valid 10 s resampled to ``window`` (512) samples (FFT resampling,
    as the authors' preprocessing) with every lead min-max scaled to [-1, 1]; withheld parts filled with
    uniform noise on [0, 1) (the authors' masking code; ``fill`` overrides). Scaling is applied to the
    100 Hz signal *before* resampling (the authors scaled after), so that the scaled units are defined at
    the resolution that is scored and :func:`minmax_unscale` inverts :func:`minmax_scale` exactly. A
    withheld lead's range is unknown, so this protocol's output is in scaled units unless the caller
    supplies the leads' ranges (``lead_range``), as the paper's own evaluation in scaled units implies.

- The observed leads of the output are replaced by the observation (they are known).
- Masks (which leads are observed) are boolean ``[12]`` vectors in :data:`ecgdiff.leads.STANDARD_12` order,
  built by name (:func:`observed_mask`). Training draws, per rhythm and epoch, one of the missing-lead
  settings of the rhythm table (:data:`MISSING_LEAD_SETTINGS`), or with probability ``random_subset_prob`` a
  random lead subset. (The paper also masks time segments; the talk's table has missing leads only.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal
import torch
from torch import nn

from .. import checkpoints
from .. import leads as leadlib

FORMAT = "ecgdiff.ecgrecover/1"
PROTOCOLS = ("talk", "original")
FILLS = ("zero", "uniform")
LEADS: tuple[str, ...] = leadlib.STANDARD_12

#: The missing-lead settings of the talk's table, as the leads observed in each.
MISSING_LEAD_SETTINGS: dict[str, tuple[str, ...]] = {
    "lead_I": ("I",),
    "limb": leadlib.LIMB,
    **{f"without_{v}": tuple(n for n in leadlib.STANDARD_12 if n != v) for v in leadlib.PRECORDIAL},
}


@dataclass
class ECGrecoverConfig:
    """Network, protocol and training settings (defaults: the authors' network and script, the talk's protocol).

    ``length`` / ``padded_length`` are the data's valid and padded window lengths (rhythm conventions: 1000 and
    1024); the trainer takes them from the rhythm database.
    """

    protocol: str = "talk"
    channels: int = 16  # channels of each branch at the first level (authors: 16, doubled per level)
    depth: int = 4  # encoder levels (authors: 4)
    kernel: int = 4  # time kernel of the strided convolutions (authors: 4, stride 2, padding 1)
    lead_kernel: int = 13  # lead kernel of the 2-D convolutions (authors: 13, padding 6)
    negative_slope: float = 0.02  # LeakyReLU (authors)
    dropout: float = 0.2  # 1-D branch dropout (authors; their 2-D branch has none)
    lr: float = 0.01  # Adam (authors' script)
    lr_factor: float = 0.1  # ReduceLROnPlateau factor (authors)
    lr_patience: int = 5  # ReduceLROnPlateau patience in epochs (authors)
    epochs: int = 100  # authors' script
    batch_size: int = 256  # authors' script
    pearson_weight: float = 0.1  # loss = MSE - pearson_weight * Pearson (anchors)
    masks: list[str] = field(default_factory=lambda: list(MISSING_LEAD_SETTINGS))
    random_subset_prob: float = 0.0  # probability of a random lead subset instead of a table setting
    fill: str | None = None  # withheld-lead filling: None = the protocol's (talk: zero, original: uniform)
    window: int = 512  # original protocol: samples per window (authors)
    length: int = 1000  # valid samples (rhythm conventions)
    padded_length: int = 1024  # network length of the talk protocol (rhythm conventions)
    checkpoint_every: int = 1  # epochs
    seed: int = 0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"ECGrecoverConfig.protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.fill is not None and self.fill not in FILLS:
            raise ValueError(f"ECGrecoverConfig.fill must be None or one of {FILLS}, got {self.fill!r}")
        for name in ("channels", "depth", "epochs", "batch_size", "lr_patience", "checkpoint_every", "window"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ECGrecoverConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.kernel < 2 or self.kernel % 2:
            raise ValueError(f"ECGrecoverConfig.kernel must be even and >= 2 (exact halving), got {self.kernel}")
        if self.lead_kernel < 1 or self.lead_kernel % 2 == 0:
            raise ValueError(f"ECGrecoverConfig.lead_kernel must be odd, got {self.lead_kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ECGrecoverConfig.dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.random_subset_prob <= 1.0:
            raise ValueError(f"ECGrecoverConfig.random_subset_prob must be in [0, 1], got {self.random_subset_prob}")
        if self.lr <= 0 or not 0.0 < self.lr_factor < 1.0:
            raise ValueError(
                f"ECGrecoverConfig: lr must be > 0 and lr_factor in (0, 1), got {self.lr}, {self.lr_factor}"
            )
        if self.pearson_weight < 0 or self.negative_slope < 0:
            raise ValueError("ECGrecoverConfig: pearson_weight and negative_slope must be >= 0")
        self.masks = [str(m) for m in self.masks]
        unknown = [m for m in self.masks if m not in MISSING_LEAD_SETTINGS]
        if unknown:
            raise ValueError(
                f"ECGrecoverConfig.masks: unknown settings {unknown}; known: {list(MISSING_LEAD_SETTINGS)}"
            )
        if not self.masks and self.random_subset_prob < 1.0:
            raise ValueError("ECGrecoverConfig.masks is empty: give settings or random_subset_prob = 1")
        if not 2 <= self.length <= self.padded_length:
            raise ValueError(
                f"ECGrecoverConfig: need 2 <= length <= padded_length, got {self.length}, {self.padded_length}"
            )
        if self.net_length % 2**self.depth:
            raise ValueError(
                f"ECGrecoverConfig: the {self.protocol} protocol's window ({self.net_length} samples) is not "
                f"divisible by 2^depth = {2**self.depth}"
            )

    @property
    def net_length(self) -> int:
        """Samples per lead the network sees: ``padded_length`` (talk) or ``window`` (original)."""
        return self.padded_length if self.protocol == "talk" else self.window

    @property
    def fill_mode(self) -> str:
        return self.fill or ("zero" if self.protocol == "talk" else "uniform")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def network_fingerprint(self) -> dict[str, Any]:
        keys = ("protocol", "channels", "depth", "kernel", "lead_kernel", "negative_slope", "dropout", "window")
        return {k: getattr(self, k) for k in keys} | {"net_length": self.net_length}


# ---------------------------------------------------------------- masks


def observed_mask(names: Sequence[str]) -> np.ndarray:
    """Boolean ``[12]`` vector (STANDARD_12 order), True at the leads ``names``."""
    mask = np.zeros(len(LEADS), dtype=bool)
    mask[leadlib.indices(names, LEADS)] = True
    return mask


def setting_mask(name: str) -> np.ndarray:
    """The observed-lead mask of one setting of :data:`MISSING_LEAD_SETTINGS`."""
    if name not in MISSING_LEAD_SETTINGS:
        raise KeyError(f"unknown missing-lead setting {name!r}; known: {list(MISSING_LEAD_SETTINGS)}")
    return observed_mask(MISSING_LEAD_SETTINGS[name])


def draw_masks(n: int, settings: Sequence[str], random_subset_prob: float, rng: np.random.Generator) -> np.ndarray:
    """``[n, 12]`` observed masks: a setting drawn uniformly per row, or (with ``random_subset_prob``) a random subset.

    A random subset observes each lead with probability 1/2, redrawn until at least one lead is observed and at
    least one withheld.
    """
    table = np.stack([setting_mask(s) for s in settings]) if settings else np.zeros((0, len(LEADS)), bool)
    out = np.zeros((n, len(LEADS)), dtype=bool)
    use_random = rng.random(n) < random_subset_prob if len(table) else np.ones(n, dtype=bool)
    picks = rng.integers(0, max(len(table), 1), size=n)
    for i in range(n):
        if use_random[i]:
            while True:
                m = rng.random(len(LEADS)) < 0.5
                if 0 < m.sum() < len(LEADS):
                    break
            out[i] = m
        else:
            out[i] = table[picks[i]]
    return out


def _as_row_masks(observed: np.ndarray | torch.Tensor, n: int) -> np.ndarray:
    m = np.asarray(observed.cpu() if isinstance(observed, torch.Tensor) else observed)
    if m.dtype != bool:
        raise TypeError(f"observed mask must be boolean, got dtype {m.dtype}")
    if m.shape == (len(LEADS),):
        m = np.broadcast_to(m, (n, len(LEADS)))
    if m.shape != (n, len(LEADS)):
        raise ValueError(f"observed mask must have shape [12] or [{n}, 12], got {list(m.shape)}")
    return m


# ---------------------------------------------------------------- the original protocol's scaling


def minmax_scale(x: np.ndarray, eps: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Scale every lead (last axis = time) to [-1, 1]: returns ``(u, lead_range)`` with ``lead_range[..., 0:2]`` = min, max.

    A flat lead (range below ``eps``) maps to 0.
    """
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(axis=-1), x.max(axis=-1)
    span = hi - lo
    safe = np.where(span > eps, span, 1.0)
    u = np.where((span > eps)[..., None], 2.0 * (x - lo[..., None]) / safe[..., None] - 1.0, 0.0)
    return u, np.stack([lo, hi], axis=-1)


def minmax_unscale(u: np.ndarray, lead_range: np.ndarray) -> np.ndarray:
    """Inverse of :func:`minmax_scale`: ``x = lo + (u + 1) (hi - lo) / 2``."""
    lead_range = np.asarray(lead_range, dtype=np.float64)
    lo, hi = lead_range[..., 0], lead_range[..., 1]
    return lo[..., None] + (np.asarray(u, dtype=np.float64) + 1.0) * 0.5 * (hi - lo)[..., None]


def resample(x: np.ndarray, n: int) -> np.ndarray:
    """FFT resampling along time to ``n`` samples (``scipy.signal.resample``, as the authors' preprocessing)."""
    x = np.asarray(x)
    return x if x.shape[-1] == n else scipy.signal.resample(x, n, axis=-1)


# ---------------------------------------------------------------- targets and network inputs


def prepare_targets(x12: np.ndarray, cfg: ECGrecoverConfig) -> np.ndarray:
    """Complete 12-lead rhythms ``[N, 12, padded_length]`` (mV) -> training targets in the protocol's units.

    talk: millivolts, padding zeroed (``[N, 12, padded_length]``); original: the valid samples scaled per lead
    to [-1, 1] and resampled to ``window`` samples (``[N, 12, window]``).
    """
    x12 = np.asarray(x12)
    _check_12(x12, cfg.padded_length, "prepare_targets")
    if cfg.protocol == "talk":
        out = np.array(x12, dtype=np.float32)
        out[..., cfg.length :] = 0.0
        return out
    u, _ = minmax_scale(x12[..., : cfg.length])
    return resample(u, cfg.window).astype(np.float32)


def network_input(
    targets: torch.Tensor, observed: torch.Tensor, cfg: ECGrecoverConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The network's input: ``targets`` (protocol units) with the withheld leads replaced by the fill.

    ``observed`` is ``[B, 12]`` boolean. Withheld rows are overwritten, never combined with their values, so
    nothing of a withheld lead reaches the network; with the ``uniform`` fill the noise comes from
    ``generator`` alone.
    """
    keep = observed[:, :, None].to(targets.device)
    if cfg.fill_mode == "zero":
        fill = torch.zeros((), dtype=targets.dtype, device=targets.device)
    else:
        fill = torch.rand(targets.shape, generator=generator, dtype=targets.dtype).to(targets.device)
    x = torch.where(keep, targets, fill)
    if cfg.protocol == "talk":
        x = x.clone()
        x[..., cfg.length :] = 0.0
    return x


# ---------------------------------------------------------------- network


def _down(cin: int, cout: int, lead_kernel: int, kernel: int, slope: float, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, (lead_kernel, kernel), stride=(1, 2), padding=(lead_kernel // 2, kernel // 2 - 1)),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(slope),
    ]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int, lead_kernel: int, kernel: int, slope: float) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(
            cin, cout, (lead_kernel, kernel), stride=(1, 2), padding=(lead_kernel // 2, kernel // 2 - 1)
        ),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(slope),
    )


class ECGrecoverNet(nn.Module):
    """The ECGrecover U-Net (module docstring): ``[B, 12, T] -> [B, 12, T]``, ``T`` divisible by ``2**depth``."""

    def __init__(self, config: ECGrecoverConfig) -> None:
        super().__init__()
        self.config = config
        c = [config.channels * 2**i for i in range(config.depth)]
        lk, k, s = config.lead_kernel, config.kernel, config.negative_slope
        self.down2d = nn.ModuleList(_down(1 if i == 0 else c[i - 1], c[i], lk, k, s, 0.0) for i in range(config.depth))
        # the authors' per-lead 1-D convolution == a 2-D convolution with lead kernel 1
        self.down1d = nn.ModuleList(
            _down(1 if i == 0 else c[i - 1], c[i], 1, k, s, config.dropout) for i in range(config.depth)
        )
        ups = []
        for j in range(config.depth):
            level = config.depth - 1 - j
            cin = 2 * c[level] if j == 0 else 4 * c[level]
            cout = 2 * c[level - 1] if level > 0 else 1
            ups.append(_up(cin, cout, lk, k, s))
        self.up = nn.ModuleList(ups)
        self.out = nn.ConvTranspose2d(1, 1, (lk, k - 1), stride=1, padding=(lk // 2, (k - 2) // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] % 2**self.config.depth:
            raise ValueError(f"ECGrecoverNet expects [B, leads, T] with T divisible by 2^depth, got {list(x.shape)}")
        h2 = h1 = x[:, None]
        skips = []
        for d2, d1 in zip(self.down2d, self.down1d):
            h2, h1 = d2(h2), d1(h1)
            skips.append(torch.cat([h1, h2], dim=1))
        h = skips[-1]
        for j, up in enumerate(self.up):
            h = up(h)
            level = self.config.depth - 1 - j
            if level > 0:
                h = torch.cat([h, skips[level - 1]], dim=1)
        return self.out(h)[:, 0]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- loss


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation along the last axis (``eps`` keeps a flat signal at correlation 0)."""
    da = a - a.mean(dim=-1, keepdim=True)
    db = b - b.mean(dim=-1, keepdim=True)
    return (da * db).sum(-1) / ((da.square().sum(-1) * db.square().sum(-1)).sqrt() + eps)


def recover_loss(
    pred: torch.Tensor, target: torch.Tensor, pearson_weight: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, mse, corr)`` with ``loss = mse - pearson_weight * corr`` (anchors: MSE - 0.1 x Pearson).

    ``mse`` is the mean squared error over every element of ``[B, 12, T]``; ``corr`` the mean over rhythms and
    leads of the per-lead correlation along time.
    """
    mse = (pred - target).square().mean()
    corr = pearson(pred, target).mean()
    return mse - pearson_weight * corr, mse, corr


# ---------------------------------------------------------------- reconstruction


def _check_12(x: np.ndarray, padded_length: int, where: str) -> None:
    if x.ndim != 3 or x.shape[1] != len(LEADS) or x.shape[2] != padded_length:
        raise ValueError(f"{where}: expected [P, 12, {padded_length}] (STANDARD_12 leads), got {list(x.shape)}")


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def reconstruct(
    model: ECGrecoverNet,
    x_observed_12: np.ndarray,
    observed_mask: np.ndarray,
    batch_size: int | None = None,
    lead_range: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Complete 12-lead rhythms from their observed leads: ``[P, 12, T] -> [P, 12, T]`` float32, batched.

    Args:
        model: a trained :class:`ECGrecoverNet` (its config gives the protocol and lengths).
        x_observed_12: ``[P, 12, padded_length]`` in millivolts, STANDARD_12 order. Values of the withheld leads
            are ignored (they never reach the network), so the complete rhythm may be passed.
        observed_mask: boolean ``[12]`` (or ``[P, 12]``), True where a lead is observed.
        batch_size: rhythms per forward pass (default: the config's).
        lead_range: original protocol only: ``[P, 12, 2]`` (min, max) of every lead over the valid samples
            (:func:`minmax_scale`); when given, the output is in millivolts, otherwise in scaled units.
        seed: seed of the uniform fill noise (original protocol).

    Returns:
        ``[P, 12, padded_length]``: observed leads equal to the observation (scaled, in scaled units), withheld
        leads reconstructed, padding zero.
    """
    cfg = model.config
    x = np.asarray(x_observed_12, dtype=np.float32)
    _check_12(x, cfg.padded_length, "ecgrecover.reconstruct")
    n = x.shape[0]
    obs = _as_row_masks(observed_mask, n)
    if lead_range is not None:
        if cfg.protocol != "original":
            raise ValueError("ecgrecover.reconstruct: lead_range applies to the original protocol only")
        lead_range = np.asarray(lead_range, dtype=np.float64)
        if lead_range.shape != (n, len(LEADS), 2):
            raise ValueError(f"ecgrecover.reconstruct: lead_range must be [{n}, 12, 2], got {list(lead_range.shape)}")
    x = np.where(obs[:, :, None], x, 0.0).astype(np.float32)  # withheld leads are dropped before anything else
    valid = x[..., : cfg.length]
    if cfg.protocol == "talk":
        targets = x.copy()
    else:
        targets = resample(minmax_scale(valid)[0], cfg.window).astype(np.float32)
    bs = batch_size or cfg.batch_size
    device = _device(model)
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    outs = []
    for a in range(0, n, bs):
        t = torch.from_numpy(targets[a : a + bs]).to(device)
        m = torch.from_numpy(np.array(obs[a : a + bs]))
        outs.append(model(network_input(t, m, cfg, gen)).float().cpu().numpy())
    model.train(was_training)
    out = np.concatenate(outs) if outs else np.zeros((0, len(LEADS), cfg.net_length), np.float32)
    result = np.zeros_like(x)
    if cfg.protocol == "talk":
        rec = np.where(obs[:, :, None], valid, out[..., : cfg.length])
    else:
        rec = np.where(obs[:, :, None], minmax_scale(valid)[0], resample(out, cfg.length))
        if lead_range is not None:
            rec = np.where(obs[:, :, None], valid, minmax_unscale(rec, lead_range))
    result[..., : cfg.length] = rec
    return result


# ---------------------------------------------------------------- model files


def save_model(path: str | Path, state_dict: dict[str, torch.Tensor], config: ECGrecoverConfig, **meta: Any) -> dict:
    """Write a model file: format, config, best weights, lead order and ``meta`` (plain types: provenance etc.)."""
    blob = {
        "format": FORMAT,
        "config": config.to_dict(),
        "leads": list(LEADS),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        **json.loads(json.dumps(meta, default=str)),
    }
    checkpoints.save(path, blob)
    return blob


def load_model(path: str | Path, device: str | torch.device = "cpu") -> ECGrecoverNet:
    """Load a model file written by :func:`save_model` as an :class:`ECGrecoverNet` in evaluation mode.

    A damaged or foreign file raises :class:`ecgdiff.checkpoints.CheckpointError` naming it and the problem."""
    blob = checkpoints.load(path, "ECGrecover model file", weights_only=True)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not an ECGrecover model file (format {blob.get('format')!r}, expected {FORMAT!r})")
    if tuple(blob.get("leads", ())) != LEADS:
        raise ValueError(f"{path}: lead order {blob.get('leads')} differs from {list(LEADS)}")
    checkpoints.require(blob, ("config", "state_dict"), path, "ECGrecover model file")
    try:
        model = ECGrecoverNet(ECGrecoverConfig(**blob["config"]))
    except (TypeError, ValueError) as err:
        raise checkpoints.CheckpointError(path, f"invalid model configuration: {err}") from err
    checkpoints.load_weights(model, blob["state_dict"], path, "ECGrecover network")
    return model.to(device).eval()
