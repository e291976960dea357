"""Training: the loss goes down, kill-and-resume equals a straight run, the prior file loads into a denoiser."""

import numpy as np
import pytest
import torch

from ecgdiff.diffusion import conditioning
from ecgdiff.diffusion.networks.beat_unet import UNetConfig
from ecgdiff.diffusion.precond import edm_loss
from ecgdiff.diffusion.prior import load_prior
from ecgdiff.diffusion.train import TrainConfig, Trainer, load_training_data, save_prior

TINY = UNetConfig(channels=8, num_blocks=1, attn_levels=[0], dropout=0.1)


def _cfg(**kw):
    base = dict(
        steps=6, batch_size=8, lr=2e-3, ema=0.9, checkpoint_every=100, cv_every=3, cv_sigmas=2, log_every=100, seed=5
    )
    base.update(kw)
    return TrainConfig(**base)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(beat_db, tmp_path):
    data = load_training_data(beat_db)
    tr = Trainer(data, TINY, _cfg(), tmp_path, device="cpu")
    x0, c = data.x_train[:8], data.c_train[:8]
    g = torch.Generator().manual_seed(0)
    sigma = torch.exp(-1.2 + 1.2 * torch.randn(8, generator=g))
    noise = torch.randn(x0.shape, generator=g)
    tr.model.eval()
    before = edm_loss(tr.model, x0, sigma, noise, c).mean().item()
    tr.model.train()
    opt = torch.optim.Adam(tr.model.parameters(), lr=1e-2)
    for _ in range(10):
        loss = edm_loss(tr.model, x0, sigma, noise, c).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    tr.model.eval()
    after = edm_loss(tr.model, x0, sigma, noise, c).mean().item()
    assert after < 0.9 * before


def test_kill_and_resume_equals_a_straight_run(beat_db, tmp_path):
    data = load_training_data(beat_db)
    straight = Trainer(data, TINY, _cfg(), tmp_path / "a", device="cpu")
    straight.run()
    killed = Trainer(data, TINY, _cfg(checkpoint_every=2), tmp_path / "b", device="cpu")
    killed.run(stop_at_step=4)  # the "kill": the checkpoint of step 4 is what survives
    assert killed.step == 4
    torch.manual_seed(12345)  # the new process starts with other global RNG state
    resumed = Trainer(data, TINY, _cfg(checkpoint_every=2), tmp_path / "b", device="cpu")
    assert resumed.try_resume() and resumed.step == 4
    resumed.run()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert straight.best["step"] == resumed.best["step"]
    assert straight.best["cv_loss"] == pytest.approx(resumed.best["cv_loss"], rel=1e-6)
    # and a run that differs in something that matters does not resume that checkpoint
    other = Trainer(data, TINY, _cfg(checkpoint_every=2, lr=1e-3), tmp_path / "b", device="cpu")
    assert not other.try_resume()


def test_cv_loss_is_deterministic_and_best_weights_are_saved(beat_db, tmp_path):
    data = load_training_data(beat_db)
    tr = Trainer(data, TINY, _cfg(steps=3), tmp_path, device="cpu")
    assert tr.cv_loss() == tr.cv_loss()
    # one beat per CV patient (paper 2.4)
    assert len(data.x_cv) == data.n_cv_patients
    tr.run()
    blob = save_prior(tmp_path / "prior.pt", tr, {"run": "test"})
    assert blob["best_step"] in (3,) and blob["final_step"] == 3
    prior = load_prior(tmp_path / "prior.pt", device="cpu")
    assert prior.conditional and prior.leads == beat_db.leads and prior.shape == (9, 176)
    assert prior.provenance["run"] == "test" and prior.data_hash == beat_db.data_hash
    for k, v in prior.model.state_dict().items():
        torch.testing.assert_close(v, tr.best["ema"][k])


