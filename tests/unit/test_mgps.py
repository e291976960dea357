"""MGPS's schedule of gradient steps, its midpoint rules, its denoiser calls and its options."""

import math

import pytest
import torch

from ecgdiff.inverse import Mask, get_sampler
from ecgdiff.inverse.gmm import random_beatlike_gmm
from ecgdiff.inverse.mgps import MGPS, grad_step_schedule, midpoint_level


def _authors_grad_steps(n_steps: int) -> list[int]:
    """The authors' ``grad_steps_fn`` (configs/algo/mgps.yaml): the first matching condition wins, evaluated for
    their loop index ``i = n_steps - 1 .. 2`` (noisiest first)."""
    rules = [("i <= 20", 5), ("i >= n_steps - 10", 10), ("i % 20 == 0", 5), ("True", 5)]
    out = []
    for i in range(n_steps - 1, 1, -1):
        out.append(next(r for cond, r in rules if eval(cond, {"i": i, "n_steps": n_steps})))
    return out


def test_schedule_gives_the_authors_counts():
    theirs = _authors_grad_steps(50)  # 48 steps: 10 in the first (noisiest) 10, 5 elsewhere
    assert theirs == [10] * 10 + [5] * 38
    assert grad_step_schedule(len(theirs), 5, 10, 10, "first") == theirs
    assert MGPS(window="first").schedule() == [10] * 10 + [5] * 39  # 50 levels: 49 steps
    assert MGPS().schedule() == [5] * 39 + [10] * 10  # the default window is the clean end (measured better)
    assert grad_step_schedule(8, 5, 10, 3, "last") == [5] * 5 + [10] * 3
    assert grad_step_schedule(3, 1, 4, 10, "first") == [4, 4, 4]  # a window longer than the chain
    assert grad_step_schedule(4, 2, 9, 0, "first") == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="window"):
        grad_step_schedule(4, 2, 9, 1, "middle")


def _authors_grid():
    """VE levels of the authors' 50-step DDPM grid (``linspace(0, 999, 50).long()``, linear betas 1e-4..0.02,
    ``alphas_cumprod`` with 1 prepended), increasing with ``t[0] = 0``."""
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    acp = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])
    steps = torch.linspace(0, 999, 50).long()
    level = lambda ts: math.sqrt(1 / float(acp[ts]) - 1)  # noqa: E731
    return [0.0] + [level(int(s)) for s in steps[1:]], level


def test_ddpm_current_midpoint_reproduces_the_authors_first_midpoint():
    t, level = _authors_grid()
    i = len(t) - 1
    assert t[i] == pytest.approx(155.8, abs=0.1) and t[i - 1] == pytest.approx(126.3, abs=0.1)
    theirs = level(int(0.5 * 999))  # their t_mid = int(alpha * t) on the first step: 3.405
    assert theirs == pytest.approx(3.405, abs=1e-3)
    ours = midpoint_level("ddpm_current", 0.5, t, i)
    assert ours == pytest.approx(theirs, rel=0.02)  # the continuous DDPM clock of ddpm_time / ddpm_sigma
    # the other rules halve the target: its level (edm), or its DDPM time (ddpm)
    assert midpoint_level("edm", 0.5, t, i) == pytest.approx(0.5 * t[i - 1])
    assert midpoint_level("ddpm", 0.5, t, i) < ours
    # the midpoint never passes the target, nor goes below the smallest level
    assert midpoint_level("ddpm_current", 0.5, t, 2) == t[1]
    assert all(
        t[1] <= midpoint_level(r, 0.5, t, j) <= t[j - 1] for r in ("edm", "ddpm", "ddpm_current") for j in (2, 9, 49)
    )


class Counting:
    """A denoiser that records every call's noise level and input."""

    def __init__(self, den):
        self.den, self.calls = den, []

    def __call__(self, x, sigma):
        self.calls.append((float(sigma[0]), x.detach().clone()))
        return self.den(x, sigma)


def _problem():
    g = torch.Generator().manual_seed(0)
    prior = random_beatlike_gmm((2, 6), n_components=2, rank=2, generator=g)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0] = True
    op = Mask(mask)
    return prior, op, op.forward(prior.sample(1, g).float())[0]


@pytest.mark.parametrize(
    "opts,per_step",
    [
        ({"prior_transition": "score"}, 1),
        ({"prior_transition": "score", "warm_start": False}, 1),
        ({"prior_transition": "gaussian", "warm_start": False}, 1),
        ({"prior_transition": "gaussian", "warm_start": True}, 2),  # the current state's and the midpoint's
    ],
)
def test_denoiser_calls_per_step(opts, per_step):
    prior, op, y = _problem()
    s = get_sampler("mgps", steps=7, grad_steps=2, window_grad_steps=3, window_size=2, window="first", **opts)
    den = Counting(prior)
    s.sample(den, y, op, 0.1, 4, generator=torch.Generator().manual_seed(1))
    counts = s.schedule()
    assert counts == [3, 3, 2, 2, 2, 2]
    expected = sum(per_step + g for g in counts) + (1 if per_step == 1 else 0)  # + the initial denoising
    assert len(den.calls) == s.last_calls == expected


def test_no_state_is_denoised_twice():
    """Where the midpoint is the target (the state is the midpoint draw), its denoising is reused for the next
    step's prior mean: with the DDPM clock of the current level this happens on the low-noise steps."""
    prior, op, y = _problem()
    s = get_sampler(
        "mgps", steps=12, grad_steps=1, window_grad_steps=1, midpoint_rule="ddpm_current", prior_transition="gaussian"
    )
    den = Counting(prior)
    s.sample(den, y, op, 0.1, 3, generator=torch.Generator().manual_seed(1))
    assert len(den.calls) < sum(2 + g for g in s.schedule())  # some steps made 1 + g calls
    seen = set()
    for sigma, x in den.calls:
        key = (sigma, tuple(x.flatten().tolist()))
        assert key not in seen
        seen.add(key)


def test_ddim_warm_start():
    prior, op, y = _problem()
    base = get_sampler("mgps", steps=6, grad_steps=1, window_grad_steps=1, prior_transition="score")
    warm = get_sampler("mgps", steps=6, grad_steps=1, window_grad_steps=1, prior_transition="score", ddim_init_steps=5)
    a = base.sample(prior, y, op, 0.1, 4, generator=torch.Generator().manual_seed(1))
    b = warm.sample(prior, y, op, 0.1, 4, generator=torch.Generator().manual_seed(1))
    assert warm.last_calls == base.last_calls - 1 + 5  # 4 DDIM steps and the midpoint's denoising replace D(x_K)
    assert torch.isfinite(b).all() and not torch.equal(a, b)
    with pytest.raises(ValueError, match="warm_start"):
        get_sampler("mgps", ddim_init_steps=10, warm_start=False)


def test_option_checks():
    with pytest.raises(TypeError, match="grad_steps_final"):  # the old name is gone: one name per option
        get_sampler("mgps", grad_steps_final=3)
    for key, bad in [("window", "middle"), ("prior_transition", "exact"), ("midpoint_rule", "current")]:
        with pytest.raises(ValueError, match=key):
            get_sampler("mgps", **{key: bad})
