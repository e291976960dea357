"""The rhythm prior: network shapes and receptive field, exact EDM limit, training, resumption, loading, figure."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
import torch

from ecgdiff.diffusion import precond, schedule
from ecgdiff.diffusion.networks import build_network, make_config, model_config_dict
from ecgdiff.diffusion.networks.beat_unet import UNet1D, UNetConfig
from ecgdiff.diffusion.networks.rhythm_unet import (
    PAPER_SIZE,
    RhythmUNet,
    RhythmUNetConfig,
    count_parameters,
    measure_receptive_field,
    receptive_field,
)
from ecgdiff.diffusion.prior import FORMAT, load_prior
from ecgdiff.diffusion.sample import generate
from ecgdiff.diffusion.train import (
    TrainConfig,
    Trainer,
    load_rhythm_training_data,
    save_prior,
    train_rhythm_prior,
)
from ecgdiff.leads import BASIS
from ecgdiff.tables import read_table, read_table_provenance

FS, VALID, PADDED = 100.0, 250, 256  # 2.5-s windows padded to 256 samples: a small stand-in of 1000 -> 1024
TINY = RhythmUNetConfig(
    length=PADDED, channels=8, channel_mult=[1, 2, 2], num_blocks=1, attn_levels=[2], dropout=0.0, emb_mult=2
)


def simulated_rhythms(n: int, seed: int = 0, valid: int = VALID, padded: int = PADDED) -> np.ndarray:
    """Sum-of-Gaussians rhythms ``[n, 8, padded]`` in mV at 100 Hz: P, QRS, T per beat, random rate, zero padding."""
    rng = np.random.default_rng(seed)
    t = np.arange(valid) / FS
    amp = np.array([0.1, -0.1, 1.0, -0.25, 0.3])  # P, Q, R, S, T (mV)
    offs, widths = np.array([-0.16, -0.03, 0.0, 0.03, 0.28]), np.array([0.025, 0.01, 0.012, 0.01, 0.05])
    lead_gain = np.array([0.8, 1.0, -0.6, -0.3, 0.4, 0.9, 1.1, 0.9])
    x = np.zeros((n, len(BASIS), padded), np.float32)
    for i in range(n):
        rr = rng.uniform(0.6, 1.1)
        beats = np.arange(rng.uniform(0, rr), t[-1] + 0.5, rr)
        for b in beats:
            wave = amp[:, None] * np.exp(-0.5 * ((t[None] - b - offs[:, None]) / widths[:, None]) ** 2)
            gains = lead_gain * (1 + 0.1 * rng.normal(size=len(BASIS)))
            x[i, :, :valid] += gains[:, None] * wave.sum(0)[None]
        x[i, :, :valid] += 0.01 * rng.normal(size=(len(BASIS), valid))
    return x


@dataclass
class FakeRhythmDatabase:
    """The documented rhythm-database interface over in-memory arrays (patients p0.., 2 rhythms for some)."""

    rhythms: np.ndarray
    meta: pd.DataFrame
    path: str = "memory"
    manifest: dict = field(default_factory=dict)
    leads: tuple = BASIS
    fs: float = FS
    length: int = VALID
    padded_length: int = PADDED
    data_hash: str = "fake-rhythms-0"

    def subset(self, split):
        rows = np.flatnonzero(self.meta["split"].to_numpy() == split)
        return self.rhythms[rows], self.meta.iloc[rows].reset_index(drop=True)


def fake_database(n_train=24, n_cv=6, n_test=3, seed=0) -> FakeRhythmDatabase:
    n = n_train + n_cv + n_test
    split = ["train"] * n_train + ["cv"] * n_cv + ["test"] * n_test
    meta = pd.DataFrame(
        {
            "rhythm_id": [f"r{i:03d}" for i in range(n)],
            "patient_id": [f"p{i // 2:03d}" for i in range(n)],  # two rhythms per patient
            "label": "NSR",
            "split": split,
        }
    )
    return FakeRhythmDatabase(simulated_rhythms(n, seed), meta)


@pytest.fixture(scope="module")
def db():
    return fake_database()


def _cfg(**kw):
    base = dict(
        steps=30,
        batch_size=8,
        lr=3e-3,
        ema=0.9,
        checkpoint_every=100,
        cv_every=10,
        cv_sigmas=4,
        cv_beats="all",
        log_every=100,
        seed=3,
    )
    base.update(kw)
    return TrainConfig(**base)


def _randomise(net, scale=0.1, seed=3):
    torch.manual_seed(seed)
    with torch.no_grad():  # residual branches and the output layer start at zero: make them non-trivial
        for name, p in net.named_parameters():
            if "out_conv" in name or "conv1" in name or "proj" in name:
                p.normal_(0, scale)


# --------------------------------------------------------------------------- the network
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(channel_mult=[1, 2], attn_levels=[], kernel=5, time_encoding=False),
        dict(channel_mult=[1, 1, 2, 2], attn_levels=[2, 3], num_blocks=2),
    ],
)
def test_shapes(kw):
    cfg = RhythmUNetConfig(**{**TINY.to_dict(), **kw})
    net = RhythmUNet(cfg)
    x = torch.randn(3, 8, PADDED)
    assert net(x, torch.randn(3)).shape == x.shape
    # attention sits only at the coarse levels asked for
    heads_at = {m.conv0.in_channels for m in net.modules() if getattr(m, "heads", 0)}
    assert bool(heads_at) == bool(cfg.attn_levels)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="divisible"):
        RhythmUNetConfig(length=1000, channel_mult=[1, 2, 2, 4, 4])  # 1000 / 16 is not an integer
    with pytest.raises(ValueError, match="full resolution"):
        RhythmUNetConfig(attn_levels=[0])
    with pytest.raises(ValueError, match="kernel"):
        RhythmUNetConfig(kernel=4)
    with pytest.raises(ValueError, match="channels"):
        RhythmUNetConfig(channels=15)
    with pytest.raises(ValueError, match=r"expected input \[B, 8, 256\]"):
        RhythmUNet(TINY)(torch.randn(1, 8, 1024), torch.zeros(1))


def test_paper_size_is_about_the_authors_16m_parameters():
    cfg = RhythmUNetConfig()
    assert (cfg.leads, cfg.length, cfg.cond_dim) == (8, 1024, 0)
    assert 15e6 < count_parameters(RhythmUNet(cfg)) < 17.5e6
    assert RhythmUNetConfig(**PAPER_SIZE) == cfg


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(kernel=5), dict(channel_mult=[1, 2, 2, 4], num_blocks=2, attn_levels=[]), dict(kernel=1)],
)
def test_receptive_field_formula_equals_the_measured_gradient_support(kw):
    cfg = RhythmUNetConfig(**{**TINY.to_dict(), **kw})
    assert receptive_field(cfg) == measure_receptive_field(cfg)


def test_receptive_field_of_the_paper_size_covers_several_beats():
    # the receptive field depends on the topology only: measured on a narrow copy of the paper-size network
    cfg = RhythmUNetConfig()
    narrow = RhythmUNetConfig(**{**cfg.to_dict(), "channels": 8})
    assert receptive_field(cfg) == measure_receptive_field(narrow) == 466  # 4.66 s at 100 Hz
    # hand count for kernel 3 (one sample either side per convolution, 2 j input samples at a resolution j
    # times coarser): 14 convolutions at full rate, 14 at 1/2, 14 at 1/4, 16 at 1/8, and three poolings:
    # 1 + 2 * (14 + 2 * 14 + 4 * 14 + 8 * 16) + (1 + 2 + 4) = 460; the rounding of the nearest-neighbour
    # doubling adds a few samples at the worst phase
    assert 460 <= receptive_field(cfg) <= 470
    # the other numbers the module states
    assert receptive_field(RhythmUNetConfig(num_blocks=1)) == 342
    assert receptive_field(RhythmUNetConfig(kernel=5)) == 916


def test_the_denoiser_is_exact_as_sigma_goes_to_zero():
    torch.manual_seed(0)
    model = precond.EDMPrecond(RhythmUNet(TINY)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 8, PADDED, dtype=torch.float64)
    model = model.double()
    errs = []
    for s in (1e-2, 1e-4, 1e-6, 1e-8):
        with torch.no_grad():
            errs.append(float((model(x, s) - x).abs().max()))
    # |D(x, s) - x| = |(c_skip - 1) x + c_out F| = O(s): it falls with sigma in proportion
    assert errs[-1] < 1e-6 and errs[0] > 0
    for a, b in zip(errs, errs[1:]):
        assert b < 0.05 * a


def test_noise_level_reaches_the_output_and_conditioning_when_asked():
    torch.manual_seed(0)
    net = RhythmUNet(TINY).eval()
    _randomise(net)
    x = torch.randn(2, 8, PADDED)
    assert (net(x, torch.zeros(2)) - net(x, torch.ones(2))).abs().mean() > 1e-4
    assert not net.conditional
    cnet = RhythmUNet(RhythmUNetConfig(**{**TINY.to_dict(), "cond_dim": 3})).eval()
    _randomise(cnet)
    c = torch.randn(2, 3)
    assert (cnet(x, torch.zeros(2), c) - cnet(x, torch.zeros(2), -c)).abs().mean() > 1e-4
    with pytest.raises(ValueError):
        cnet(x, torch.zeros(2))


# --------------------------------------------------------------------------- the registry and old checkpoints
def test_registry():
    assert isinstance(build_network("rhythm_unet", TINY.to_dict()), RhythmUNet)
    assert isinstance(build_network("beat_unet", {"channels": 8, "num_blocks": 1}), UNet1D)
    assert "arch" not in model_config_dict(UNetConfig())  # beat checkpoints keep their format
    assert model_config_dict(TINY)["arch"] == "rhythm_unet"
    assert make_config("rhythm_unet", model_config_dict(TINY)) == TINY
    with pytest.raises(KeyError, match="unknown network"):
        build_network("sashimi", {})
    with pytest.raises(ValueError, match="arch"):
        make_config("beat_unet", model_config_dict(TINY))


def test_an_old_beat_checkpoint_still_loads(tmp_path):
    """A prior file in the format written before the registry (no ``arch`` key) loads as the same beat UNet."""
    cfg = UNetConfig(leads=9, length=176, channels=8, num_blocks=1, attn_levels=[0])
    torch.manual_seed(1)
    model = precond.EDMPrecond(UNet1D(cfg))
    _randomise(model.net)
    state = model.state_dict()
    blob = {
        "format": FORMAT,
        "variant": "conditional",
        "conditional": True,
        "model_config": cfg.to_dict(),
        "sigma_data": schedule.SIGMA_DATA,
        "state_dict": state,
        "ema_state_dict": state,
        "leads": ["aVL", "aVR", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
        "fs": 250.0,
        "data_hash": "old",
        "conditioning": ["male", "female", "age", "rr"],
        "provenance": {"run": "old"},
    }
    torch.save(blob, tmp_path / "old.pt")
    prior = load_prior(tmp_path / "old.pt", device="cpu")
    assert prior.arch == "beat_unet" and isinstance(prior.model.net, UNet1D) and prior.shape == (9, 176)
    assert prior.valid_length == 176
    x, c = torch.randn(4, 9, 176), torch.randn(4, 4)
    with torch.no_grad():
        torch.testing.assert_close(prior.denoiser(c)(x, 0.7), model.eval()(x, 0.7, c))


# --------------------------------------------------------------------------- training
def test_rhythm_training_data(db):
    data = load_rhythm_training_data(db, "all")
    assert data.x_train.shape == (24, 8, PADDED) and data.c_train is None and data.c_cv is None
    assert data.x_cv.shape[0] == 6 and data.extra["valid_length"] == VALID and data.cond_names == ()
    one = load_rhythm_training_data(db, "one_per_patient", seed=1)
    assert one.x_cv.shape[0] == one.n_cv_patients == 3
    bad = fake_database()
    bad.rhythms = bad.rhythms[:, :, :200]
    with pytest.raises(ValueError, match="expected"):
        load_rhythm_training_data(bad)
    bad = fake_database()
    bad.rhythms[25, 2, 7] = np.nan
    with pytest.raises(ValueError, match="r025"):
        load_rhythm_training_data(bad)


def test_training_lowers_the_cv_loss(db, tmp_path):
    data = load_rhythm_training_data(db, "all")
    tr = Trainer(data, TINY, _cfg(steps=40, cv_every=40), tmp_path, variant="unconditional", device="cpu")
    untrained = tr.cv_loss()
    tr.run()
    assert tr.history[-1]["cv_loss"] < 0.8 * untrained
    with pytest.raises(ValueError, match="conditioning"):
        Trainer(data, TINY, _cfg(), tmp_path / "c", variant="conditional", device="cpu")


def test_kill_and_resume_equals_a_straight_run(db, tmp_path):
    data = load_rhythm_training_data(db, "all")
    cfg = dict(steps=8, cv_every=4)
    straight = Trainer(data, TINY, _cfg(**cfg), tmp_path / "a", variant="unconditional", device="cpu")
    straight.run()
    killed = Trainer(data, TINY, _cfg(checkpoint_every=3, **cfg), tmp_path / "b", variant="unconditional", device="cpu")
    killed.run(stop_at_step=6)  # the "kill": the checkpoint of step 6 survives
    torch.manual_seed(999)  # a new process starts with other global RNG state
    resumed = Trainer(
        data, TINY, _cfg(checkpoint_every=3, **cfg), tmp_path / "b", variant="unconditional", device="cpu"
    )
    assert resumed.try_resume() and resumed.step == 6
    resumed.run()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert [r["cv_loss"] for r in straight.history] == pytest.approx([r["cv_loss"] for r in resumed.history])
    assert straight.best["step"] == resumed.best["step"]


def test_the_prior_file_loads_as_an_unconditional_rhythm_denoiser(db, tmp_path):
    tr = Trainer(
        load_rhythm_training_data(db, "all"), TINY, _cfg(steps=4, cv_every=2), tmp_path, "unconditional", "cpu"
    )
    tr.run()
    save_prior(tmp_path / "rhythm.pt", tr, {"run": "test"})
    prior = load_prior(tmp_path / "rhythm.pt", device="cpu")
    assert prior.arch == "rhythm_unet" and not prior.conditional
    assert prior.shape == (8, PADDED) and prior.leads == BASIS and prior.fs == FS and prior.valid_length == VALID
    assert prior.meta["conditioning"] == [] and prior.data_hash == db.data_hash
    for k, v in prior.model.state_dict().items():
        torch.testing.assert_close(v, tr.best["ema"][k])
    x = torch.randn(3, 8, PADDED)
    out = prior.denoiser()(x, torch.tensor([0.1, 1.0, 10.0]))
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="unconditional"):
        prior.denoiser(torch.zeros(1, 4))
    g = generate(prior, 3, n=2, seed=0)
    assert g.shape == (2, 8, PADDED) and np.isfinite(g).all()


@pytest.mark.slow
def test_workflow_step_and_figure(db, tmp_path):
    from ecgdiff.diffusion.rhythm_figures import run_generated_rhythms_figure

    config = {"run": "test", "label": "TEST", "seed": 0}
    blob = train_rhythm_prior(
        db,
        TINY.to_dict(),
        dict(steps=4, batch_size=8, lr=1e-3, cv_every=2, checkpoint_every=2, cv_sigmas=2, log_every=2, seed=0),
        tmp_path / "rhythm.pt",
        tmp_path / "ckpt",
        (tmp_path / "loss.csv", tmp_path / "loss.md"),
        (tmp_path / "loss.png", tmp_path / "loss.pdf"),
        config,
        device="cpu",
    )
    assert blob["best_step"] in (2, 4) and (tmp_path / "ckpt" / "last.pt").exists()
    hist = read_table(tmp_path / "loss.csv")
    assert list(hist["step"]) == [2, 4] and np.isfinite(hist["cv_loss"]).all()
    prov = read_table_provenance(tmp_path / "loss.csv")
    assert prov["data_hash"] == db.data_hash and prov["prior"] == "rhythm"
    assert load_prior(tmp_path / "rhythm.pt", "cpu").provenance["run"] == "test"
    with pytest.raises(ValueError, match="unconditional"):
        train_rhythm_prior(db, {**TINY.to_dict(), "cond_dim": 3}, {}, *([tmp_path / "x"] * 2), (), (), config)

    gen = run_generated_rhythms_figure(
        tmp_path / "rhythm.pt",
        db,
        {"n_generated": 1, "steps": 3, "batch_size": 2},
        (tmp_path / "gen.png", tmp_path / "gen.pdf"),
        config,
        device="cpu",
    )
    assert gen.shape == (1, 8, PADDED)
    assert (tmp_path / "gen.png").stat().st_size > 0 and (tmp_path / "gen.pdf").stat().st_size > 0


def test_the_figure_shows_12_derived_leads_in_millivolts_and_only_the_valid_samples(monkeypatch):
    from ecgdiff import plots
    from ecgdiff.diffusion.rhythm_figures import plot_generated_rhythms

    captured = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, paths, prov: captured.update(fig=fig))
    x = simulated_rhythms(3, seed=4)
    x[:, :, VALID:] = 99.0  # the padding must never reach the figure
    plot_generated_rhythms(x[0], x[1:], BASIS, FS, VALID, ["unused.png"], {}, steps=5)
    axes = np.array(captured["fig"].axes).reshape(12, 3)
    assert [ax.get_ylabel() for ax in axes[:, 0]][:3] == ["I\n(mV)", "II\n(mV)", "III\n(mV)"]
    for ax in axes.flat:
        (line,) = ax.get_lines()
        assert len(line.get_ydata()) == VALID and line.get_ydata().max() < 99
        assert line.get_xdata()[-1] == pytest.approx((VALID - 1) / FS)
    # lead III plotted is II - I of the modelled leads (Einthoven), for the generated columns too
    np.testing.assert_allclose(axes[2, 1].get_lines()[0].get_ydata(), x[1, 1, :VALID] - x[1, 0, :VALID], atol=1e-6)
