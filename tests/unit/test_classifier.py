"""The rhythm classifier: architecture, windows, aggregation, AUC-PR, learning a separable case, resumption."""

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from torch import nn

from ecgdiff import leads
from ecgdiff.classify.evaluate import auc_pr_table, macro_auc_pr, weighted_average_precision
from ecgdiff.classify.predict import RhythmClassifier, load_classifier, window_starts
from ecgdiff.classify.train import ClassifierConfig, ClassifierTrainer, make_data, save_classifier
from ecgdiff.classify.xresnet1d import ResBlock, XResNet1d, XResNetConfig

FS = 100
LENGTH = 400  # 4-s rhythms, 1-s windows: small enough for a unit test
TINY = XResNetConfig(blocks=[1, 1, 1, 1], width=0.25, stem=[16, 16, 32], head_hidden=[32])


def synthetic_rhythms(n: int, seed: int, length: int = LENGTH, pad: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 8-lead signals: narrow regular spikes (NSR), wide regular spikes (BBB), irregular
    spikes with a 6 Hz oscillation (AF); per-lead gains and white noise; zero padding at the end."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 3, n)
    t = np.arange(length) / FS
    x = np.zeros((n, 8, length + pad))
    for i in range(n):
        rr = rng.uniform(0.3, 1.2, 30) if c[i] == 2 else np.full(30, rng.uniform(0.7, 0.9))
        beats = np.cumsum(rr) - rng.uniform(0, 1.0)
        width = 0.045 if c[i] == 1 else 0.012
        s = np.exp(-((t[:, None] - beats[None]) ** 2) / (2 * width**2)).sum(axis=1)
        if c[i] == 2:
            s = s + 0.1 * np.sin(2 * np.pi * 6 * t + rng.uniform(0, 2 * np.pi))
        x[i, :, :length] = rng.normal(1, 0.2, 8)[:, None] * s + 0.05 * rng.normal(size=(8, length))
    return x.astype(np.float32), np.eye(3)[c]


def tiny_config(**kw) -> ClassifierConfig:
    base = dict(epochs=5, batch_size=16, lr=1e-2, weight_decay=1e-2, crop_s=1.0, stride_s=0.5, checkpoint_every=100)
    return ClassifierConfig(**{**base, **kw})


# --------------------------------------------------------------------------- network
def test_xresnet_depths_blocks_and_head():
    net = XResNet1d(XResNetConfig(depth=50))
    assert [len(s) for s in net.stages] == [3, 4, 6, 3]
    convs = [m for m in net.stem if isinstance(m, nn.Sequential)]
    assert [c[0].out_channels for c in convs] == [32, 32, 64]
    assert all(c[0].kernel_size == (5,) for c in convs) and convs[0][0].stride == (2,)
    block = net.stages[1][0]
    assert isinstance(block, ResBlock)
    # bottleneck 1x1 -> 5 (stride 2) -> 1x1, expansion 4 of a 64-wide stage
    ks = [c[0].kernel_size[0] for c in block.convs]
    assert ks == [1, 5, 1] and block.convs[1][0].stride == (2,) and block.convs[2][0].out_channels == 256
    linear = [m for m in net.head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(512, 128), (128, 3)]
    assert net(torch.randn(2, 12, 250)).shape == (2, 3)
    assert [len(s) for s in XResNet1d(XResNetConfig(depth=101)).stages] == [3, 4, 23, 3]
    assert [len(s) for s in XResNet1d(TINY).stages] == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="depth"):
        XResNetConfig(depth=42)
    with pytest.raises(ValueError, match="odd"):
        XResNetConfig(kernel_size=4)


# --------------------------------------------------------------------------- windows and aggregation
def test_window_positions_cover_exactly_the_valid_samples():
    s = window_starts(1000, 250, 125)
    np.testing.assert_array_equal(s, [0, 125, 250, 375, 500, 625, 750])
    for length, window, stride in ((1000, 250, 125), (1000, 300, 125), (400, 100, 50), (250, 250, 125)):
        st = window_starts(length, window, stride)
        covered = np.zeros(length + 24, dtype=int)
        for a in st:
            covered[a : a + window] += 1
        assert (covered[:length] > 0).all() and (covered[length:] == 0).all(), (length, window, stride)
    assert window_starts(1000, 300, 125)[-1] == 700
    with pytest.raises(ValueError, match="longer"):
        window_starts(200, 250, 125)


