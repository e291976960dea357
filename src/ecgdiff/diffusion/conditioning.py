"""The conditioning vector of the beat prior: the ONE place that encodes (age, sex, RR) (paper section 2.5).

A patient's beat is generated given ``(A, S, RR)``; the network sees the vector::

    [1{S = M}, 1{S = F}, (A - 50) / 50, (RR - 400) / 400]          (COND_DIM = 4)

(sex one-hot in the order :data:`SEX_ORDER`, age in years, RR in milliseconds). Training, generation,
the prior's evaluation (where the same vector is the feature part of the EMD cost) and every
downstream task call :func:`encode` or :func:`encode_meta`, so the encoding cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

#: Order of the sex one-hot columns.
SEX_ORDER: tuple[str, str] = ("M", "F")
AGE_CENTER: float = 50.0
AGE_SCALE: float = 50.0
RR_CENTER_MS: float = 400.0
RR_SCALE_MS: float = 400.0
#: Length of the conditioning vector.
COND_DIM: int = 4
#: Names of the conditioning vector's entries.
FEATURE_NAMES: tuple[str, ...] = ("sex_M", "sex_F", "age_norm", "rr_norm")

_SEX_ALIASES = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F"}


def _sex_codes(sex: Sequence[str] | np.ndarray | pd.Series, ids: Sequence[str] | None = None) -> np.ndarray:
    out = np.empty(len(sex), dtype=np.int64)
    for i, s in enumerate(sex):
        key = str(s).strip().upper()
        if key not in _SEX_ALIASES:
            who = f" (patient {ids[i]})" if ids is not None else f" (row {i})"
            raise ValueError(f"unknown sex {s!r}{who}: expected one of M, F")
        out[i] = SEX_ORDER.index(_SEX_ALIASES[key])
    return out


def encode(
    age: Sequence[float] | np.ndarray,
    sex: Sequence[str] | np.ndarray,
    rr_ms: Sequence[float] | np.ndarray,
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Conditioning vectors ``float32 [N, COND_DIM]`` of ``N`` beats (age in years, sex 'M'/'F', RR in ms).

    Raises ``ValueError`` naming the row (or patient, when ``ids`` is given) whose age or RR is missing
    or not finite, or whose sex is unknown.
    """
    age = np.asarray(age, dtype=np.float64)
    rr = np.asarray(rr_ms, dtype=np.float64)
    if not (len(age) == len(sex) == len(rr)):
        raise ValueError(f"age, sex and rr_ms differ in length: {len(age)}, {len(sex)}, {len(rr)}")
    for name, values in (("age", age), ("rr_ms", rr)):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            i = int(bad[0])
            who = f"patient {ids[i]}" if ids is not None else f"row {i}"
            raise ValueError(f"{name} missing or not finite for {who} ({len(bad)} rows in all)")
    out = np.zeros((len(age), COND_DIM), dtype=np.float32)
    out[np.arange(len(age)), _sex_codes(sex, ids)] = 1.0
    out[:, 2] = (age - AGE_CENTER) / AGE_SCALE
    out[:, 3] = (rr - RR_CENTER_MS) / RR_SCALE_MS
    return out


def encode_meta(meta: pd.DataFrame) -> np.ndarray:
    """Conditioning vectors of the rows of a beat-metadata table (columns ``age``, ``sex``, ``rr_ms``)."""
    ids = meta["patient_id"].astype(str).tolist() if "patient_id" in meta.columns else None
    return encode(meta["age"].to_numpy(), meta["sex"].to_numpy(), meta["rr_ms"].to_numpy(), ids=ids)


def decode(cond: np.ndarray | torch.Tensor) -> pd.DataFrame:
    """Inverse of :func:`encode`: a table with columns ``age``, ``sex``, ``rr_ms``."""
    c = cond.detach().cpu().numpy() if isinstance(cond, torch.Tensor) else np.asarray(cond)
    c = np.atleast_2d(c)
    if c.shape[1] != COND_DIM:
        raise ValueError(f"conditioning vectors have {c.shape[1]} entries, expected {COND_DIM}")
    sex = np.where(c[:, 0] >= c[:, 1], SEX_ORDER[0], SEX_ORDER[1])
    return pd.DataFrame(
        {"age": c[:, 2] * AGE_SCALE + AGE_CENTER, "sex": sex, "rr_ms": c[:, 3] * RR_SCALE_MS + RR_CENTER_MS}
    )
