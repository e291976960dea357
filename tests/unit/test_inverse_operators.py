"""Observation operators and their diagonal form, checked against dense linear algebra."""

import pytest
import torch

from ecgdiff.inverse.gmm import operator_matrix
from ecgdiff.inverse.operators import Linear, Mask, build_observation


def _mask():
    m = torch.zeros(3, 5, dtype=torch.bool)
    m[0] = True
    m[2, 1:4] = True
    return m


def test_mask_forward_adjoint_groups():
    op = Mask(_mask())
    x = torch.arange(30.0).reshape(2, 3, 5)
    y = op.forward(x)
    assert y.shape == (2, 8)
    assert torch.equal(y[0], torch.tensor([0.0, 1, 2, 3, 4, 11, 12, 13]))
    back = op.adjoint(y)
    assert torch.equal(back[_mask().expand(2, 3, 5)], x[_mask().expand(2, 3, 5)])
    assert float(back[:, 1].abs().sum()) == 0.0
    assert op.groups(0).tolist() == [0] * 5 + [1] * 3
    assert op.group_values(0).tolist() == [0, 2]
    A = operator_matrix(op)
    assert torch.allclose(A @ x.reshape(2, -1).double().T, y.double().T)


def test_mask_rejects_bad_input():
    with pytest.raises(TypeError):
        Mask(torch.ones(3, 4))
    with pytest.raises(ValueError):
        Mask(torch.zeros(3, 4, dtype=torch.bool))


def test_linear_forward_adjoint_pinv():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 6, generator=g, dtype=torch.float64)
    op = Linear(A, x_shape=(2, 3))
    x = torch.randn(5, 2, 3, generator=g, dtype=torch.float64)
    v = torch.randn(5, 4, generator=g, dtype=torch.float64)
    assert torch.allclose(op.forward(x), x.reshape(5, -1) @ A.T)
    # <A x, v> = <x, A^T v>
    assert torch.allclose((op.forward(x) * v).sum(), (x * op.adjoint(v)).sum())
    assert torch.allclose(op.pinv(v).reshape(5, -1), v @ torch.linalg.pinv(A).T)
    with pytest.raises(ValueError):
        Linear(A, x_shape=(4, 2))


@pytest.mark.parametrize("hetero", [False, True])
def test_spectral_form_reproduces_the_likelihood(hetero):
    """sum_c ((coords(x) - ybar) / std)^2 equals ||(y - A x)/sigma||^2 up to a constant in x."""
    g = torch.Generator().manual_seed(1)
    A = torch.randn(3, 6, generator=g, dtype=torch.float64)
    op = Linear(A)
    y = torch.randn(1, 3, generator=g, dtype=torch.float64)
    sig = torch.tensor([[0.1, 0.3, 0.2]], dtype=torch.float64) if hetero else 0.2
    obs = build_observation(op, y, sig)
    assert obs.kind == "spectral" and obs.V.shape == (1, 6, 3)
    xs = torch.randn(1, 4, 6, generator=g, dtype=torch.float64)
    exact = obs.residual_norm2(xs)
    diag = (((obs.coords(xs) - obs.ybar[:, None]) / obs.std[:, None]) ** 2).sum(-1)
    diff = exact - diag
    assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-8)
    # directions are orthonormal
    V = obs.V[0]
    assert torch.allclose(V.T @ V, torch.eye(3, dtype=torch.float64), atol=1e-10)


def test_mask_batch_of_different_masks():
    m1, m2 = _mask(), _mask().flip(0)
    y = torch.randn(2, 8)
    obs = build_observation([Mask(m1), Mask(m2)], y, torch.tensor([0.1, 0.2]))
    assert obs.kind == "mask"
    assert torch.equal(obs.valid[0], m1.reshape(-1)) and torch.equal(obs.valid[1], m2.reshape(-1))
    assert torch.allclose(obs.std[1][obs.valid[1]], torch.full((8,), 0.2))
    x = torch.randn(2, 4, 15)
    assert torch.equal(obs.forward(x)[1], x[1][:, m2.reshape(-1)])
    with pytest.raises(ValueError):
        build_observation([Mask(m1), Mask(m2)], y, torch.tensor([0.1, -0.2]))
