"""Missing-lead reconstruction with Dower's matrix (paper 3.3.2; Macfarlane et al., ch. 11).

Every lead is (approximately) a fixed linear function of the vectorcardiogram: ``lead = d_lead @ (X, Y, Z)``
with the Dower rows of :func:`ecgdiff.leads.dower_matrix`. Given some observed leads ``S`` (millivolts),
the vectorcardiogram is estimated by least squares, ``XYZ = pinv(D_S) @ x_S``, and any other lead is
``d_target @ XYZ``. When the observed leads span fewer than three dimensions (the limb leads alone span
two, a single lead one) the system is under-determined and the pseudo-inverse gives its minimum-norm
solution: the baseline then has no information about the missing directions, which is the point of
those settings.

Beat databases store beats normalised per lead by their QRS maximum absolute value
(``x_norm[l] = x_mV[l] / s_l``). :func:`reconstruct_normalised` un-normalises the observed leads with
their stored scale factors, applies Dower in millivolts, and divides the reconstructed lead by the
target lead's stored scale factor, so that the result is in the same units as the normalised target
beat. Because R^2 is invariant to multiplying both the target and the reconstruction by the same
positive number, R^2 computed on these normalised arrays equals R^2 computed in millivolts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import leads as leadlib


def reconstruction_matrix(observed: Sequence[str], target: Sequence[str]) -> np.ndarray:
    """Matrix ``R [len(target), len(observed)]`` with ``x_target ≈ R @ x_observed`` (millivolts)."""
    d_obs = leadlib.dower_matrix(observed)  # [S, 3]
    d_tgt = leadlib.dower_matrix(target)  # [K, 3]
    return d_tgt @ np.linalg.pinv(d_obs)


def vectorcardiogram(x_observed: np.ndarray, observed: Sequence[str]) -> np.ndarray:
    """Least-squares (minimum-norm) ``XYZ [..., 3, T]`` from ``x_observed [..., S, T]`` in millivolts."""
    return np.einsum("ks,...st->...kt", np.linalg.pinv(leadlib.dower_matrix(observed)), np.asarray(x_observed))


def reconstruct(x_observed: np.ndarray, observed: Sequence[str], target: Sequence[str]) -> np.ndarray:
    """Reconstruct leads ``target`` (``[..., K, T]``) from ``x_observed [..., S, T]``, both in millivolts."""
    x_observed = np.asarray(x_observed, dtype=np.float64)
    if x_observed.shape[-2] != len(observed):
        raise ValueError(f"dower.reconstruct: {x_observed.shape[-2]} observed rows but {len(observed)} lead names")
    return np.einsum("ks,...st->...kt", reconstruction_matrix(observed, target), x_observed)


def reconstruct_normalised(
    beats: np.ndarray, scales: np.ndarray, beat_leads: Sequence[str], observed: Sequence[str], target: Sequence[str]
) -> np.ndarray:
    """Dower reconstruction on per-lead normalised beats.

    Args:
        beats: ``[N, L, T]`` normalised beats in the lead order ``beat_leads``.
        scales: ``[N, L]`` per-lead scale factors (millivolts per normalised unit; ``x_mV = x * scale``).
        beat_leads: lead names of the rows of ``beats``.
        observed: leads (within ``beat_leads``) the reconstruction may use.
        target: leads (within ``beat_leads``) to reconstruct.

    Returns:
        ``[N, len(target), T]`` reconstructions divided by each target lead's own scale factor.
    """
    beats = np.asarray(beats, dtype=np.float64)
    scales = np.asarray(scales, dtype=np.float64)
    if scales.shape != beats.shape[:2]:
        raise ValueError(f"scales {scales.shape} do not match beats {beats.shape[:2]}")
    if np.any(~np.isfinite(scales)) or np.any(scales <= 0):
        bad = np.unique(np.nonzero(~(scales > 0))[0])
        raise ValueError(f"non-positive or missing scale factors for beats {bad[:10].tolist()}")
    i_obs = leadlib.indices(observed, beat_leads)
    i_tgt = leadlib.indices(target, beat_leads)
    x_obs_mv = beats[:, i_obs] * scales[:, i_obs, None]
    rec_mv = reconstruct(x_obs_mv, observed, target)
    return rec_mv / scales[:, i_tgt, None]