@pytest.fixture(scope="module")
def trained_prior(beat_db, tmp_path_factory):
    path = tmp_path_factory.mktemp("prior")
    tr = Trainer(load_training_data(beat_db), TINY, _cfg(steps=3), path, device="cpu")
    tr.run()
    save_prior(path / "prior.pt", tr, {"run": "test"})
    tr_u = Trainer(load_training_data(beat_db), TINY, _cfg(steps=3), path / "u", variant="unconditional", device="cpu")
    tr_u.run()
    save_prior(path / "prior_u.pt", tr_u, {"run": "test"})
    return load_prior(path / "prior.pt", device="cpu"), load_prior(path / "prior_u.pt", device="cpu")


def test_denoiser_batching_is_patient_major_repeat_interleave(trained_prior):
    prior, _ = trained_prior
    with torch.no_grad():  # make the network's output depend visibly on the conditioning
        for p in prior.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    cond = prior.condition(age=[30, 70, 50], sex=["M", "F", "M"], rr_ms=[600, 1000, 800])
    n = 4
    x = torch.randn(3 * n, 9, 176)
    sigma = torch.full((3 * n,), 0.8)
    out = prior.denoiser(cond)(x, sigma)
    for p in range(3):
        one = prior.denoiser(cond[p])(x[p * n : (p + 1) * n], 0.8)
        torch.testing.assert_close(out[p * n : (p + 1) * n], one)
    # a patient-minor layout would give another answer
    wrong = prior.denoiser(cond.repeat(n, 1))(x, sigma)
    assert (wrong - out).abs().max() > 1e-4
    with pytest.raises(ValueError):
        prior.denoiser(cond)(torch.randn(7, 9, 176), 1.0)
    # a metadata table is encoded by the one conditioning module
    meta = conditioning.decode(cond)
    torch.testing.assert_close(prior.denoiser(meta)(x, sigma), out)


def test_denoiser_gradients_only_when_asked(trained_prior):
    prior, unc = trained_prior
    D = prior.denoiser(prior.condition([50], ["F"], [800]))
    x = torch.randn(2, 9, 176)
    assert not D(x, 1.0).requires_grad
    xg = x.clone().requires_grad_(True)
    out = D(xg, torch.tensor([1.0, 2.0]))
    out.square().sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    assert all(p.grad is None for p in prior.model.parameters())
    # unconditional prior: no conditioning accepted, none needed
    assert not unc.conditional
    assert unc.denoiser()(x, 1.0).shape == x.shape
    with pytest.raises(ValueError):
        unc.denoiser(prior.condition([50], ["F"], [800]))
    with pytest.raises(ValueError):
        prior.denoiser()


def test_conditioning_encoding():
    c = conditioning.encode([50, 100], ["M", "female"], [400, 800])
    np.testing.assert_allclose(c, [[1, 0, 0, 0], [0, 1, 1, 1]])
    with pytest.raises(ValueError, match="patient x"):
        conditioning.encode([np.nan], ["M"], [400], ids=["x"])
    with pytest.raises(ValueError, match="sex"):
        conditioning.encode([40], ["?"], [400])


def test_generate_is_seeded_and_checks_its_arguments(trained_prior):
    from ecgdiff.diffusion.sample import generate

    prior, unc = trained_prior
    cond = prior.condition([40, 60, 80], ["M", "F", "M"], [700, 900, 1100])
    a = generate(prior, 3, cond=cond, seed=1, batch_size=2)
    b = generate(prior, 3, cond=cond, seed=1, batch_size=2)
    assert a.shape == (3, 9, 176) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, generate(prior, 3, cond=cond, seed=2, batch_size=2))
    h = generate(unc, 2, n=4, method="heun", seed=0)
    assert h.shape == (4, 9, 176) and np.isfinite(h).all()
    with pytest.raises(ValueError):
        generate(prior, 3, n=3)
    with pytest.raises(ValueError):
        generate(unc, 3, cond=cond)
