"""Missing-lead reconstruction of rhythms (ecgdiff.tasks.rhythm.mlr) on an exact Gaussian rhythm prior, and the
samplers on rhythm-shaped Gaussian-mixture problems with exact posteriors."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import scipy.stats
import torch
from rhythm_task_helpers import (
    Inputs,
    KroneckerRhythmPrior,
    exact_factory,
    make_rhythm_db,
    stub_classifier,
    tiny_ecgrecover,
)
from sklearn.metrics import average_precision_score
from test_inverse_samplers import TOL

from ecgdiff import leads, tables
from ecgdiff import rhythm_metrics as rm
from ecgdiff.baselines import dower, ecgrecover
from ecgdiff.inverse import get_sampler
from ecgdiff.inverse.verify import reference, rhythm_problems, score
from ecgdiff.tasks import registry
from ecgdiff.tasks import shards as shardlib
from ecgdiff.tasks.context import TaskContext
from ecgdiff.tasks.rhythm import mlr, mlr_figures
from ecgdiff.tasks.shards import concat

SECTION = {
    "n_patients": 6,
    "n_samples": 24,
    "sigma_y": 0.05,
    "settings": ["lead_I", "limb", "precordial"],
    "precordial_leads": ["V3"],
    "samplers": [],
    "baselines": ["ecgrecover", "dower"],
    "beat_prior": {"sampler": "mcgdiff", "options": {}, "n_samples": 2, "sigma": 0.05},
    "batch_patients": 2,
    "example_setting": "lead_I",
    "sample_aggregate": "median",
    "n_boot": 50,
    "level": 0.95,
}
OUTPUTS = {
    "table_csv": "rhythm_mlr.csv",
    "table_md": "rhythm_mlr.md",
    "figure_bbb": "fig_bbb",
    "figure_af": "fig_af",
    "figure_rmse": "fig_rmse",
}


def make_config(shards=2, inverse=None, **section):
    config = {
        "run": "unit",
        "label": "UNIT TEST - analytic Gaussian rhythm prior",
        "seed": 3,
        "device": "cpu",
        "rhythm_tasks": {
            "shards": shards,
            "threads": 1,
            "mem_mb": 4000,
            "runtime_min": 60,
            "sampler": "mgps",
            "max_batch_rows": 512,
            "rhythm_mlr": copy.deepcopy(SECTION) | section,
        },
        "inverse": {"mgps": {"steps": 4, "grad_steps": 2, "window_grad_steps": 2}} | (inverse or {}),
    }
    return config


def make_ctx(**kwargs) -> TaskContext:
    return TaskContext.from_params(mlr.TASK, registry.task_params(mlr.TASK, make_config(**kwargs)))


class Recording:
    """A provider that keeps what it returned (to recompute the shard's numbers by hand)."""

    def __init__(self, provider):
        self.provider = provider
        self.returned: list[tuple[np.ndarray, np.ndarray]] = []

    def sample(self, cond, y, obs, sigma, n_samples, generator):
        out = self.provider.sample(cond, y, obs, sigma, n_samples, generator)
        self.returned.append((y.copy(), out.copy()))
        return out


def run_task(db, ctx, factory, inputs, tmp_path, gather=True):
    paths = []
    for shard in range(ctx.run.shards):
        arrays = mlr.run_shard(db, ctx, factory, shard, inputs=inputs)
        path = tmp_path / f"shard_{shard}.npz"
        meta = {"task": mlr.TASK, "shard": shard, "n_shards": ctx.run.shards, "data_hash": db.data_hash}
        shardlib.save_shard(path, arrays, meta)
        paths.append(path)
    shards = shardlib.load_shards(paths)
    outs = {k: str(tmp_path / v) for k, v in OUTPUTS.items()}
    table = mlr.gather(db, shards, ctx, outs) if gather else None
    return table, shards, outs


@pytest.fixture(scope="module")
def prior():
    return KroneckerRhythmPrior()


@pytest.fixture(scope="module")
def db(prior):
    return make_rhythm_db(prior, {"train": 2, "cv": 1, "test": 8})


@pytest.fixture(scope="module")
def models():
    return stub_classifier(), tiny_ecgrecover()


@pytest.fixture(scope="module")
def task_run(prior, db, models, tmp_path_factory):
    """The whole task once (2 shards, exact posterior as "mgps", ECGrecover and Dower), then its gather."""
    tmp = tmp_path_factory.mktemp("mlr")
    ctx = make_ctx()
    factory, provider = exact_factory(prior)
    rec = Recording(provider)
    inputs = Inputs(classifier=models[0], ecgrecover=models[1])
    table, shards, outs = run_task(db, ctx, lambda name=None, **o: rec, inputs, tmp)
    return ctx, table, shards, outs, rec


def shard_order(db, ctx, shards):
    """Positions, in the shards' concatenation, of the task's rhythms in selection order."""
    x, meta = mlr.rhythms(db, ctx)
    where = {r: i for i, r in enumerate(concat(shards, "rhythm_id"))}
    return x.astype(np.float64), meta, np.array([where[r] for r in meta["rhythm_id"]])


# --------------------------------------------------------------------------- the exact prior of the tests
def test_exact_rhythm_posterior_draws_have_the_exact_mean(prior):
    rng = np.random.default_rng(1)
    x = prior.sample(1, rng)
    mask = np.zeros(prior.shape, dtype=bool)
    mask[leads.indices(["I", "II"], prior.leads), :1000] = True
    y = x[:, mask]
    mean = prior.posterior_mean(y, mask, 0.05)
    # dense reference on lead I's sub-problem is in the prior's own check; here: the Matheron draws average to it
    from ecgdiff.tasks.posterior import LinearObservation

    obs = LinearObservation.from_mask(mask)
    _, provider = exact_factory(prior)
    draws = provider.sample(None, y, obs, np.full((1, obs.m), 0.05), 400, torch.Generator().manual_seed(0))[0]
    sd = draws.std(axis=0)
    z = (draws.mean(axis=0) - mean[0]) / (sd / np.sqrt(400) + 1e-12)
    assert np.abs(z).mean() < 1.0 and np.quantile(np.abs(z), 0.99) < 4.0
    # observed entries are pinned within the likelihood std, the padding keeps the prior spread
    assert sd[mask].max() < 0.06 and sd[:, 1000:].mean() > 0.1


def test_exact_rhythm_posterior_mean_equals_dense_solution(prior):
    rng = np.random.default_rng(2)
    x = prior.sample(2, rng)
    mask = np.zeros(prior.shape, dtype=bool)
    mask[0, :1000] = True
    y = x[:, mask]
    s = prior.C[0, 0] * prior.K[:1000, :1000] + (prior.floor**2 + 0.05**2) * np.eye(1000)
    w = np.linalg.solve(s, (y - prior.mean[0, :1000]).T).T
    ref = prior.mean + np.einsum("l,tk,pk->plt", prior.C[:, 0], prior.K[:, :1000], w)
    ref[:, 0, :1000] += prior.floor**2 * w
    np.testing.assert_allclose(prior.posterior_mean(y, mask, 0.05), ref, atol=1e-10)


# --------------------------------------------------------------------------- settings, problems, registry
def test_registry_params_and_settings():
    spec = registry.get(mlr.TASK)
    assert spec.kind == "rhythm" and spec.section == "rhythm_tasks" and not spec.noise_estimation
    assert spec.inputs == ("classifier",) and spec.gather_inputs == ()
    assert spec.shard_inputs(SECTION) == ("classifier", "ecgrecover")
    assert set(spec.figures) == {"figure_bbb", "figure_af", "figure_rmse"}
    assert all(set(b.inputs) <= set(spec.shard_inputs({"baselines": [n]})) for n, b in mlr.BASELINES.items())
    ctx = make_ctx(samplers=["pgdm", "mgps"])
    assert mlr.samplers(ctx) == ["mgps", "pgdm"] and mlr.methods(ctx) == ["mgps", "pgdm", "ecgrecover", "dower"]
    assert set(ctx.samplers) == {"mgps", "pgdm"} and ctx.noise is None
    assert ctx.settings.settings == ("lead_I", "limb", "precordial") and ctx.settings.precordial_leads == ("V3",)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"settings": ["lead_II"]}, "unknown"),
        ({"sigma_y": 0.0}, "sigma_y"),
        ({"baselines": ["ecgrecover", "beatwise"]}, "baselines"),
        ({"example_setting": "without_V1"}, "example_setting"),
        ({"precordial_leads": ["aVR"]}, "precordial_leads"),
        ({"samplers": ["mgsp"]}, "samplers"),
        ({"sample_aggregate": "max"}, "sample_aggregate"),
        ({"n_samples": 0}, "n_samples"),
    ],
)
def test_settings_are_validated(change, match):
    with pytest.raises(ValueError, match=match):
        make_ctx(**change)


