"""Lead names, lead order and the linear relations between ECG leads.

This is the only module that knows how leads relate to each other. Every other module names
leads by string and asks this one to convert between lead sets, so that no piece of code can
silently apply a coefficient to the wrong lead.

The 12 standard leads span an 8-dimensional space: two independent limb leads (we use I and II)
and the six precordial leads. The other limb leads follow from Einthoven's and Goldberger's laws::

    III = II - I            aVR = -(I + II) / 2
    aVL = I - II / 2        aVF = II - I / 2

Any lead is therefore a row vector in the basis ``BASIS = (I, II, V1, ..., V6)``; a set of
recorded leads determines another set exactly when the latter's rows lie in the row space of the
former's (:func:`derive`).

Dower's matrix maps a vectorcardiogram (X, Y, Z) to the leads I, II, V1-V6 (Macfarlane et al.,
*Comprehensive Electrocardiology*, ch. 11); through the basis it gives every lead's Dower row
(:func:`dower_matrix`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The 12 standard leads in their conventional order.
STANDARD_12: tuple[str, ...] = (
    "I",
    "II",
    "III",
    "aVR",
    "aVL",
    "aVF",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
)
LIMB: tuple[str, ...] = STANDARD_12[:6]
PRECORDIAL: tuple[str, ...] = STANDARD_12[6:]
#: The lead set of the beat paper (section 2.4): augmented limb leads then V1-V6.
PAPER_9: tuple[str, ...] = ("aVL", "aVR", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: Independent leads in which every lead is expressed.
BASIS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

_LIMB_ROWS: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}

#: Dower coefficients (X, Y, Z) for the independent leads.
DOWER_XYZ: dict[str, tuple[float, float, float]] = {
    "I": (0.632, -0.235, 0.059),
    "II": (0.235, 1.066, -0.132),
    "V1": (-0.515, 0.157, -0.917),
    "V2": (0.044, 0.164, -1.387),
    "V3": (0.882, 0.098, -1.277),
    "V4": (1.213, 0.127, -0.601),
    "V5": (1.125, 0.127, -0.086),
    "V6": (0.831, 0.076, 0.230),
}

_ALIASES = {name.upper(): name for name in STANDARD_12}
_ALIASES.update({"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"})
_ALIASES.update({"DI": "I", "DII": "II", "DIII": "III"})  # the notation of southern Europe and Brazil
#: Modified leads of ambulatory and monitoring recordings (MIT-BIH, QT database: ``MLII``, ``MV1``): electrodes
#: on the torso instead of the limbs (Mason-Likar placement), so the signal approximates the standard lead but
#: is not it. Only :func:`canonical` with ``modified=True`` accepts them.
MODIFIED: dict[str, str] = {
    "MLI": "I",
    "MLII": "II",
    "MLIII": "III",
    **{f"MV{k}": f"V{k}" for k in range(1, 7)},
}
#: Words that channel labels put around a lead name (EDF: ``ECG V1``, ``EKG II-REF``; exports: ``Lead I``).
_PREFIXES = ("ECG", "EKG", "LEAD")
_SUFFIXES = ("-REF", "-AVG", "-", "+")


class LeadError(ValueError):
    """A lead name is unknown, or the requested leads cannot be derived from the given ones."""


def _key(name: str) -> str:
    """Upper-case label with the surrounding words of :data:`_PREFIXES` / :data:`_SUFFIXES` removed."""
    key = str(name).strip().upper().replace("_", " ")
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            key = key[len(prefix) :].strip(" :.-")
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)].strip()
    return key.replace(" ", "")


def canonical(name: str, modified: bool = False) -> str:
    """Return the canonical spelling of a lead name (``'avl'`` -> ``'aVL'``, ``'v1'`` -> ``'V1'``).

    Channel labels are accepted with a case-insensitive ``ECG``/``EKG``/``Lead`` prefix and a ``-``, ``+``,
    ``-REF`` or ``-AVG`` suffix (``'ECG V1-'`` -> ``'V1'``), and in the notation ``DI``, ``DII``, ``DIII``. A
    leading ``-`` (an inverted lead, as in the Cabrera display's ``-aVR``) is never stripped: such a name is
    unknown. With ``modified=True`` the modified leads of :data:`MODIFIED` (``MLII`` -> ``II``) are accepted as
    approximations of the standard leads.
    """
    key = _key(name)
    if key in _ALIASES:
        return _ALIASES[key]
    if modified and key in MODIFIED:
        return MODIFIED[key]
    known = ", ".join(STANDARD_12) + (" (and the modified leads " + ", ".join(MODIFIED) + ")" if modified else "")
    raise LeadError(f"unknown lead name {name!r}; known leads: {known}")


def is_modified(name: str) -> bool:
    """Whether ``name`` is a modified lead of :data:`MODIFIED` (an approximation of a standard lead)."""
    return _key(name) in MODIFIED


def canonical_all(names: Sequence[str]) -> tuple[str, ...]:
    """Canonicalise a sequence of lead names, rejecting duplicates."""
    out = tuple(canonical(n) for n in names)
    if len(set(out)) != len(out):
        raise LeadError(f"duplicate lead in {list(names)}")
    return out


def lead_row(name: str) -> np.ndarray:
    """Coefficients of one lead in the basis :data:`BASIS` (length 8)."""
    name = canonical(name)
    row = np.zeros(len(BASIS))
    if name in _LIMB_ROWS:
        row[:2] = _LIMB_ROWS[name]
    else:
        row[BASIS.index(name)] = 1.0
    return row


def lead_matrix(names: Sequence[str]) -> np.ndarray:
    """Rows of :func:`lead_row` for each name: shape ``[len(names), 8]``."""
    return np.stack([lead_row(n) for n in names]) if len(names) else np.zeros((0, len(BASIS)))


def derivation_matrix(names_in: Sequence[str], names_out: Sequence[str], tol: float = 1e-9) -> np.ndarray:
    """Matrix ``T`` such that ``x_out = T @ x_in`` for signals whose rows are the leads ``names_in``.

    Raises :class:`LeadError` naming the leads that cannot be derived (for example V3 when no
    precordial lead V3 was recorded, or any limb lead from a single limb lead other than itself).
    """
    m_in = lead_matrix(canonical_all(names_in))
    m_out = lead_matrix(canonical_all(names_out))
    t = m_out @ np.linalg.pinv(m_in)
    residual = np.abs(t @ m_in - m_out).max(axis=1) if len(names_out) else np.zeros(0)
    missing = [n for n, r in zip(names_out, residual) if r > tol]
    if missing:
        raise LeadError(f"cannot derive {missing} from recorded leads {list(names_in)}")
    t[np.abs(t) < tol] = 0.0
    return t


def derivable(names_in: Sequence[str], name: str) -> bool:
    """Whether lead ``name`` is determined by the leads ``names_in`` (:func:`derivation_matrix` exists)."""
    try:
        derivation_matrix(names_in, [name])
        return True
    except LeadError:
        return False


def derive(signal: np.ndarray, names_in: Sequence[str], names_out: Sequence[str]) -> np.ndarray:
    """Convert ``signal[..., len(names_in), T]`` to the leads ``names_out`` (``[..., len(names_out), T]``)."""
    signal = np.asarray(signal)
    if signal.shape[-2] != len(names_in):
        raise LeadError(f"signal has {signal.shape[-2]} leads but {len(names_in)} names were given")
    t = derivation_matrix(names_in, names_out)
    return np.einsum("oi,...it->...ot", t, signal)


def dower_matrix(names: Sequence[str]) -> np.ndarray:
    """Dower rows ``[len(names), 3]``: lead = row @ (X, Y, Z), for any leads (derived ones included)."""
    d = np.array([DOWER_XYZ[b] for b in BASIS])  # [8, 3]
    return lead_matrix(canonical_all(names)) @ d


def indices(names: Sequence[str], within: Sequence[str]) -> list[int]:
    """Positions of ``names`` inside the lead order ``within`` (both canonicalised)."""
    within = canonical_all(within)
    out = []
    for n in canonical_all(names):
        if n not in within:
            raise LeadError(f"lead {n} is not in the lead set {list(within)}")
        out.append(within.index(n))
    return out
