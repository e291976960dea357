"""Linear observation operators ``y = A x + noise`` and their diagonal (spectral) form.

Two operators:

- :class:`Mask` observes a subset of the coordinates of ``x`` (leads, time spans); ``forward`` returns
  the observed entries in row-major order. Everything it does is indexing: no dense matrix is ever built.
- :class:`Linear` applies a dense matrix ``A [m, d]`` to ``x`` flattened row-major.

Every sampler works with the *diagonal form* of an observation ``(operator, y, sigma_y)``: an orthonormal
set of directions ``V [d, r]`` (the identity restricted to the observed coordinates for a mask) in which
the observation reads ``ybar_i = <V_i, x> + std_i * eps_i`` with independent standard normal ``eps``.
For a ``Linear`` operator it comes from the SVD of the noise-whitened matrix
``diag(1/sigma_y) A = U S V^T`` (``ybar = U^T (y / sigma_y) / s``, ``std = 1 / s``), or of ``A`` itself when
the noise is homoscedastic (``std = sigma_y / s``, which also allows ``sigma_y = 0``). The part of ``y``
outside the range of ``A`` carries no information on ``x`` and is dropped. This is MCGdiff's original SVD
formulation, and it also gives PGDM's, DDNM's and DiffPIR's closed-form linear algebra.

:class:`Observation` stacks the diagonal forms of ``P`` patients (one operator shared or one per patient)
into batched tensors so that a sampler treats all patients at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

Tensor = torch.Tensor
SigmaLike = float | Tensor

#: Singular values below ``RANK_RTOL * s_max`` are treated as zero (direction not observed).
RANK_RTOL = 1e-6


class Mask:
    """Observe the coordinates of ``x`` where ``mask`` is True (``mask`` has the shape of one ``x``)."""

    def __init__(self, mask: Tensor) -> None:
        mask = torch.as_tensor(mask)
        if mask.dtype != torch.bool:
            raise TypeError(f"Mask needs a bool tensor, got {mask.dtype}")
        if mask.ndim == 0:
            raise ValueError("Mask needs at least one dimension (the shape of one x)")
        if not bool(mask.any()):
            raise ValueError("Mask observes no coordinate")
        self.mask = mask
        self.x_shape: tuple[int, ...] = tuple(mask.shape)
        self.d = int(mask.numel())
        self.index = torch.nonzero(mask.reshape(-1), as_tuple=False).squeeze(1)
        self.m = int(self.index.numel())

    def __repr__(self) -> str:
        return f"Mask(x_shape={self.x_shape}, observed={self.m})"

    def to(self, device: torch.device | str) -> Mask:
        return self if self.mask.device == torch.device(device) else Mask(self.mask.to(device))

    def forward(self, x: Tensor) -> Tensor:
        """``[B, *x_shape] -> [B, m]``: the observed entries of each ``x`` in row-major order."""
        flat = x.reshape(x.shape[0], -1)
        return flat[:, self.index.to(x.device)]

    __call__ = forward

    def adjoint(self, v: Tensor) -> Tensor:
        """``[B, m] -> [B, *x_shape]``: scatter ``v`` into the observed positions, zeros elsewhere."""
        out = v.new_zeros(v.shape[0], self.d)
        out[:, self.index.to(v.device)] = v
        return out.reshape(v.shape[0], *self.x_shape)

    def pinv(self, v: Tensor) -> Tensor:
        """Pseudo-inverse ``A^+ v`` (equal to the adjoint: ``A A^T = I``)."""
        return self.adjoint(v)

    def groups(self, axis: int = 0) -> Tensor:
        """Group id ``[m]`` of each observed entry: one group per index along ``axis`` that has observations.

        With ``axis=0`` on a ``(leads, time)`` mask this is one group per observed lead, numbered in lead
        order, the parameter groups of per-lead noise estimation.
        """
        coords = torch.stack(torch.unravel_index(self.index, self.x_shape), dim=1)[:, axis]
        _, ids = torch.unique(coords, sorted=True, return_inverse=True)
        return ids

    def group_values(self, axis: int = 0) -> Tensor:
        """The index along ``axis`` (e.g. the lead row) of each group of :meth:`groups`."""
        coords = torch.stack(torch.unravel_index(self.index, self.x_shape), dim=1)[:, axis]
        return torch.unique(coords, sorted=True)


class Linear:
    """Observe ``A @ x.flatten()`` for a dense ``A [m, d]`` (``x_shape`` defaults to ``(d,)``)."""

    def __init__(self, A: Tensor, x_shape: Sequence[int] | None = None) -> None:
        A = torch.as_tensor(A)
        if A.ndim != 2:
            raise ValueError(f"Linear needs A of shape [m, d], got {tuple(A.shape)}")
        if not A.is_floating_point():
            A = A.to(torch.get_default_dtype())
        self.A = A
        self.m, self.d = int(A.shape[0]), int(A.shape[1])
        self.x_shape = tuple(int(s) for s in x_shape) if x_shape is not None else (self.d,)
        n = 1
        for s in self.x_shape:
            n *= s
        if n != self.d:
            raise ValueError(f"x_shape {self.x_shape} has {n} entries but A has {self.d} columns")
        self._svd_cache: dict[tuple, tuple[Tensor, Tensor, Tensor]] = {}

    def __repr__(self) -> str:
        return f"Linear(m={self.m}, x_shape={self.x_shape})"

    def to(self, device: torch.device | str) -> Linear:
        if self.A.device == torch.device(device):
            return self
        out = Linear(self.A.to(device), self.x_shape)
        return out

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        return flat @ self.A.to(device=x.device, dtype=x.dtype).T

    __call__ = forward

    def adjoint(self, v: Tensor) -> Tensor:
        return (v @ self.A.to(device=v.device, dtype=v.dtype)).reshape(v.shape[0], *self.x_shape)

    @cached_property
    def _pinv64(self) -> Tensor:
        return torch.linalg.pinv(self.A.double(), rtol=RANK_RTOL)

    def pinv(self, v: Tensor) -> Tensor:
        """Pseudo-inverse ``A^+ v`` (computed once in float64 and cached)."""
        P = self._pinv64.to(device=v.device, dtype=v.dtype)
        return (v @ P.T).reshape(v.shape[0], *self.x_shape)

    def svd(self, row_scale: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Reduced SVD ``(U [m, r], s [r], V [d, r])`` of ``diag(row_scale) A`` in float64, rank-truncated, cached."""
        key = None if row_scale is None else tuple(row_scale.double().cpu().tolist())
        if key in self._svd_cache:
            return self._svd_cache[key]
        A = self.A.double()
        if row_scale is not None:
            A = row_scale.double().to(A.device)[:, None] * A
        U, s, Vh = torch.linalg.svd(A, full_matrices=False)
        keep = s > RANK_RTOL * s.max() if s.numel() else s > 0
        out = (U[:, keep], s[keep], Vh[keep].T)
        if len(self._svd_cache) > 8:
            self._svd_cache.clear()
        self._svd_cache[key] = out
        return out