def test_settings_need_every_key():
    config = make_config()
    del config["rhythm_tasks"]["rhythm_mlr"]["sigma_y"]
    with pytest.raises(ValueError, match="missing keys \\['sigma_y'\\]"):
        TaskContext.from_params(mlr.TASK, registry.task_params(mlr.TASK, config))


def test_problems_observations_and_scored_leads():
    s = make_ctx(precordial_leads=["V1", "V6"]).settings
    probs = {p.key: p for p in mlr.problems(leads.BASIS, s)}
    assert list(probs) == ["lead_I", "limb", "without_V1", "without_V6"]
    assert probs["lead_I"].observed == ("I",) and probs["limb"].observed == ("I", "II")
    assert probs["without_V1"].withheld == ("V1",)
    n_scored = {"lead_I": 11, "limb": 6, "without_V1": 1, "without_V6": 1}
    for key, p in probs.items():
        np.testing.assert_array_equal(mlr.observed_12(leads.BASIS, p, 1000), ecgrecover.setting_mask(key))
        obs = mlr.observation(leads.BASIS, p, 1024, 1000)
        assert not obs.mask[:, 1000:].any() and obs.m == 1000 * len(p.observed)
        assert len(rm.scored_leads(rm.scored_mask(obs.mask, leads.BASIS, 1000))) == n_scored[key]


