"""ECGrecover: no withheld lead leaks, observed leads come back as observed, the loss, training, resumption."""

import numpy as np
import pytest
import scipy.stats
import torch

from ecgdiff import leads
from ecgdiff.baselines import ecgrecover as er
from ecgdiff.baselines import ecgrecover_train as ert

LENGTH, PADDED = 120, 128


def _cfg(**kw):
    base = dict(channels=4, depth=2, lead_kernel=5, length=LENGTH, padded_length=PADDED, window=64, batch_size=16)
    base.update(kw)
    return er.ECGrecoverConfig(**base)


def _rhythms(n, seed, length=LENGTH, padded=PADDED):
    """12-lead rhythms in which every basis lead is a fixed gain times one latent signal (a learnable relation)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 100.0
    freqs = rng.uniform(0.8, 6.0, size=(n, 3))
    phases = rng.uniform(0, 2 * np.pi, size=(n, 3))
    s = (np.sin(2 * np.pi * freqs[:, :, None] * t + phases[:, :, None]) / np.arange(1, 4)[None, :, None]).sum(1)
    gains = np.array([1.0, 1.6, -0.8, 0.5, 1.2, 1.8, 1.4, 0.9])  # I, II, V1..V6
    x8 = np.zeros((n, 8, padded))
    x8[:, :, :length] = gains[None, :, None] * s[:, None, :]
    return ert.from_basis(x8, leads.BASIS)


def _data(n_train=48, n_cv=16):
    return ert.RecoverData(_rhythms(n_train, 0), _rhythms(n_cv, 1), length=LENGTH, data_hash="synthetic")


def _net(cfg, seed=0):
    torch.manual_seed(seed)
    return er.ECGrecoverNet(cfg).eval()


def test_masks_are_built_by_name():
    assert er.setting_mask("lead_I").tolist() == [n == "I" for n in leads.STANDARD_12]
    assert er.setting_mask("limb").tolist() == [n in leads.LIMB for n in leads.STANDARD_12]
    for v in leads.PRECORDIAL:
        assert er.setting_mask(f"without_{v}").tolist() == [n != v for n in leads.STANDARD_12]
    rng = np.random.default_rng(0)
    m = er.draw_masks(200, ["lead_I", "limb"], 0.0, rng)
    assert {tuple(r) for r in m} == {tuple(er.setting_mask("lead_I")), tuple(er.setting_mask("limb"))}
    r = er.draw_masks(200, ["lead_I"], 1.0, rng)
    assert np.all((r.sum(1) > 0) & (r.sum(1) < 12)) and len({tuple(x) for x in r}) > 50
    with pytest.raises(KeyError):
        er.setting_mask("V7")


@pytest.mark.parametrize("protocol", ["talk", "original"])
@pytest.mark.parametrize("setting", ["lead_I", "limb", "without_V4"])
def test_withheld_leads_never_reach_the_network(protocol, setting):
    cfg = _cfg(protocol=protocol)
    net = _net(cfg)
    seen = []
    net.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    x = _rhythms(5, 3)
    mask = er.setting_mask(setting)
    perturbed = x.copy()
    perturbed[:, ~mask] = np.random.default_rng(9).normal(scale=50.0, size=perturbed[:, ~mask].shape)
    a = er.reconstruct(net, x, mask, batch_size=2)
    b = er.reconstruct(net, perturbed, mask, batch_size=2)
    assert np.array_equal(a, b)
    half = len(seen) // 2
    for s1, s2 in zip(seen[:half], seen[half:]):
        assert torch.equal(s1, s2)  # the network's inputs are identical
        if protocol == "talk":
            assert torch.all(s1[:, torch.from_numpy(~mask)] == 0)
            assert torch.all(s1[..., LENGTH:] == 0)  # the padding stays zero
    if protocol == "talk":  # and the observed leads do reach it, unchanged
        inp = torch.cat(seen[:half])
        assert torch.equal(inp[:, torch.from_numpy(mask), :LENGTH], torch.from_numpy(x[:, mask, :LENGTH]))


@pytest.mark.parametrize("protocol", ["talk", "original"])
def test_training_inputs_hold_nothing_of_the_withheld_leads(protocol):
    cfg = _cfg(protocol=protocol)
    y = torch.from_numpy(er.prepare_targets(_rhythms(6, 2), cfg))
    masks = torch.from_numpy(er.draw_masks(6, cfg.masks, 0.5, np.random.default_rng(0)))
    y2 = torch.where(masks[:, :, None], y, torch.randn(y.shape) * 100)
    a = er.network_input(y, masks, cfg, torch.Generator().manual_seed(3))
    b = er.network_input(y2, masks, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(a[masks][:, :LENGTH], y[masks][:, :LENGTH])
    if protocol == "talk":
        assert torch.all(a[~masks] == 0) and torch.all(a[..., LENGTH:] == 0)


def test_observed_leads_are_returned_as_observed():
    cfg = _cfg()
    x = _rhythms(4, 4)
    mask = er.setting_mask("limb")
    rec = er.reconstruct(_net(cfg), x, mask)
    assert rec.shape == x.shape and rec.dtype == np.float32
    assert np.array_equal(rec[:, mask], x[:, mask])
    assert np.all(rec[..., LENGTH:] == 0)
    assert not np.allclose(rec[:, ~mask, :LENGTH], 0)
    per_row = np.stack([er.setting_mask("lead_I"), mask, er.setting_mask("without_V2"), mask])
    rec2 = er.reconstruct(_net(cfg), x, per_row, batch_size=3)
    for i in range(4):
        assert np.array_equal(rec2[i, per_row[i]], x[i, per_row[i]])
    np.testing.assert_allclose(rec2[1], rec[1], rtol=1e-5, atol=1e-6)  # batching does not change a rhythm


def test_original_protocol_units():
    cfg = _cfg(protocol="original")
    net = _net(cfg)
    x = _rhythms(3, 5)
    mask = er.setting_mask("lead_I")
    scaled = er.reconstruct(net, x, mask)
    u, rng_ = er.minmax_scale(x[..., :LENGTH])
    np.testing.assert_allclose(scaled[:, mask, :LENGTH], u[:, mask], atol=1e-6)
    mv = er.reconstruct(net, x, mask, lead_range=rng_)
    assert np.array_equal(mv[:, mask], x[:, mask])
    np.testing.assert_allclose(
        mv[:, ~mask, :LENGTH], er.minmax_unscale(scaled[:, ~mask, :LENGTH], rng_[:, ~mask]), atol=1e-5
    )
    with pytest.raises(ValueError, match="original protocol only"):
        er.reconstruct(_net(_cfg()), x, mask, lead_range=rng_)


def test_minmax_scaling_round_trips():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 12, 100)) * rng.uniform(0.1, 3, size=(4, 12, 1)) + rng.normal(size=(4, 12, 1))
    u, r = er.minmax_scale(x)
    assert np.allclose(u.min(-1), -1) and np.allclose(u.max(-1), 1)
    np.testing.assert_allclose(er.minmax_unscale(u, r), x, atol=1e-12)
    flat = np.full((1, 1, 10), 0.7)
    uf, rf = er.minmax_scale(flat)
    assert np.all(uf == 0) and np.allclose(er.minmax_unscale(uf, rf), 0.7)


def test_loss_is_mse_minus_a_tenth_of_pearson():
    target = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    pred = 2 * target + 1  # r = 1, errors t + 1: squares 4, 9, 16, 25
    loss, mse, corr = er.recover_loss(pred, target, 0.1)
    assert mse.item() == pytest.approx(13.5)
    assert corr.item() == pytest.approx(1.0, abs=1e-6)
    assert loss.item() == pytest.approx(13.5 - 0.1, abs=1e-6)
    g = torch.Generator().manual_seed(0)
    a, b = (
        torch.randn(3, 12, 50, generator=g, dtype=torch.float64),
        torch.randn(3, 12, 50, generator=g, dtype=torch.float64),
    )
    loss, _, _ = er.recover_loss(a, b, 0.1)
    r = np.mean([scipy.stats.pearsonr(a[i, j].numpy(), b[i, j].numpy())[0] for i in range(3) for j in range(12)])
    assert loss.item() == pytest.approx(((a - b) ** 2).mean().item() - 0.1 * r, abs=1e-9)


@pytest.mark.parametrize("protocol", ["talk", "original"])
def test_training_lowers_the_validation_loss(protocol, tmp_path):
    cfg = _cfg(protocol=protocol, epochs=12, lr=0.01, dropout=0.0, seed=1)
    tr = ert.ECGrecoverTrainer(_data(), cfg, tmp_path, device="cpu")
    before = tr.cv_loss()["loss"]
    tr.run()
    assert tr.best["cv_loss"] < 0.5 * before
    assert [h["epoch"] for h in tr.history] == list(range(1, 13))
    # the withheld lead is predicted from the others far better than by zeros (its error relative to its power)
    x, mask = tr.data.x_cv, er.setting_mask("without_V3")
    lead_range = er.minmax_scale(x[..., :LENGTH])[1] if protocol == "original" else None
    rec = er.reconstruct(tr.best_model(), x, mask, lead_range=lead_range)
    err = ((rec - x)[:, ~mask, :LENGTH] ** 2).mean() / (x[:, ~mask, :LENGTH] ** 2).mean()
    assert err < 0.5


def test_resume_after_a_kill_equals_a_straight_run(tmp_path):
    cfg = _cfg(epochs=3, random_subset_prob=0.3, seed=4)
    data = _data(32, 8)
    straight = ert.ECGrecoverTrainer(data, cfg, tmp_path / "a", device="cpu")
    straight.run()
    killed = ert.ECGrecoverTrainer(data, cfg, tmp_path / "b", device="cpu")
    killed.run(stop_after_epoch=1)
    torch.manual_seed(999)  # a new process starts with other global RNG state
    resumed = ert.ECGrecoverTrainer(data, cfg, tmp_path / "b", device="cpu")
    assert resumed.try_resume() and resumed.epoch == 1
    resumed.run()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    assert [h["cv_loss"] for h in straight.history] == [h["cv_loss"] for h in resumed.history]
    assert straight.best["epoch"] == resumed.best["epoch"]
    other = ert.ECGrecoverTrainer(data, _cfg(epochs=3, seed=5), tmp_path / "b", device="cpu")
    assert not other.try_resume() and (tmp_path / "b" / "last.stale.pt").exists()


def test_model_file_round_trip(tmp_path):
    tr = ert.ECGrecoverTrainer(_data(16, 4), _cfg(epochs=1), tmp_path / "w", device="cpu")
    tr.run()
    blob = ert.save_trained(tmp_path / "m.pt", tr, {"run": "test"})
    assert blob["best_epoch"] == 1 and blob["provenance"]["run"] == "test"
    model = er.load_model(tmp_path / "m.pt")
    x, mask = _rhythms(3, 7), er.setting_mask("without_V1")
    np.testing.assert_array_equal(er.reconstruct(model, x, mask), er.reconstruct(tr.best_model(), x, mask))
    torch.save({"format": "other"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not an ECGrecover model file"):
        er.load_model(tmp_path / "bad.pt")


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(protocol="paper"), "protocol"),
        (dict(masks=["lead_II"]), "unknown settings"),
        (dict(kernel=3), "even"),
        (dict(lead_kernel=4), "odd"),
        (dict(padded_length=130, length=120), "divisible"),
        (dict(fill="noise"), "fill"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_config_is_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        _cfg(**kw)


def test_wrong_input_shape_is_named():
    with pytest.raises(ValueError, match=r"\[P, 12, 128\]"):
        er.reconstruct(_net(_cfg()), np.zeros((2, 8, PADDED), np.float32), er.setting_mask("lead_I"))
    with pytest.raises(TypeError, match="boolean"):
        er.reconstruct(_net(_cfg()), _rhythms(1, 0), np.ones(12))


def test_training_data_from_a_rhythm_database_expands_the_basis_leads():
    class FakeDB:  # the attributes of ecgdiff.data.rhythmdb.RhythmDatabase that the trainer reads
        path, leads, length, fs, data_hash = "fake", leads.BASIS, LENGTH, 100.0, "h"

        def subset(self, split):
            rng = np.random.default_rng(0 if split == "train" else 1)
            return rng.normal(size=(3 if split == "train" else 2, 8, PADDED)).astype(np.float32), None

    data = ert.load_training_data(FakeDB())
    x8, _ = FakeDB().subset("cv")
    assert data.x_train.shape == (3, 12, PADDED) and data.length == LENGTH and data.data_hash == "h"
    iii, avr = leads.STANDARD_12.index("III"), leads.STANDARD_12.index("aVR")
    np.testing.assert_allclose(data.x_cv[:, iii], x8[:, 1] - x8[:, 0], atol=1e-6)
    np.testing.assert_allclose(data.x_cv[:, avr], -(x8[:, 0] + x8[:, 1]) / 2, atol=1e-6)
    np.testing.assert_array_equal(data.x_cv[:, leads.STANDARD_12.index("V4")], x8[:, 5])