Operator = Mask | Linear


def sigma_vector(sigma_y: SigmaLike, m: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``sigma_y`` (float, 0-d or ``[m]``) as an ``[m]`` tensor, checked non-negative and finite."""
    s = torch.as_tensor(sigma_y, dtype=dtype, device=device)
    if s.ndim == 0:
        s = s.expand(m).clone()
    if s.shape != (m,):
        raise ValueError(f"sigma_y must be a float or an [m] = [{m}] tensor, got shape {tuple(s.shape)}")
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise ValueError("sigma_y must be finite and non-negative")
    return s


@dataclass
class Observation:
    """Diagonal form of ``P`` observations, batched.

    ``kind == "mask"``: directions are the coordinate axes; ``ybar``, ``std``, ``valid`` are ``[P, d]``
    (``valid`` marks observed coordinates; ``ybar``/``std`` are 0 elsewhere).
    ``kind == "spectral"``: directions ``V [P, d, r]`` (zero-padded to the largest rank); ``ybar``, ``std``,
    ``valid`` are ``[P, r]``.
    ``y``, ``sigma`` ``[P, m]`` are the observation as given, for samplers that use the operator directly
    (DPS, MGPS, the noise-level M-step), through :meth:`forward`.
    """

    kind: str
    x_shape: tuple[int, ...]
    ybar: Tensor
    std: Tensor
    valid: Tensor
    y: Tensor
    sigma: Tensor
    operators: list[Operator]
    V: Tensor | None = None
    index: Tensor | None = None  # [P, m] observed flat indices (mask kind)
    A: Tensor | None = None  # [P, m, d] (spectral kind)

    @property
    def P(self) -> int:
        return int(self.y.shape[0])

    @property
    def d(self) -> int:
        n = 1
        for s in self.x_shape:
            n *= s
        return n

    def coords(self, x: Tensor) -> Tensor:
        """``[P, B, d] -> [P, B, r]``: coordinates of ``x`` along the observed directions."""
        if self.kind == "mask":
            return x
        return torch.einsum("pbd,pdr->pbr", x, self.V)

    def embed(self, c: Tensor) -> Tensor:
        """``[P, B, r] -> [P, B, d]``: the vector with coordinates ``c`` along the observed directions."""
        if self.kind == "mask":
            return c
        return torch.einsum("pbr,pdr->pbd", c, self.V)

    def replace(self, x: Tensor, c: Tensor, where: Tensor) -> Tensor:
        """``x`` with its coordinates along the directions selected by ``where [P, 1|B, r]`` set to ``c``."""
        if self.kind == "mask":
            return torch.where(where, c, x)
        delta = torch.where(where, c - self.coords(x), torch.zeros_like(c))
        return x + self.embed(delta)

    def forward(self, x: Tensor) -> Tensor:
        """``[P, B, d] -> [P, B, m]``: ``A x`` of each patient's operator."""
        if self.kind == "mask":
            idx = self.index[:, None, :].expand(x.shape[0], x.shape[1], -1)
            return torch.gather(x, 2, idx)
        return torch.einsum("pbd,pmd->pbm", x, self.A)

    def residual_norm2(self, x: Tensor, whiten: bool = True) -> Tensor:
        """``[P, B]``: ``||(y - A x) / sigma||^2`` (or unweighted when ``whiten`` is False)."""
        r = self.y[:, None, :] - self.forward(x)
        if whiten:
            r = r / self.sigma[:, None, :]
        return (r * r).sum(-1)


def build_observation(
    operator: Operator | Sequence[Operator], y: Tensor, sigma_y: SigmaLike | Tensor, dtype: torch.dtype | None = None
) -> Observation:
    """Diagonal form of ``P`` observations ``y [P, m]`` with noise ``sigma_y`` (float, ``[P]``, ``[m]`` or ``[P, m]``;
    a 1-D ``sigma_y`` of length ``P`` is per patient, even when ``P == m``).

    ``operator`` is one operator shared by all patients or a sequence of ``P`` operators of the same kind,
    ``x_shape`` and ``m``. Tensors are placed on ``y``'s device in ``dtype`` (default ``y``'s dtype).
    """
    if y.ndim != 2:
        raise ValueError(f"ys must be [P, m], got shape {tuple(y.shape)}")
    device = y.device
    dtype = dtype or (y.dtype if y.is_floating_point() else torch.get_default_dtype())
    y = y.to(dtype)
    P, m = y.shape
    ops = list(operator) if isinstance(operator, (list, tuple)) else [operator] * P
    if len(ops) != P:
        raise ValueError(f"{len(ops)} operators for {P} observations")
    kinds = {type(op) for op in ops}
    if len(kinds) != 1:
        raise TypeError("all operators of a batch must be of the same kind (all Mask or all Linear)")
    x_shape = ops[0].x_shape
    for op in ops:
        if op.x_shape != x_shape or op.m != m:
            raise ValueError(f"operator {op!r} does not match x_shape {x_shape} and m = {m} of the batch")
    sig = _sigma_matrix(sigma_y, P, m, device, dtype)
    if isinstance(ops[0], Mask):
        return _mask_observation(ops, y, sig, x_shape)
    return _spectral_observation(ops, y, sig, x_shape)


def _sigma_matrix(sigma_y, P: int, m: int, device, dtype) -> Tensor:
    s = torch.as_tensor(sigma_y, dtype=dtype, device=device)
    if s.ndim == 0:
        s = s.expand(P, m)
    elif s.ndim == 1 and s.shape[0] == P:  # one std per patient (takes precedence when P == m)
        s = s[:, None].expand(P, m)
    elif s.ndim == 1 and s.shape[0] == m:  # one std per observed coordinate, shared by the patients
        s = s[None, :].expand(P, m)
    elif s.shape != (P, m):
        raise ValueError(f"sigma_y must be a float, [P]={P}, [m]={m} or [P, m], got shape {tuple(s.shape)}")
    s = s.clone()
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise ValueError("sigma_y must be finite and non-negative")
    return s


def _mask_observation(ops: list[Mask], y: Tensor, sig: Tensor, x_shape) -> Observation:
    P, m = y.shape
    device, dtype = y.device, y.dtype
    d = ops[0].d
    index = torch.stack([op.index.to(device) for op in ops])  # [P, m]
    valid = torch.zeros(P, d, dtype=torch.bool, device=device)
    valid.scatter_(1, index, True)
    ybar = torch.zeros(P, d, dtype=dtype, device=device).scatter_(1, index, y)
    std = torch.zeros(P, d, dtype=dtype, device=device).scatter_(1, index, sig)
    return Observation("mask", x_shape, ybar, std, valid, y, sig, list(ops), index=index)


def _spectral_observation(ops: list[Linear], y: Tensor, sig: Tensor, x_shape) -> Observation:
    P, m = y.shape
    device, dtype = y.device, y.dtype
    d = ops[0].d
    parts = []
    for p, op in enumerate(ops):
        s_p = sig[p].double().cpu()
        homo = bool((s_p == s_p[0]).all())
        if homo:
            U, s, V = op.svd()
            std = (s_p[0] / s).to(torch.float64)
            ybar = (U.T @ y[p].double().cpu().to(U.device)) / s
        else:
            if bool((s_p == 0).any()):
                raise ValueError(
                    f"patient {p}: heteroscedastic noise with some sigma_y = 0 is not supported "
                    "by the Linear operator (whitening needs sigma_y > 0)"
                )
            U, s, V = op.svd(row_scale=1.0 / s_p)
            std = 1.0 / s
            ybar = (U.T @ (y[p].double().cpu() / s_p).to(U.device)) / s
        parts.append((V.cpu(), ybar.cpu(), std.cpu()))
    r = max(v.shape[1] for v, _, _ in parts)
    Vb = torch.zeros(P, d, r, dtype=torch.float64)
    yb = torch.zeros(P, r, dtype=torch.float64)
    sb = torch.zeros(P, r, dtype=torch.float64)
    vb = torch.zeros(P, r, dtype=torch.bool)
    for p, (V, ybar, std) in enumerate(parts):
        k = V.shape[1]
        Vb[p, :, :k], yb[p, :k], sb[p, :k], vb[p, :k] = V, ybar, std, True
    A = torch.stack([op.A.to(device=device, dtype=dtype) for op in ops])
    return Observation(
        "spectral",
        x_shape,
        yb.to(device, dtype),
        sb.to(device, dtype),
        vb.to(device),
        y,
        sig,
        list(ops),
        V=Vb.to(device, dtype),
        A=A,
    )
