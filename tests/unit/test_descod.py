"""DeScoD-ECG: schedule against closed forms, forward and reverse processes, training noise, training, resumption,
noise kinds."""

import math

import numpy as np
import pytest
import torch

from ecgdiff.baselines import descod as D
from ecgdiff.baselines import descod_train as T
from ecgdiff.data import noise as nz

LENGTH, PADDED = 60, 64


def tiny(**kw):
    base = dict(feats=8, steps=8, epochs=3, batch_size=8, lr=3e-3, length=LENGTH, cv_repeats=1, seed=3)
    base.update(kw)
    return D.DeScoDConfig(**base)


def toy_rhythms(n, seed=0):
    """Smooth 8-lead signals (two sinusoids per lead, random amplitudes and phases), zero-padded."""
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH) / 10.0
    amp = rng.uniform(0.3, 1.0, (n, 8, 2, 1))
    ph = rng.uniform(0, 2 * np.pi, (n, 1, 2, 1))
    f = np.array([0.9, 2.3])[None, None, :, None]
    x = np.zeros((n, 8, PADDED), np.float32)
    x[..., :LENGTH] = (amp * np.sin(2 * np.pi * f * t + ph)).sum(2)
    return x


def walk_record(kind="bw", n=4000, seed=1):
    """Two channels of zero-mean smooth noise (white noise through a 15-sample moving average) at 100 Hz, like
    NSTDB windows (offset << range)."""
    rng = np.random.default_rng(seed)
    sig = np.stack([np.convolve(rng.normal(size=n), np.ones(15) / 15, "same") for _ in range(2)])
    return nz.NoiseRecord(kind, sig, 100.0, f"smoothed ({kind})")


def walk_noise(kind="bw", n=4000, seed=1, length=LENGTH, **settings):
    """The project's training-noise sampler on :func:`walk_record` (channel 0, DeScoD's ratios)."""
    st = nz.TrainingNoiseSettings(**settings)
    return nz.training_noise(walk_record(kind, n, seed), kind, seed, settings=st, length=length)


# ----------------------------------------------------------------------------- schedule
def test_quadratic_schedule_by_hand():
    s = D.ddpm_schedule("quad", 3, 0.01, 0.25)  # sqrt(beta) = 0.1, 0.3, 0.5
    np.testing.assert_allclose(s.betas, [0.01, 0.09, 0.25])
    np.testing.assert_allclose(s.alphas_cumprod, [0.99, 0.99 * 0.91, 0.99 * 0.91 * 0.75])
    np.testing.assert_allclose(s.alphas_cumprod_prev, [1.0, 0.99, 0.99 * 0.91])
    np.testing.assert_allclose(s.sqrt_alphas_cumprod_prev, np.sqrt([1.0, 0.99, 0.9009, 0.675675]))
    # at t = 1 the posterior q(x_0 | x_1, x0) is a point mass at x0
    assert s.posterior_variance[0] == 0.0
    assert s.posterior_mean_coef1[0] == pytest.approx(1.0) and s.posterior_mean_coef2[0] == pytest.approx(0.0)


def test_default_schedule_against_closed_form():
    cfg = D.DeScoDConfig()
    s = D.ddpm_schedule(cfg.beta_schedule, cfg.steps, cfg.beta_start, cfg.beta_end)
    i = np.arange(50)
    betas = (math.sqrt(1e-4) + i / 49 * (math.sqrt(0.5) - math.sqrt(1e-4))) ** 2
    np.testing.assert_allclose(s.betas, betas, rtol=1e-12)
    assert s.betas[0] == pytest.approx(1e-4) and s.betas[-1] == pytest.approx(0.5)
    abar = np.array([math.prod(1 - betas[: t + 1]) for t in range(50)])  # alpha_bar_t = prod_{s<=t} (1 - beta_s)
    np.testing.assert_allclose(s.alphas_cumprod, abar, rtol=1e-12)
    assert s.alphas_cumprod[0] == pytest.approx(1 - 1e-4)  # not 1: the product includes step 1
    np.testing.assert_allclose(s.alphas_cumprod_prev[1:], abar[:-1], rtol=1e-12)
    assert s.alphas_cumprod[-1] < 1e-4  # x_T is noise up to sqrt(abar_T) < 0.006 of x0