# --------------------------------------------------------------------------- the numbers under the exact posterior
def test_reconstruction_rmse_equals_the_exact_posterior_means(task_run, prior, db):
    ctx, _, shards, _, _ = task_run
    x, meta, pos = shard_order(db, ctx, shards)
    x[..., 1000:] = 0.0
    true12 = rm.expand(x)
    for prob in mlr.problems(db.leads, ctx.settings):
        obs = mlr.observation(db.leads, prob, 1024, 1000)
        scored = rm.scored_mask(obs.mask, db.leads, 1000)
        exact = prior.posterior_mean(x[:, obs.mask], obs.mask, 0.05)
        exact = np.where(obs.mask, x, exact)
        rmse_exact = np.array([rm.rmse_per_sample(t, e[None], scored)[0] for t, e in zip(true12, rm.expand(exact))])
        task = concat(shards, f"rmse_of_mean__{prob.key}__mgps")[pos]
        # |rmse(mean of n draws) - rmse(E[x|y])| <= rmse(mean of n draws - E[x|y]), about sqrt(var / n) over these
        # thousands of coordinates; var (the mean posterior variance) from the per-sample and the mean's errors
        var = concat(shards, f"rmse__{prob.key}__mgps")[pos] ** 2 - task**2
        tol = 1.5 * np.sqrt(var / ctx.settings.n_samples)
        assert np.all(np.abs(task - rmse_exact) < tol), (prob.key, task, rmse_exact, tol)
        if prob.key == ctx.settings.example_setting:  # the stored examples' means: the exact mean, coordinatewise
            for cls in ("BBB", "AF"):
                ex = mlr_figures.find_example(shards, cls)
                i = int(np.flatnonzero(meta["rhythm_id"].to_numpy() == ex["rhythm_id"])[0])
                ref = rm.expand(exact[i])[~ex["observed"]]
                z = (ex["mean"][~ex["observed"]] - ref) / (ex["std"][~ex["observed"]] / np.sqrt(ctx.settings.n_samples))
                assert np.abs(z).mean() < 1.0 and np.quantile(np.abs(z), 0.99) < 4.0, (cls, np.abs(z).mean())
        # a sample is farther from the truth than the mean of the samples (convexity of the norm)
        assert np.all(concat(shards, f"rmse__{prob.key}__mgps") >= concat(shards, f"rmse_of_mean__{prob.key}__mgps"))
        # the rhythms are prior draws: the exact posterior mean has a smaller mean squared error than Dower's
        assert (rmse_exact**2).mean() < (concat(shards, f"rmse__{prob.key}__dower") ** 2).mean()


