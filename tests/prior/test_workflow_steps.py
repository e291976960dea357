"""The prior's workflow steps end to end on a tiny database: files written, provenance carried, numbers sane."""

import numpy as np
import pytest

from ecgdiff.diffusion.evaluation import run_emd_figure, run_generated_beats_figure
from ecgdiff.diffusion.prior import load_prior
from ecgdiff.diffusion.train import train_prior
from ecgdiff.diffusion.uncertainty import run_uncertainty_figure
from ecgdiff.tables import read_table, read_table_provenance

MODEL = dict(channels=8, channel_mult=[1], num_blocks=1, attn_levels=[])
TRAIN = dict(steps=4, batch_size=16, lr=1e-3, cv_every=2, checkpoint_every=2, cv_sigmas=2, log_every=2, seed=0)
SAMPLER = dict(method="ve", eta=1.0, batch_size=64)
CONFIG = {"run": "test", "label": "TEST", "seed": 0}


@pytest.mark.slow
def test_train_and_evaluate(beat_db, tmp_path):
    paths = {}
    for variant in ("conditional", "unconditional"):
        p = tmp_path / f"prior_{variant}.pt"
        train_prior(
            beat_db.path,
            variant,
            MODEL,
            TRAIN,
            p,
            tmp_path / "ckpt" / variant,
            (tmp_path / f"loss_{variant}.csv", tmp_path / f"loss_{variant}.md"),
            (tmp_path / f"loss_{variant}.png", tmp_path / f"loss_{variant}.pdf"),
            CONFIG,
            device="cpu",
        )
        paths[variant] = p
        hist = read_table(tmp_path / f"loss_{variant}.csv")
        assert list(hist["step"]) == [2, 4] and np.isfinite(hist["cv_loss"]).all()
        assert read_table_provenance(tmp_path / f"loss_{variant}.csv")["data_hash"] == beat_db.data_hash
        assert (tmp_path / f"loss_{variant}.pdf").stat().st_size > 0
        assert (tmp_path / "ckpt" / variant / "last.pt").exists()
    assert load_prior(paths["unconditional"], "cpu").conditional is False

    t = run_emd_figure(
        paths["conditional"],
        paths["unconditional"],
        beat_db.path,
        {"steps": [2, 3], "noise_std": 0.1, "max_train_batches": None, "seed": 0},
        SAMPLER,
        (tmp_path / "f2.csv", tmp_path / "f2.md"),
        (tmp_path / "f2.png", tmp_path / "f2.pdf"),
        CONFIG,
        device="cpu",
    )
    assert set(t["model"]) == {"test", "noisy_test", "conditional", "unconditional"}
    assert (t["emd"] > 0).all() and len(t) == 3 + 2 * 2 * 2
    # noise raises the distance of the test set to the training set
    ref = t[t["target"] == "train"].set_index("model")["emd"]
    assert ref["noisy_test"] > ref["test"]

    u = run_uncertainty_figure(
        paths["conditional"],
        beat_db.path,
        {
            "pairs": 1,
            "repr_dim": 8,
            "channels": 4,
            "stages": 2,
            "hidden": 16,
            "epochs": 1,
            "batch_size": 32,
            "steps": 3,
            "seed": 0,
        },
        SAMPLER,
        (tmp_path / "f3.csv", tmp_path / "f3.md"),
        (tmp_path / "f3.png", tmp_path / "f3.pdf"),
        CONFIG,
        device="cpu",
    )
    assert list(u["group"]) == ["train", "test", "generated", "mi"]

    gen = run_generated_beats_figure(
        paths["conditional"],
        beat_db.path,
        {"n_patients": 2, "n_samples": 2, "steps": 3, "seed": 0},
        SAMPLER,
        (tmp_path / "f14.png", tmp_path / "f14.pdf"),
        CONFIG,
        device="cpu",
    )
    assert gen.shape == (2, 2, 9, 176) and np.isfinite(gen).all()
    assert (tmp_path / "f14.png").stat().st_size > 0
