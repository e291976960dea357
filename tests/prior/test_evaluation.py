"""Prior evaluation: EMD against hand-computed cases, prior-network uncertainty on out-of-distribution beats."""

import math

import numpy as np
import pytest

from ecgdiff import metrics
from ecgdiff.diffusion import evaluation
from ecgdiff.diffusion.uncertainty import PriorNetworkEnsemble, RNDConfig, summarise


def test_emd_one_dimensional_hand_case():
    # {0, 1} -> {2, 3}: each point moves by 2
    assert metrics.emd(np.array([[0.0], [1.0]]), np.array([[3.0], [2.0]])) == pytest.approx(2.0)
    # {0, 4} -> {1, 2}: optimal pairing 0->1, 4->2: (1 + 2) / 2
    assert metrics.emd(np.array([[0.0], [4.0]]), np.array([[2.0], [1.0]])) == pytest.approx(1.5)


def test_emd_two_dimensional_uses_euclidean_cost_and_uniform_weights():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    y = np.array([[0.0, 0.0]])
    # one target point receives both sources: (0 + 5) / 2 with the L2 (not squared) cost
    assert metrics.emd(x, y) == pytest.approx(2.5)
    # three points: a unit square's corners to its centre -> sqrt(2)/2 each
    sq = np.array([[0, 0], [1, 0], [0, 1]], dtype=float)
    assert metrics.emd(sq, np.full((3, 2), 0.5)) == pytest.approx(math.sqrt(0.5))
    assert metrics.emd(sq, sq[::-1]) == pytest.approx(0.0, abs=1e-12)


def test_emd_features_concatenate_beats_and_conditioning():
    beats = np.arange(12, dtype=float).reshape(2, 2, 3)
    cond = np.array([[1, 0, 0.1, 0.2], [0, 1, -0.1, 0.3]])
    f = evaluation.emd_features(beats, cond)
    assert f.shape == (2, 10)
    np.testing.assert_allclose(f[1], [6, 7, 8, 9, 10, 11, 0, 1, -0.1, 0.3])
    with pytest.raises(ValueError):
        evaluation.emd_features(beats, cond[:1])


def test_train_batches_are_disjoint_and_sized():
    b = evaluation.train_batches(23, 5, None, 0)
    assert len(b) == 4 and all(len(i) == 5 for i in b)
    assert len(np.unique(np.concatenate(b))) == 20
    assert len(evaluation.train_batches(23, 5, 2, 0)) == 2
    with pytest.raises(ValueError):
        evaluation.train_batches(3, 5, None, 0)


def test_prior_network_uncertainty_is_larger_out_of_distribution(beat_db):
    x_train = np.asarray(db_train := beat_db.subset("train")[0])
    cfg = RNDConfig(pairs=2, repr_dim=16, channels=8, stages=2, hidden=32, epochs=15, batch_size=32, lr=3e-3, seed=0)
    ens = PriorNetworkEnsemble(9, cfg, device="cpu")
    hist = ens.fit(x_train)
    assert hist[-1]["mse"] < hist[0]["mse"]
    u_train = ens.uncertainty(x_train)
    rng = np.random.default_rng(0)
    ood = {"noise": rng.normal(size=x_train.shape).astype(np.float32), "inverted": -x_train}
    for name, x in ood.items():
        assert np.median(ens.uncertainty(x)) > 1.5 * np.median(u_train), name
    t = summarise({"train": u_train, "noise": ens.uncertainty(ood["noise"])})
    assert list(t["group"]) == ["train", "noise"] and t["n"].tolist() == [len(db_train), len(db_train)]