def test_shard_metrics_equal_rhythm_metrics_by_hand(task_run, db, models):
    ctx, _, shards, _, rec = task_run
    clf = models[0]
    x, meta, pos = shard_order(db, ctx, shards)
    prob = next(p for p in mlr.problems(db.leads, ctx.settings) if p.key == "limb")
    obs = mlr.observation(db.leads, prob, 1024, 1000)
    # the recorded sampler call of this problem holding the task's first rhythm
    y0 = x[:1][:, obs.mask]
    (y, samples), row = next(
        ((ys, s), int(np.flatnonzero((ys == y0[0]).all(axis=1))[0]))
        for ys, s in rec.returned
        if ys.shape[1] == obs.m and (ys == y0[0]).all(axis=1).any()
    )
    smp = np.where(obs.mask, x[0], samples[row])[None]  # the observed leads are the observation
    ref = rm.reconstruction_scores(x[:1], smp, obs.mask, sequence="lead")
    i = pos[0]
    for k in ("rmse", "mae", "soft_dtw", "dtw"):
        assert concat(shards, f"{k}__limb__mgps")[i] == pytest.approx(ref[k].iloc[0], rel=1e-9), k
    np.testing.assert_allclose(
        concat(shards, "prob__limb__mgps")[i], clf.predict_posterior(smp, db.leads, how="median")[0], rtol=1e-6
    )
    np.testing.assert_allclose(concat(shards, "prob__truth")[i], clf.predict_proba(x[:1])[0], rtol=1e-6)
    # Dower, deterministic: one "sample", the withheld leads from the observed ones in mV
    d = np.array(x[:1])
    w = leads.indices(prob.withheld, db.leads)
    d[:, w] = dower.reconstruct(x[:1, leads.indices(prob.observed, db.leads)], prob.observed, prob.withheld)
    ref = rm.reconstruction_scores(x[:1], d[:, None], obs.mask, sequence="lead")
    for k in ("rmse", "mae", "soft_dtw", "dtw"):
        assert concat(shards, f"{k}__limb__dower")[i] == pytest.approx(ref[k].iloc[0], rel=1e-9), k
    # per-lead RMSE: NaN on the leads the observation determines, the lead's own RMSE elsewhere
    per_lead = concat(shards, "rmse_lead__limb__dower")[i]
    assert np.isnan(per_lead[:6]).all() and np.isfinite(per_lead[6:]).all()
    d12, x12 = rm.expand(d[0]), rm.expand(x[0])
    np.testing.assert_allclose(per_lead[6:], np.sqrt(((d12 - x12)[6:] ** 2).mean(axis=1)), rtol=1e-9)


def test_padding_never_affects_any_number(prior, db, models, tmp_path):
    ctx = make_ctx(settings=["limb", "precordial"], example_setting="limb", n_samples=4)
    inputs = Inputs(classifier=models[0], ecgrecover=models[1])
    noisy = copy.copy(db)
    noisy.rhythms = np.array(db.rhythms)
    noisy.rhythms[..., 1000:] = np.random.default_rng(0).normal(0, 5.0, noisy.rhythms[..., 1000:].shape)
    a = mlr.run_shard(db, ctx, exact_factory(prior)[0], 0, inputs=inputs)
    b = mlr.run_shard(noisy, ctx, exact_factory(prior)[0], 0, inputs=inputs)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_ecgrecover_never_sees_a_withheld_lead(prior, db, models, monkeypatch):
    seen = []
    real = ecgrecover.reconstruct

    def spy(model, x12, mask, **kw):
        seen.append((np.array(x12), np.array(mask)))
        return real(model, x12, mask, **kw)

    monkeypatch.setattr(mlr.ecgrecover, "reconstruct", spy)
    ctx = make_ctx(
        settings=["lead_I", "limb", "precordial"], precordial_leads=["V2"], n_samples=2, baselines=["ecgrecover"]
    )
    inputs = Inputs(classifier=models[0], ecgrecover=models[1])
    mlr.run_shard(db, ctx, exact_factory(prior)[0], 0, inputs=inputs)
    x, _ = shardlib.select(*mlr.rhythms(db, ctx), 0, ctx.run.shards)
    x12 = leads.derive(x[..., :1000], db.leads, leads.STANDARD_12)
    assert [tuple(np.flatnonzero(m)) for _, m in seen] == [
        tuple(np.flatnonzero(ecgrecover.setting_mask(k))) for k in ("lead_I", "limb", "without_V2")
    ]
    for inp, mask in seen:
        assert not inp[:, ~mask].any() and not inp[..., 1000:].any()
        np.testing.assert_allclose(inp[:, mask, :1000], x12[:, mask], atol=1e-5)
    # the withheld leads of the data replaced by noise: ECGrecover's input (hence its output) is the same
    changed = copy.copy(db)
    changed.rhythms = np.array(db.rhythms)
    v2 = db.leads.index("V2")
    changed.rhythms[:, v2] = np.random.default_rng(1).normal(0, 3.0, changed.rhythms[:, v2].shape)
    first = [inp for inp, _ in seen]
    seen.clear()
    mlr.run_shard(changed, ctx, exact_factory(prior)[0], 0, inputs=inputs)
    assert len(seen) == 3
    for inp, ref in zip((s[0] for s in seen), first):
        np.testing.assert_array_equal(inp, ref)