def test_linear_schedule_and_bad_kind():
    s = D.ddpm_schedule("linear", 5, 0.1, 0.5)
    np.testing.assert_allclose(s.betas, [0.1, 0.2, 0.3, 0.4, 0.5])
    with pytest.raises(ValueError, match="beta schedule"):
        D.ddpm_schedule("cosine", 5, 0.1, 0.5)


def test_posterior_against_gaussian_conditioning():
    """q(x_{t-1} | x_t, x0) from the joint Gaussian of (x_{t-1}, x_t) given x0."""
    s = D.ddpm_schedule("quad", 50, 1e-4, 0.5)
    for i in range(1, 50):
        ab, ab_prev, a = s.alphas_cumprod[i], s.alphas_cumprod_prev[i], s.alphas[i]
        cov = math.sqrt(a) * (1 - ab_prev)  # Cov(x_{t-1}, x_t | x0)
        c2 = cov / (1 - ab)
        c1 = math.sqrt(ab_prev) - c2 * math.sqrt(ab)
        var = (1 - ab_prev) - cov**2 / (1 - ab)
        assert s.posterior_mean_coef2[i] == pytest.approx(c2, rel=1e-10)
        assert s.posterior_mean_coef1[i] == pytest.approx(c1, rel=1e-9, abs=1e-12)
        assert s.posterior_variance[i] == pytest.approx(var, rel=1e-9)


# ----------------------------------------------------------------------------- forward process
def test_forward_chain_matches_the_marginal_q_xt_given_x0():
    """Applying the one-step kernels t times gives mean sqrt(abar_t) x0 and variance 1 - abar_t (no off-by-one)."""
    s = D.ddpm_schedule("quad", 50, 1e-4, 0.5)
    g = torch.Generator().manual_seed(0)
    x0 = 0.8
    x = torch.full((200_000,), x0, dtype=torch.float64)
    for t in range(1, 51):
        b = s.betas[t - 1]
        x = math.sqrt(1 - b) * x + math.sqrt(b) * torch.randn(x.shape, generator=g, dtype=torch.float64)
        if t in (1, 2, 5, 20, 50):
            ab = s.alphas_cumprod[t - 1]
            assert float(x.mean()) == pytest.approx(math.sqrt(ab) * x0, abs=5e-3)
            assert float(x.var()) == pytest.approx(1 - ab, abs=5e-3)
            # and q_sample at level sqrt(abar_t) has the same moments
            lv = torch.full((1,), math.sqrt(ab), dtype=torch.float64)
            eps = torch.randn((1, 200_000), generator=g, dtype=torch.float64)
            q = D.DeScoD.q_sample(torch.full((1, 200_000), x0, dtype=torch.float64), lv, eps)
            assert float(q.mean()) == pytest.approx(math.sqrt(ab) * x0, abs=5e-3)
            assert float(q.var()) == pytest.approx(1 - ab, abs=5e-3)


def test_training_levels_cover_each_step_interval():
    m = D.DeScoD(tiny(steps=4))
    lv = m.draw_levels(20_000, torch.Generator().manual_seed(0)).double()
    grid = m.schedule.sqrt_alphas_cumprod_prev  # [1, sqrt(abar_1), ..., sqrt(abar_4)]
    assert float(lv.max()) <= 1.0 and float(lv.min()) >= grid[-1] - 1e-7
    counts = np.histogram(lv.numpy(), bins=grid[::-1])[0]  # one bin per step
    np.testing.assert_allclose(counts / 20_000, 0.25, atol=0.02)


# ----------------------------------------------------------------------------- reverse process
def test_reverse_with_an_oracle_noise_predictor_recovers_x0():
    m = D.DeScoD(tiny(steps=50, beta_end=0.5))
    x0 = torch.from_numpy(toy_rhythms(3))

    def oracle(x_t, cond, level, i):
        lv = level.reshape(-1, 1, 1)
        return (x_t - lv * x0) / (1 - lv * lv).sqrt()

    out = m.reverse(x0, torch.Generator().manual_seed(1), eps_fn=oracle)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=0)


def test_reverse_uses_the_level_of_the_current_step():
    m = D.DeScoD(tiny(steps=5))
    seen = []

    def record(x_t, cond, level, i):
        seen.append((i, float(level[0])))
        return torch.zeros_like(x_t)

    m.reverse(torch.zeros(2, 8, PADDED), eps_fn=record)
    abar = m.schedule.alphas_cumprod
    assert [i for i, _ in seen] == [4, 3, 2, 1, 0]
    np.testing.assert_allclose([lv for _, lv in seen], np.sqrt(abar[::-1]), rtol=1e-6)


