"""Dower's missing-lead baseline: exact on signals built from a vectorcardiogram."""

import numpy as np
import pytest

from ecgdiff import leads
from ecgdiff.baselines import dower


@pytest.fixture
def vcg_beats():
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(5, 3, 176))
    names = leads.PAPER_9
    beats_mv = np.einsum("lk,nkt->nlt", leads.dower_matrix(names), xyz)
    return names, xyz, beats_mv


@pytest.mark.parametrize("missing", ["V1", "V2", "V3", "V4", "V5", "V6"])
def test_dower_exact_on_vcg_signal(vcg_beats, missing):
    names, _, beats_mv = vcg_beats
    observed = [n for n in names if n != missing]
    rec = dower.reconstruct(beats_mv[:, leads.indices(observed, names)], observed, [missing])
    np.testing.assert_allclose(rec[:, 0], beats_mv[:, names.index(missing)], atol=1e-10)


def test_vectorcardiogram_recovered(vcg_beats):
    names, xyz, beats_mv = vcg_beats
    np.testing.assert_allclose(dower.vectorcardiogram(beats_mv, names), xyz, atol=1e-10)


def test_normalised_reconstruction_uses_scales(vcg_beats):
    names, _, beats_mv = vcg_beats
    rng = np.random.default_rng(1)
    scales = rng.uniform(0.3, 2.0, size=beats_mv.shape[:2])
    beats = beats_mv / scales[:, :, None]
    observed = [n for n in names if n != "V3"]
    rec = dower.reconstruct_normalised(beats, scales, names, observed, ["V3"])
    np.testing.assert_allclose(rec[:, 0], beats[:, names.index("V3")], atol=1e-10)
    # without un-normalising, the reconstruction is wrong
    wrong = dower.reconstruct(beats[:, leads.indices(observed, names)], observed, ["V3"])
    assert np.abs(wrong[:, 0] - beats[:, names.index("V3")]).max() > 1e-2


def test_limb_leads_only_are_rank_deficient_but_goldberger_exact(vcg_beats):
    names, _, beats_mv = vcg_beats
    obs = ["aVL", "aVR"]
    rec = dower.reconstruct(beats_mv[:, leads.indices(obs, names)], obs, ["aVF", "V1"])
    np.testing.assert_allclose(rec[:, 0], beats_mv[:, names.index("aVF")], atol=1e-10)  # aVF = -(aVL + aVR)
    assert np.abs(rec[:, 1] - beats_mv[:, names.index("V1")]).max() > 1e-2  # Z is unobservable


def test_rejects_bad_scales(vcg_beats):
    names, _, beats_mv = vcg_beats
    scales = np.ones(beats_mv.shape[:2])
    scales[2, 4] = 0.0
    with pytest.raises(ValueError, match="beats \\[2\\]"):
        dower.reconstruct_normalised(beats_mv, scales, names, names[:-1], names[-1:])