# --------------------------------------------------------------------------- gather: table, AUC-PR, figures
def test_table_layout_ground_truth_row_and_t_intervals(task_run, db):
    ctx, table, shards, outs, _ = task_run
    csv = tables.read_table(outs["table_csv"])
    keys = [p.key for p in mlr.problems(db.leads, ctx.settings)]
    assert csv["method"].iloc[0] == "ground_truth" and np.isnan(csv["rmse"].iloc[0])
    assert list(zip(csv["problem"][1:], csv["method"][1:])) == [(k, m) for k in keys for m in mlr.methods(ctx)]
    for _, row in csv.iloc[1:].iterrows():
        v = concat(shards, f"rmse__{row['problem']}__{row['method']}")
        low, high = scipy.stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=scipy.stats.sem(v))
        assert (row["rmse"], row["rmse_low"], row["rmse_high"]) == pytest.approx((v.mean(), low, high), rel=1e-9)
    # the talk's numbers beside ours only where the problem is the talk's
    talk = csv.set_index(["problem", "method"])
    assert talk.loc[("lead_I", "mgps"), "talk_rmse"] == 0.19 and talk.loc[("lead_I", "ecgrecover"), "talk_mae"] == 0.20
    assert talk.loc[("-", "ground_truth"), "talk_auc_AF"] == 0.98
    assert np.isnan(talk.loc[("limb", "mgps"), "talk_rmse"]) and np.isnan(talk.loc[("lead_I", "dower"), "talk_rmse"])
    md = open(outs["table_md"]).read()
    header = next(line for line in md.splitlines() if line.startswith("| Method"))
    for col in (
        "RMSE",
        "MAD",
        "DTW (authors')",
        "DTW (per lead)",
        "AUC-PR NSR",
        "AUC-PR BBB",
        "AUC-PR AF",
        "talk RMSE",
    ):
        assert f" {col} " in header
    assert "Ground truth" in md.splitlines()[md.splitlines().index(header) + 2]
    assert "±" in md and "sigma_y = 0.05" in md and "sequence='lead'" in md and "PTB-XL" in md
    assert tables.read_table_provenance(outs["table_csv"])["data_hash"] == db.data_hash


def test_auc_pr_equals_scikit_learn(task_run):
    ctx, _, shards, outs, _ = task_run
    csv = tables.read_table(outs["table_csv"]).set_index(["problem", "method"])
    y = concat(shards, "targets")
    for row, key in ((("-", "ground_truth"), "prob__truth"), (("lead_I", "ecgrecover"), "prob__lead_I__ecgrecover")):
        p = concat(shards, key)
        for c, name in enumerate(("NSR", "BBB", "AF")):
            assert csv.loc[row, f"auc_{name}"] == pytest.approx(average_precision_score(y[:, c], p[:, c]), rel=1e-12)
            assert csv.loc[row, f"auc_{name}_low"] <= csv.loc[row, f"auc_{name}"] + 1e-12
            assert csv.loc[row, f"auc_{name}_high"] >= csv.loc[row, f"auc_{name}"] - 1e-12


def test_figures_written_with_the_right_classes(task_run):
    ctx, _, shards, outs, _ = task_run
    for key in ("figure_bbb", "figure_af", "figure_rmse"):
        for ext in (".png", ".pdf"):
            assert open(outs[key] + ext, "rb").read(4) in (b"\x89PNG", b"%PDF")
    for cls in ("BBB", "AF"):
        ex = mlr_figures.find_example(shards, cls)
        rid = ex["rhythm_id"]
        labels = dict(zip(concat(shards, "rhythm_id"), concat(shards, "label")))
        assert labels[rid] == cls and ex["true"].shape == (12, 1000) and (ex["std"][1:] > 0).all()
        np.testing.assert_array_equal(ex["observed"], ecgrecover.setting_mask("lead_I"))