# ----------------------------------------------------------------------------- network and layout
def test_network_shapes_and_lead_layouts():
    x = torch.randn(3, 8, PADDED)
    joint = D.DeScoD(tiny())
    assert joint.net(x, x, torch.rand(3)).shape == (3, 8, PADDED)
    per = D.DeScoD(tiny(lead_mode="per_lead"))
    xn = per.to_net(x)
    assert xn.shape == (24, 1, PADDED)
    assert torch.equal(per.from_net(xn, 8), x)
    assert torch.equal(xn[9, 0], x[1, 1])  # rhythm-major: leads as batch
    assert per.net(xn, xn, torch.rand(24)).shape == (24, 1, PADDED)
    # parameters of the released layout, counted by hand (width f = 80, C channels; weights + biases)
    f, C = 80, 8
    hnf = f * (f // 4) * (3 + 5 + 9 + 15) + f + 2 * (f * f * 9 + f)  # four filters, conv_1, conv_2
    bridge = 2 * (f * f * 3 + f) + (f * 2 * f + 2 * f)  # two k=3 convs and the FiLM layer
    head, out = C * f * 9 + f, f * C * 9 + C
    assert D.count_parameters(D.DeScoDNet(C, f)) == 2 * (head + 4 * hnf) + 5 * bridge + out == 1_608_168


def test_config_defaults_and_validation():
    c = D.DeScoDConfig()
    assert (c.feats, c.steps, c.beta_schedule, c.beta_start, c.beta_end) == (80, 50, "quad", 1e-4, 0.5)
    assert (c.epochs, c.batch_size, c.lr, c.shots, c.length) == (100, 128, 1e-3, 1, 1000)
    assert D.DeScoDConfig.from_dict(c.to_dict()) == c
    for bad in (
        {"feats": 30},
        {"steps": 0},
        {"beta_end": 1.0},
        {"beta_start": 0.6},
        {"lead_mode": "both"},
        {"grad_clip": 0},
    ):
        with pytest.raises(ValueError):
            D.DeScoDConfig(**bad)
    with pytest.raises(ValueError, match="unknown descod keys"):
        D.DeScoDConfig.from_dict({"feat": 64})
    # the training-noise amplitude lives in the one training-noise protocol (DeScoD: 0.2-2.0, one per rhythm)
    n = nz.TrainingNoiseSettings()
    assert (n.channel, n.ratio_range, n.ratio_per) == (0, (0.2, 2.0), "example")
    for bad in ({"ratio_range": (2.0, 0.2)}, {"ratio_range": (0.0, 1.0)}, {"ratio_per": "batch"}):
        with pytest.raises(ValueError):
            nz.TrainingNoiseSettings(**bad)
    with pytest.raises(ValueError, match="unknown descod keys"):
        D.DeScoDConfig.from_dict({"amplitude": [0.2, 2.0]})


# ----------------------------------------------------------------------------- training pairs
def _window_match(sig, channel):
    """Largest normalised correlation of ``sig`` with any window of ``channel`` (1 only for a scaled copy)."""
    w = np.lib.stride_tricks.sliding_window_view(channel, len(sig))
    w = (w - w.mean(1, keepdims=True)) / w.std(1, keepdims=True)
    return float((w @ ((sig - sig.mean()) / sig.std())).max() / len(sig))


def test_training_noise_scales_each_lead_to_one_factor_per_rhythm_and_keeps_padding(tmp_path):
    clean = toy_rhythms(5)
    fn = walk_noise()
    noisy = fn(clean, np.random.default_rng(0))
    added = (noisy - clean)[..., :LENGTH].astype(np.float64)
    factors = np.ptp(added, -1) / np.ptp(clean[..., :LENGTH], -1)  # [5, 8]
    # DeScoD's rule: one factor per rhythm, each lead's window scaled to it times the lead's own peak-to-peak
    np.testing.assert_allclose(factors, factors[:, :1].repeat(8, 1), rtol=1e-4)
    assert factors.min() >= 0.2 - 1e-6 and factors.max() <= 2.0 + 1e-6 and np.ptp(factors[:, 0]) > 0.1
    assert np.all(noisy[..., LENGTH:] == 0)
    # each lead its own window, a contiguous piece of channel 0
    assert not np.allclose(added[0, 0] / np.ptp(added[0, 0]), added[0, 1] / np.ptp(added[0, 1]))
    for i, lead in [(2, 3), (4, 7)]:
        assert _window_match(added[i, lead], fn.record.signal[0]) > 1 - 1e-9
    # one factor per lead as a setting
    per_lead = walk_noise(ratio_per="lead")(clean, np.random.default_rng(0)) - clean
    f = np.ptp(per_lead[..., :LENGTH], -1) / np.ptp(clean[..., :LENGTH], -1)
    assert f.min() >= 0.2 - 1e-6 and f.max() <= 2.0 + 1e-6 and np.ptp(f, axis=1).min() > 0.05
    # the trainer hands the sampler the valid samples only and keeps the padding zero
    tr = T.DeScoDTrainer(clean, clean[:2], walk_noise(length=None), tiny(), tmp_path, device="cpu")
    y = tr.noisy(clean, np.random.default_rng(4))
    assert np.all(y[..., LENGTH:] == 0)
    np.testing.assert_allclose(y[..., :LENGTH], tr.noise_fn(clean[..., :LENGTH], np.random.default_rng(4)), atol=1e-6)


def test_training_noise_checks(tmp_path):
    clean = toy_rhythms(4)
    with pytest.raises(ValueError, match="noise kind"):
        T.DeScoDTrainer(clean, clean, walk_noise("ma"), tiny(), tmp_path, device="cpu")
    with pytest.raises(ValueError, match=r"need \[2, n\]"):
        nz.NoiseRecord("em", np.zeros(100), 100.0, "one channel")
    with pytest.raises(ValueError, match="does not fit"):
        walk_noise(n=20)(clean, np.random.default_rng(0))
    with pytest.raises(ValueError, match="windows of 50 samples"):
        T.DeScoDTrainer(clean, clean, walk_noise(length=50), tiny(), tmp_path, device="cpu")
    with pytest.raises(ValueError, match="at 100.0 Hz for rhythms at 250.0 Hz"):
        T.DeScoDTrainer(clean, clean, walk_noise(), tiny(), tmp_path, fs=250.0, device="cpu")


# ----------------------------------------------------------------------------- training
def test_training_lowers_the_validation_loss(tmp_path):
    clean, cv = toy_rhythms(32, seed=0), toy_rhythms(8, seed=1)
    tr = T.DeScoDTrainer(clean, cv, walk_noise(), tiny(epochs=4), tmp_path, device="cpu")
    before = tr.cv_loss()
    tr.run()
    losses = [r["cv_loss"] for r in tr.history]
    assert tr.best["cv_loss"] < 0.6 * before
    assert losses[-1] < losses[0]
    ck = tr.checkpoint()
    assert ck["best_cv_loss"] == min(losses) and ck["best_epoch"] == 1 + int(np.argmin(losses))


def test_resume_reaches_the_straight_run(tmp_path):
    clean, cv = toy_rhythms(16, seed=0), toy_rhythms(4, seed=1)
    cfg = tiny(epochs=4)
    straight = T.DeScoDTrainer(clean, cv, walk_noise(), cfg, tmp_path / "a", device="cpu")
    straight.run()
    first = T.DeScoDTrainer(clean, cv, walk_noise(), cfg, tmp_path / "b", device="cpu")
    first.run(stop_after_epochs=2)
    assert first.epoch == 2 and (tmp_path / "b" / "last.pt").exists()
    resumed = T.DeScoDTrainer(clean, cv, walk_noise(), cfg, tmp_path / "b", device="cpu")
    assert resumed.try_resume() and resumed.epoch == 2
    resumed.run()
    for k, v in straight.model.net.state_dict().items():
        torch.testing.assert_close(resumed.model.net.state_dict()[k], v, atol=1e-6, rtol=1e-5)
    assert [r["cv_loss"] for r in resumed.history] == pytest.approx([r["cv_loss"] for r in straight.history])
    # other settings or other training noise: the checkpoint is moved aside, not reused
    other = T.DeScoDTrainer(clean, cv, walk_noise(), tiny(epochs=4, lr=1e-3), tmp_path / "b", device="cpu")
    assert not other.try_resume() and (tmp_path / "b" / "last.stale.pt").exists()
    (tmp_path / "b" / "last.stale.pt").replace(tmp_path / "b" / "last.pt")
    noise = T.DeScoDTrainer(clean, cv, walk_noise(ratio_range=(0.5, 1.0)), cfg, tmp_path / "b", device="cpu")
    assert not noise.try_resume() and (tmp_path / "b" / "last.stale.pt").exists()


def test_one_model_per_noise_type(tmp_path):
    clean, cv = toy_rhythms(8), toy_rhythms(2, seed=1)
    ck = T.train(clean, walk_noise("bw"), tiny(epochs=1), tmp_path / "work", cv=cv, device="cpu")
    assert ck["noise_kind"] == "bw" and ck["noise_origin"] == "smoothed (bw)"
    assert ck["noise_sha256"] == walk_record("bw").sha256
    assert ck["noise_settings"] == {
        "channel": 0,
        "ratio_range": [0.2, 2.0],
        "ratio_per": "example",
        "span": [0.0, 1.0],
        "fs": 100.0,
    }
    T.save_model(tmp_path / "bw.pt", ck)
    model = D.load_model(tmp_path / "bw.pt", "bw")
    assert model.noise_kind == "bw"
    with pytest.raises(D.NoiseKindError, match="trained on 'bw'"):
        D.load_model(tmp_path / "bw.pt", "em")
    with pytest.raises(D.NoiseKindError):
        D.denoise(model, clean[:1], noise_kind="em")
    with pytest.raises(ValueError, match="kind 'em' given for a 'bw' model"):
        T.train(clean, walk_noise("em"), tiny(epochs=1), tmp_path / "w2", cv=cv, noise_kind="bw", device="cpu")
    with pytest.raises(ValueError, match="needs the noise kind"):
        T.train(clean, lambda x, rng: x + rng.normal(size=x.shape), tiny(epochs=1), tmp_path / "w3", cv=cv)


def test_trainer_rejects_bad_rhythms(tmp_path):
    clean = toy_rhythms(4)
    bad = clean.copy()
    bad[0, 0, -1] = 1.0
    with pytest.raises(ValueError, match="padding"):
        T.DeScoDTrainer(bad, clean, walk_noise(), tiny(), tmp_path, device="cpu")
    with pytest.raises(ValueError, match=r"\[N, 8, T\]"):
        T.DeScoDTrainer(clean[:, :3], clean, walk_noise(), tiny(), tmp_path, device="cpu")


# ----------------------------------------------------------------------------- denoising
def test_denoise_shapes_padding_shots_and_seed(tmp_path):
    clean, cv = toy_rhythms(8), toy_rhythms(2, seed=1)
    noisy = walk_noise()(clean[:3], np.random.default_rng(0))
    for mode, batch in (("joint", 4), ("per_lead", 48)):
        ck = T.train(clean, walk_noise(), tiny(epochs=1, steps=4, lead_mode=mode), tmp_path / mode, cv=cv, device="cpu")
        model = D.model_from_checkpoint(ck)
        a = D.denoise(model, noisy, shots=2, batch_size=batch, seed=7, device="cpu")
        assert a.shape == noisy.shape and np.all(a[..., LENGTH:] == 0) and np.isfinite(a).all()
        c = D.denoise(model, noisy, shots=2, batch_size=batch, seed=7, device="cpu")
        np.testing.assert_array_equal(a, c)  # seeded
    d = D.denoise(model, noisy[..., :LENGTH], shots=1, batch_size=48, device="cpu")
    assert d.shape == (3, 8, LENGTH)
    bad = noisy.copy()
    bad[0, 0, -1] = 0.1
    with pytest.raises(ValueError, match="padding"):
        D.denoise(model, bad)


def test_denoise_averages_the_shots_of_each_input(monkeypatch):
    model = D.DeScoD(tiny(), noise_kind="em")
    # a stand-in sampler whose output is the condition plus the row index within the batch it is given
    monkeypatch.setattr(model, "reverse", lambda cond, gen: cond + torch.arange(cond.shape[0]).reshape(-1, 1, 1))
    noisy = np.zeros((3, 8, PADDED), np.float32)
    noisy[..., :LENGTH] = 1.0
    out = D.denoise(model, noisy, shots=4, batch_size=8, device="cpu")  # chunks of 2 rhythms x 4 shots
    # rows are shot-major: rhythm i of a chunk of b appears at rows k * b + i, k = 0..3; mean = i + 1.5 b
    expected = np.array([1 + 0 + 3.0, 1 + 1 + 3.0, 1 + 0 + 1.5])
    np.testing.assert_allclose(out[:, :, :LENGTH], np.broadcast_to(expected[:, None, None], (3, 8, LENGTH)))
    assert np.all(out[..., LENGTH:] == 0)