class WindowMean(nn.Module):
    """Logits (m, -m, 2m) with m the mean of lead I over the window."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x[:, 0].mean(dim=-1, keepdim=True)
        return torch.cat([m, -m, 2 * m], dim=1)


def stub_classifier(length: int = 8, window: int = 4, stride: int = 2) -> RhythmClassifier:
    meta = {"classes": ["NSR", "BBB", "AF"], "fs": 100, "length": length, "window": window, "stride": stride}
    meta |= {"mean": 0.0, "std": 1.0, "window_aggregate": "max"}
    return RhythmClassifier(WindowMean(), meta, torch.device("cpu"))


def sig(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def test_max_over_windows_and_median_over_samples_hand_case():
    clf = stub_classifier()
    lead_i = np.array([0, 0, 1, 1, 2, 2, -1, -1], dtype=np.float32)
    x = np.zeros((1, 8, 12), dtype=np.float32)
    x[0, 0, :8] = lead_i
    x[0, :, 8:] = np.nan  # padding is never read
    # windows [0, 4), [2, 6), [4, 8): lead-I means 0.5, 1.5, 0.5
    p = clf.predict_proba(x)
    np.testing.assert_allclose(p[0], sig([1.5, -0.5, 3.0]), rtol=1e-6)
    # posterior samples: lead I scaled by 1, 2, -1 -> per-sample maxima, then the median over samples
    samples = np.stack([x[0] * a for a in (1.0, 2.0, -1.0)])[None]
    samples[..., 8:] = np.nan
    agg, per = clf.predict_posterior(samples, return_samples=True)
    hand = np.array(
        [
            sig([1.5, -0.5, 3.0]),  # means 0.5, 1.5, 0.5
            sig([3.0, -1.0, 6.0]),  # means 1, 3, 1
            sig([-0.5, 1.5, -1.0]),  # means -0.5, -1.5, -0.5
        ]
    )
    np.testing.assert_allclose(per[0], hand, rtol=1e-6)
    np.testing.assert_allclose(agg[0], np.median(hand, axis=0), rtol=1e-6)
    np.testing.assert_allclose(clf.predict_posterior(samples, how="mean")[0], hand.mean(axis=0), rtol=1e-6)


def test_classifier_input_is_the_twelve_leads():
    clf = stub_classifier()
    x = np.random.default_rng(0).normal(size=(2, 8, 8)).astype(np.float32)
    x12 = leads.derive(x, leads.BASIS, leads.STANDARD_12)
    # the same rhythm given as 8 modelled leads or as its 12-lead expansion: same probabilities
    np.testing.assert_allclose(clf.predict_proba(x), clf.predict_proba(x12, leads=leads.STANDARD_12), rtol=1e-6)


# --------------------------------------------------------------------------- AUC-PR
def test_auc_pr_equals_scikit_learn_and_bootstrap_interval_contains_it():
    rng = np.random.default_rng(7)
    n_pat = 60
    pid = np.repeat(np.arange(n_pat), 2)
    y = np.repeat(rng.integers(0, 2, size=(n_pat, 3)), 2, axis=0)
    s = y * 0.8 + rng.normal(0, 0.5, size=y.shape)
    df = auc_pr_table(y, s, pid, n_boot=300, seed=1)
    for c in range(3):
        row = df.iloc[c]
        assert row["auc_pr"] == pytest.approx(average_precision_score(y[:, c], s[:, c]))
        assert row["low"] < row["auc_pr"] < row["high"]
        assert row["n_patients"] == n_pat and row["n_rhythms"] == 2 * n_pat
        assert row["prevalence"] == pytest.approx(y[:, c].mean())
    assert macro_auc_pr(y, s) == pytest.approx(df["auc_pr"].mean())
    # seeded: the same table twice
    assert df.equals(auc_pr_table(y, s, pid, n_boot=300, seed=1))
    # a replicate's weights (patient multiplicities) give scikit-learn's AP of the repeated rows
    w = np.repeat(rng.multinomial(n_pat, np.full(n_pat, 1 / n_pat)), 2)
    keep = w > 0
    rep = np.repeat(np.arange(len(y)), w)
    weighted = weighted_average_precision(y[keep, 0], s[keep, 0], w[keep].astype(float))
    assert weighted == pytest.approx(average_precision_score(y[rep, 0], s[rep, 0]), rel=1e-12)
    assert weighted == pytest.approx(average_precision_score(y[keep, 0], s[keep, 0], sample_weight=w[keep]), rel=1e-12)
    # a class without positives has no AUC-PR
    y0 = y.copy()
    y0[:, 2] = 0
    assert np.isnan(auc_pr_table(y0, s, pid, n_boot=10).iloc[2]["auc_pr"])


def test_weighted_average_precision_equals_scikit_learn_with_ties():
    rng = np.random.default_rng(8)
    for _ in range(20):
        y = rng.integers(0, 2, 50)
        y[0] = 1
        s = np.round(rng.normal(size=50), 1)  # many ties
        w = rng.integers(1, 4, 50).astype(float)
        assert weighted_average_precision(y, s, w) == pytest.approx(
            average_precision_score(y, s, sample_weight=w), rel=1e-12
        )
        assert weighted_average_precision(y, s, np.ones(50)) == pytest.approx(average_precision_score(y, s), rel=1e-12)


# --------------------------------------------------------------------------- training
def train_tiny(tmp_path, shuffle: bool = False, **kw) -> ClassifierTrainer:
    x_tr, y_tr = synthetic_rhythms(200, seed=1)
    x_cv, y_cv = synthetic_rhythms(150, seed=2)
    if shuffle:
        y_tr = y_tr[np.random.default_rng(5).permutation(len(y_tr))]
        y_cv = y_cv[np.random.default_rng(6).permutation(len(y_cv))]
    data = make_data(x_tr, y_tr, x_cv, y_cv, fs=FS, data_hash="synthetic", length=LENGTH)
    trainer = ClassifierTrainer(data, TINY, tiny_config(**kw), tmp_path / "work", device="cpu")
    trainer.run()
    return trainer


def test_classifier_learns_a_separable_synthetic_case(tmp_path):
    trainer = train_tiny(tmp_path)
    best = trainer.best["cv"]
    assert best["cv_auc_pr"] > 0.9
    assert min(best[f"cv_auc_pr_{c}"] for c in ("NSR", "BBB", "AF")) > 0.9
    # the saved file holds the best weights: reloaded on the CPU it reproduces the best validation AUC-PR
    blob = save_classifier(tmp_path / "clf.pt", trainer, {"run": "test"})
    assert blob["best_epoch"] == trainer.best["epoch"]
    clf = load_classifier(tmp_path / "clf.pt", device="cpu")
    x_cv, y_cv = synthetic_rhythms(150, seed=2)
    p = clf.predict_proba(x_cv)
    assert macro_auc_pr(y_cv, p) == pytest.approx(best["cv_auc_pr"], abs=1e-6)
    assert clf.window == 100 and clf.stride == 50 and clf.length == LENGTH


def test_classifier_fails_on_shuffled_labels(tmp_path):
    trainer = train_tiny(tmp_path, shuffle=True)
    y_cv = trainer.data.y_cv
    p = trainer.cv_probabilities()
    final = macro_auc_pr(y_cv, p)
    # chance: the same scores against permuted labels (AUC-PR of a random ranking is near the prevalence,
    # 1/3, plus a small-sample excess); the shuffled-label classifier is no better than that
    rng = np.random.default_rng(0)
    ones = np.ones(len(y_cv))
    null = [
        np.mean([weighted_average_precision(y_cv[perm, c], p[:, c], ones) for c in range(3)])
        for perm in (rng.permutation(len(y_cv)) for _ in range(300))
    ]
    assert final < np.quantile(null, 0.99)
    assert final < 0.6


def test_training_resumes_after_a_kill(tmp_path):
    x_tr, y_tr = synthetic_rhythms(64, seed=3)
    x_cv, y_cv = synthetic_rhythms(30, seed=4)
    data = make_data(x_tr, y_tr, x_cv, y_cv, fs=FS, data_hash="synthetic", length=LENGTH)
    cfg = tiny_config(epochs=3, batch_size=16, checkpoint_every=1)
    straight = ClassifierTrainer(data, TINY, cfg, tmp_path / "a", device="cpu")
    straight.run()
    killed = ClassifierTrainer(data, TINY, cfg, tmp_path / "b", device="cpu")
    killed.run(stop_at_epoch=1)
    resumed = ClassifierTrainer(data, TINY, cfg, tmp_path / "b", device="cpu")
    assert resumed.try_resume() and resumed.epoch == 1
    resumed.run()
    for k, v in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v, msg=k)
    assert [h["cv_loss"] for h in resumed.history] == pytest.approx([h["cv_loss"] for h in straight.history])
    # a checkpoint made with other settings is set aside, not resumed
    other = ClassifierTrainer(data, TINY, tiny_config(epochs=3, batch_size=16, lr=1e-3), tmp_path / "b", device="cpu")
    assert not other.try_resume()
    assert (tmp_path / "b" / "last.stale.pt").exists()


def test_config_validation():
    with pytest.raises(ValueError, match="schedule"):
        ClassifierConfig(schedule="step")
    with pytest.raises(ValueError, match="select_on"):
        ClassifierConfig(select_on="f1")
    x, y = synthetic_rhythms(8, seed=0, length=200)
    data = make_data(x, y, x, y, fs=FS, data_hash="h", length=200)
    with pytest.raises(ValueError, match="longer"):
        ClassifierTrainer(data, TINY, ClassifierConfig(crop_s=2.5), "unused", device="cpu")