def test_missing_class_is_said_not_replaced(prior, models, tmp_path, caplog):
    db = make_rhythm_db(prior, {"train": 1, "test": 3}, labels={"test": ["NSR", "BBB", "other"]})
    ctx = make_ctx(settings=["precordial"], example_setting="without_V3", n_samples=3, shards=1)
    inputs = Inputs(classifier=models[0], ecgrecover=models[1])
    with caplog.at_level(logging.WARNING):
        run_task(db, ctx, exact_factory(prior)[0], inputs, tmp_path)
    assert any("no AF rhythm" in r.getMessage() and "has none" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "fig_af.png").stat().st_size > 0
    assert not any("no BBB" in r.getMessage() for r in caplog.records)


def test_empty_shard_and_its_gather(prior, models, tmp_path):
    db = make_rhythm_db(prior, {"train": 1, "test": 2})
    ctx = make_ctx(settings=["precordial"], example_setting="without_V3", n_samples=2, shards=3)
    factory, provider = exact_factory(prior)
    inputs = Inputs(classifier=models[0], ecgrecover=models[1])
    arrays = mlr.run_shard(db, ctx, factory, 2, inputs=inputs)  # 2 rhythms, 3 shards: shard 2 is empty
    assert len(arrays["rhythm_id"]) == 0 and arrays["rmse__without_V3__mgps"].shape == (0,)
    assert not provider.calls and not inputs.loads
    table, shards, _ = run_task(db, ctx, factory, inputs, tmp_path)
    assert (table["n_rhythms"] == 2).all() and len(table) == 1 + 3


def test_real_samplers_run_the_task_on_the_exact_denoiser(prior, db, models):
    """The production path: ctx.providers(prior) -> PosteriorSampler -> sample_batch on [P, 8, 1024] masks."""
    ctx = make_ctx(settings=["precordial"], example_setting="without_V3", n_samples=2, samplers=["pgdm"], shards=4)
    inputs = Inputs(classifier=models[0], ecgrecover=models[1])
    arrays = mlr.run_shard(db, ctx, ctx.providers(prior), 0, inputs=inputs)
    for m in ("mgps", "pgdm"):
        assert np.isfinite(arrays[f"rmse__without_V3__{m}"]).all()
        # informative: closer than the prior mean (exact posterior RMSE is a fraction of the prior's)
        assert (arrays[f"rmse_of_mean__without_V3__{m}"] < 0.5).all()


# --------------------------------------------------------------------------- samplers on rhythm-shaped problems
N = 300
#: Which problems each sampler is held to, with the tolerances of the beat tests (test_inverse_samplers.TOL,
#: docs/inverse.md: a few times the scores measured on beat-like problems). ``without_V3`` (one lead withheld)
#: is the beat tests' ``lead_missing``: every sampler. ``lead_I`` and ``limb`` (most leads inferred through the
#: prior) compare with the beat problem ``precordial_missing``, where only MGPS, PGDM and DDNM were close; on
#: these rhythm-shaped mixtures PGDM, DDNM and RED-diff score 0.1-0.9 there depending on the prior's seed (about
#: 0.2-1.0 on lead_I), so only MGPS is held to its beat tolerance on them (measured 0.02-0.09).
RHYTHM_CASES = [(name, "without_V3") for name in TOL] + [("mgps", "lead_I"), ("mgps", "limb")]


@pytest.fixture(scope="module")
def rhythm_refs():
    probs = rhythm_problems(seed=0)
    return probs, {k: reference(p, N, seed=0) for k, p in probs.items()}


@pytest.mark.parametrize(
    "name,key",
    [pytest.param(n, k, id=f"{n}-{k}", marks=[pytest.mark.slow] if n == "mgps" else []) for n, k in RHYTHM_CASES],
)
def test_sampler_keeps_its_beat_accuracy_on_rhythm_shaped_problems(rhythm_refs, name, key):
    probs, refs = rhythm_refs
    opts, _, tol_sw, tol_mean = TOL[name]
    p = probs[key]
    x = get_sampler(name, **opts).sample(
        p.prior, p.y, p.operator, p.sigma_y, N, generator=torch.Generator().manual_seed(1)
    )
    assert x.shape == (N, 8, 32) and torch.isfinite(x).all()
    s = score(x, refs[key])
    assert s["sw_excess"] < tol_sw and s["mean_rel"] < tol_mean, s


def test_rhythm_problems_observe_no_padding_and_prior_draws_fail(rhythm_refs):
    probs, refs = rhythm_refs
    for key, p in probs.items():
        assert not p.operator.mask[:, 30:].any()
        s = score(p.prior.sample(N, torch.Generator().manual_seed(5)), refs[key])
        assert s["sw_excess"] > max(t[2] for t in TOL.values()) and s["mean_rel"] > max(t[3] for t in TOL.values())
