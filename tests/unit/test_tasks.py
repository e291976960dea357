"""Each task's core functions on an analytic Gaussian prior whose posterior is exact."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from task_helpers import ExactPosterior, GaussianBeatPrior, exact_factory, make_db, qt_beat_mean

from ecgdiff import leads, metrics, tables
from ecgdiff.baselines import dower
from ecgdiff.diffusion import conditioning
from ecgdiff.tasks import shards as shardlib
from ecgdiff.tasks.beat import anomaly, denoising, missing_leads, particles, qt_rr
from ecgdiff.tasks.context import TaskContext
from ecgdiff.tasks.posterior import LinearObservation, lead_time_mask
from ecgdiff.tasks.registry import task_params
from ecgdiff.tasks.shards import concat

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def make_config(shards=2, inverse=None, noise_estimation=None, **sections):
    """The default configuration (config/config.yaml) with the tasks' sections updated by ``sections``."""
    config = copy.deepcopy(DEFAULTS)
    config.update(run="unit", label="UNIT TEST - analytic Gaussian prior", seed=3, device="cpu")
    config["tasks"]["shards"] = shards
    for task, section in sections.items():
        config["tasks"][task].update(section)
    for name, opts in (inverse or {}).items():
        config["inverse"][name] = dict(opts)
    config["noise_estimation"].update(noise_estimation or {})
    return config


def make_ctx(task, **kwargs):
    """The task's context, as its jobs resolve it from their params."""
    return TaskContext.from_params(task, task_params(task, make_config(**kwargs)))


def run_task(module, db, ctx, factory, tmp_path, outputs):
    paths = []
    for shard in range(ctx.run.shards):
        arrays = module.run_shard(db, ctx, factory, shard)
        path = tmp_path / f"shard_{shard}.npz"
        shardlib.save_shard(
            path, arrays, {"task": module.TASK, "shard": shard, "n_shards": ctx.run.shards, "data_hash": db.data_hash}
        )
        paths.append(path)
    shards = shardlib.load_shards(paths)
    outs = {k: str(tmp_path / v) for k, v in outputs.items()}
    result = module.gather(db, shards, ctx, outs)
    return result, shards, outs


def check_outputs(outs):
    for key, path in outs.items():
        if key.startswith("table"):
            assert (tmp := __import__("pathlib").Path(path)).exists() and tmp.stat().st_size > 0
            if key == "table_csv":
                assert tables.read_table_provenance(path)["data_hash"]
        else:
            for ext in (".png", ".pdf"):
                assert __import__("pathlib").Path(path + ext).stat().st_size > 0


# --------------------------------------------------------------------------- shared pieces
def test_shard_items_partition():
    parts = [shardlib.shard_items(10, s, 3) for s in range(3)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    with pytest.raises(ValueError):
        shardlib.shard_items(10, 3, 3)


def test_shard_roundtrip_and_checks(tmp_path):
    shardlib.save_shard(
        tmp_path / "a.npz",
        {"x": np.arange(3), "s": np.array(["p1", "p2", "p3"])},
        {"task": "denoising", "n_shards": 1, "data_hash": "h"},
    )
    (sh,) = shardlib.load_shards([tmp_path / "a.npz"])
    assert sh.arrays["s"].tolist() == ["p1", "p2", "p3"]
    shardlib.check_shards([sh], "denoising", "h")
    with pytest.raises(ValueError, match="computed from data"):
        shardlib.check_shards([sh], "denoising", "other")
    with pytest.raises(ValueError, match="task"):
        shardlib.check_shards([sh], "anomaly", "h")


def test_mask_observation_groups_per_lead():
    mask = lead_time_mask(leads.PAPER_9, ["aVF", "V2"], 10, slice(0, 4))
    obs = LinearObservation.from_mask(mask)
    assert obs.m == 8 and obs.n_groups == 2
    x = np.arange(2 * 9 * 10, dtype=float).reshape(2, 9, 10)
    np.testing.assert_array_equal(obs.apply(x)[1], np.r_[x[1, 2, :4], x[1, 4, :4]])
    np.testing.assert_array_equal(obs.dense() @ x[1].ravel(), obs.apply(x)[1])


def test_lead_i_observation_is_lead_i_in_millivolts():
    rng = np.random.default_rng(0)
    names = leads.PAPER_9
    basis = rng.normal(size=(3, 8, 20))  # I, II, V1..V6 in mV
    mv = np.einsum("lb,pbt->plt", leads.lead_matrix(names), basis)
    scales = rng.uniform(0.5, 2, size=(3, 9))
    x = mv / scales[:, :, None]
    i_mv = missing_leads.lead_i_millivolts(x, scales, names)
    np.testing.assert_allclose(i_mv, basis[:, 0], atol=1e-12)
    i_max = np.abs(i_mv).max(axis=1)
    obs = missing_leads.lead_i_observation(missing_leads.lead_i_weights(scales, i_max, names), 20)
    np.testing.assert_allclose(obs.apply(x), basis[:, 0] / i_max[:, None], atol=1e-12)


# --------------------------------------------------------------------------- denoising
class OracleNoise(ExactPosterior):
    """Exact posterior given the true noise levels (replayed from the task's own seeded draw)."""

    def __init__(self, prior, db, ctx):
        super().__init__(prior)
        beats, meta = denoising.patients(db, ctx)
        n = ctx.run.shards
        self.truth = {}
        for shard in range(n):
            idx = shardlib.shard_items(len(meta), shard, n)
            rng = np.random.default_rng(shardlib.shard_seed(ctx.run.seed, "denoising", shard))
            y, sigma = denoising.simulate_observation(beats[idx].astype(np.float64), 0.2, rng)
            for row, s in zip(y, sigma):
                self.truth[row.tobytes()] = s

    def estimate_sigma(self, cond, y, obs, generator):
        return np.stack([self.truth[row.tobytes()] for row in y.reshape(len(y), 9, -1)])


@pytest.mark.slow
def test_denoising_is_calibrated_under_the_exact_posterior(tmp_path):
    prior = GaussianBeatPrior(length=24)
    db = make_db(tmp_path / "db", prior, {"train": 3, "test": 8, "mi": 2})
    ctx = make_ctx(
        "denoising", denoising={"n_patients": 8, "n_samples": 300, "covariance": "empirical", "n_examples": 1}
    )
    oracle = OracleNoise(prior, db, ctx)
    table, shards, outs = run_task(
        denoising,
        db,
        ctx,
        lambda name=None, **o: oracle,
        tmp_path,
        {"table_csv": "t.csv", "table_md": "t.md", "figure": "fig"},
    )
    check_outputs(outs)
    assert len(concat(shards, "patient_id")) == 8
    np.testing.assert_array_equal(concat(shards, "sigma_hat"), concat(shards, "sigma_true"))
    # the true beat is a draw from the exact posterior, so d^2 ~ chi2(T), inflated by (n-1)/(n-T-2)
    # because the covariance is estimated from n samples
    T, n = 24, 300
    d2 = concat(shards, "maha_sq") * metrics.chi2_quantile(T)
    assert d2.mean() == pytest.approx(T * (n - 1) / (n - T - 2), rel=0.1)
    # the paper's statistic is the distance itself over the same quantile
    np.testing.assert_allclose(concat(shards, "maha") ** 2 * metrics.chi2_quantile(T) ** 2, d2, rtol=1e-9)
    row = table.set_index("metric")
    assert row.loc["noise level: mean absolute error over leads", "mean"] == 0
    assert row.loc["RMSE posterior mean vs true beat", "mean"] < row.loc["RMSE noisy observation vs true beat", "mean"]
    assert "± " in open(outs["table_md"]).read()


@pytest.mark.slow
def test_denoising_estimates_noise_levels(tmp_path):
    prior = GaussianBeatPrior(length=24)
    db = make_db(tmp_path / "db", prior, {"train": 3, "test": 8, "mi": 2})
    ctx = make_ctx("denoising", shards=1, denoising={"n_patients": 8, "n_samples": 10})
    factory, _ = exact_factory(prior)
    arrays = denoising.run_shard(db, ctx, factory, 0)
    err = np.abs(arrays["sigma_hat"] - arrays["sigma_true"])
    assert err.mean() < 0.03  # exact maximum likelihood under the true prior, 24 samples per lead


# --------------------------------------------------------------------------- missing leads
@pytest.mark.slow
def test_missing_leads_r2_matches_exact_posterior_mean_and_dower(tmp_path):
    prior = GaussianBeatPrior(length=24)
    db = make_db(tmp_path / "db", prior, {"train": 6, "test": 8, "mi": 2})
    ctx = make_ctx(
        "missing_leads",
        missing_leads={
            "n_patients": 8,
            "n_samples": 400,
            "leads": ["V1", "V3"],
            "settings": ["single", "limb", "lead_I"],
            "samplers": [],
            "n_examples": 1,
        },
    )
    factory, _ = exact_factory(prior)
    table, shards, outs = run_task(
        missing_leads, db, ctx, factory, tmp_path, {"table_csv": "t1.csv", "table_md": "t1.md", "figure": "fig6"}
    )
    check_outputs(outs)
    beats, meta = missing_leads.patients(db, ctx)
    mu = prior.mean(conditioning.encode_meta(meta)).reshape(len(meta), -1)
    x = beats.astype(np.float64)
    sc = db.scales(meta)
    order = {p: i for i, p in enumerate(concat(shards, "patient_id"))}
    perm = [order[p] for p in meta["patient_id"]]
    for lead in ("V1", "V3"):
        j = prior.leads.index(lead)
        obs = LinearObservation.of_leads(prior.leads, [n for n in prior.leads if n != lead], 24)
        exact = np.stack(
            [
                prior.posterior(mu[p], obs.dense(), obs.apply(x[p : p + 1])[0], np.full(obs.m, 1e-4))[0].reshape(9, 24)[
                    j
                ]
                for p in range(len(meta))
            ]
        )
        r2_exact = metrics.r2_score(x[:, j], exact)
        r2_task = concat(shards, f"r2__single:{lead}__mcgdiff")[perm, 0]
        np.testing.assert_allclose(r2_task, r2_exact, atol=0.03)
        rec = dower.reconstruct_normalised(x, sc, prior.leads, [n for n in prior.leads if n != lead], [lead])
        np.testing.assert_allclose(
            concat(shards, f"r2__single:{lead}__dower")[perm, 0], metrics.r2_score(x[:, j], rec[:, 0]), atol=1e-9
        )
    rows = table.set_index(["setting", "lead"])
    assert set(table["setting"]) == {"single", "limb", "lead_I"}
    assert len(rows.loc["lead_I"]) == 9 and len(rows.loc["limb"]) == 6
    # more observed leads, better reconstruction
    assert rows.loc[("single", "V1"), "mcgdiff_r2"] > rows.loc[("limb", "V1"), "mcgdiff_r2"]
    assert rows.loc[("limb", "V1"), "mcgdiff_r2"] >= rows.loc[("lead_I", "V1"), "mcgdiff_r2"] - 0.05


def test_missing_leads_train_median_scales_share_one_operator(tmp_path):
    prior = GaussianBeatPrior(length=16)
    db = make_db(tmp_path / "db", prior, {"train": 5, "test": 4, "mi": 2})
    ctx = make_ctx(
        "missing_leads",
        shards=1,
        missing_leads={
            "n_patients": 4,
            "n_samples": 50,
            "settings": ["lead_I"],
            "lead_i_scales": "train_median",
            "samplers": [],
        },
    )
    ratios = missing_leads.train_median_ratios(db, ctx.run.seed)
    assert ratios.shape == (9,) and np.all(ratios > 0)
    factory, _ = exact_factory(prior)
    arrays = missing_leads.run_shard(db, ctx, factory, 0)
    assert arrays["r2__lead_I__mcgdiff"].shape == (4, 9)


# --------------------------------------------------------------------------- QT vs RR
FS, N, R = 250.0, 176, 48


@pytest.mark.slow
def test_qt_task_recovers_the_generating_fridericia_law(tmp_path):
    prior = GaussianBeatPrior(length=N, r_index=R, floor=1e-3, structured=False, mean_fn=qt_beat_mean)
    db = make_db(tmp_path / "db", prior, {"train": 2, "test": 5, "mi": 2})
    ctx = make_ctx(
        "qt_rr", qt_rr={"n_patients": 5, "n_samples": 3, "rr_ms": [600, 750, 900, 1050, 1200], "n_examples": 2}
    )
    factory, _ = exact_factory(prior)
    table, shards, outs = run_task(
        qt_rr,
        db,
        ctx,
        factory,
        tmp_path,
        {"table_csv": "t2.csv", "table_md": "t2.md", "figure_qt": "f7", "figure_beats": "f8"},
    )
    check_outputs(outs)
    r2 = table.set_index("law")["r2"]
    assert r2["fridericia_offset"] > 0.995
    assert r2["bazett_offset"] > 0.99
    assert r2["bazett"] < r2["fridericia_offset"]
    qt_ms = concat(shards, "qt_ms")
    expected = 1000 * (0.3 * np.cbrt(np.array([0.6, 0.75, 0.9, 1.05, 1.2])) + 0.09)
    np.testing.assert_allclose(np.nanmean(qt_ms, axis=(0, 2)), expected, atol=4.0)  # one sample = 4 ms
    assert np.isfinite(qt_ms).all()


# --------------------------------------------------------------------------- anomaly
def st_elevation(split, beats, rng):
    if split == "mi":
        beats = beats.copy()
        beats[:, 3:7, 14:24] += 1.5  # V1-V4: a shelf after the QRS
    return beats


@pytest.mark.slow
def test_anomaly_separates_st_elevation_from_controls(tmp_path):
    prior = GaussianBeatPrior(length=32)
    db = make_db(tmp_path / "db", prior, {"train": 2, "test": 30, "mi": 10}, modify=st_elevation)
    ctx = make_ctx("anomaly", anomaly={"n_samples": 40})
    factory, _ = exact_factory(prior)
    table, shards, outs = run_task(
        anomaly,
        db,
        ctx,
        factory,
        tmp_path,
        {"table_csv": "a.csv", "table_md": "a.md", "figure_distances": "f9", "figure_roc": "f10", "figure_st": "f11"},
    )
    check_outputs(outs)
    g = table.set_index("group")
    assert g.loc["mi", "distance_mean"] > g.loc["control", "distance_mean"]
    assert g.loc["mi", "auc"] > 0.95
    assert g.loc["control", "n_patients"] >= 5 and g.loc["mi", "n_patients"] == 10
    ids = concat(shards, "patient_id")
    assert len(set(ids)) == len(ids)  # distinct patients
    # ST deviations in millivolts: the normalised deviation at the patient's true precordial scales (NaN where the
    # noisy 32-sample beats have no measurable J point)
    scored = leads.indices(leads.PRECORDIAL, leads.PAPER_9)
    sc = concat(shards, "scales")
    np.testing.assert_allclose(concat(shards, "st_mv"), concat(shards, "st_deviation") * sc[:, scored])
    assert {f"st_mv_{lead}_mean" for lead in leads.PRECORDIAL} <= set(table.columns)
    assert concat(shards, "scales_inferred").shape == (len(ids), 6) and (concat(shards, "scales_inferred") > 0).all()


def test_st_deviation_at_j_plus_st_ms_in_millivolts(tmp_path):
    """A shelf of +0.5 (normalised) on V1-V4 after the QRS of the mean beat: the deviation at J + 8 ms is the shelf,
    and in millivolts the shelf times the lead's scale (true scale) or the real beat's mV minus the posterior mean
    at the inferred scale."""
    prior = GaussianBeatPrior(length=32)
    mean = prior.default_mean()[None]
    geo = make_db(tmp_path / "db", prior, {"train": 6, "test": 2, "mi": 2}).geometry
    x = mean.copy()
    x[:, 3:7, 14:24] += 0.5
    scored = leads.indices(leads.PRECORDIAL, leads.PAPER_9)
    j, k, dev = anomaly.st_deviation(x, mean, geo, scored, 8.0)
    assert k[0] == j[0] + 2 and 14 <= k[0] < 24  # J of the real beat, 8 ms = 2 samples later, inside the shelf
    np.testing.assert_allclose(dev[0], [0.5, 0.5, 0.5, 0.5, 0.0, 0.0])
    db = make_db(tmp_path / "db2", prior, {"train": 6, "test": 2, "mi": 2})
    s_hat = anomaly.inferred_scales(db, ("aVL", "aVR", "aVF"), leads.PRECORDIAL, np.array([[1.0, 0.8, 0.6]]))
    assert s_hat.shape == (1, 6) and (s_hat > 0).all()


# --------------------------------------------------------------------------- particles
def test_particles_units_and_table(tmp_path):
    prior = GaussianBeatPrior(length=16)
    db = make_db(tmp_path / "db", prior, {"train": 2, "test": 3, "mi": 2})
    ctx = make_ctx(
        "particles", particles={"n_patients": 1, "n_samples": 40, "particles": [1, 4], "reference_particles": 16}
    )
    requests = []
    base, _ = exact_factory(prior)

    def factory(name=None, **opts):
        requests.append((name, opts))
        return base(name, **opts)

    table, shards, outs = run_task(
        particles, db, ctx, factory, tmp_path, {"table_csv": "p.csv", "table_md": "p.md", "figure": "f13"}
    )
    check_outputs(outs)
    assert sorted(opts["particles"] for _, opts in requests) == [1, 4, 16, 16]
    assert {name for name, _ in requests} == {"mcgdiff"}
    assert table["particles"].tolist() == [1, 4, 16] and table["reference_floor"].tolist() == [False, False, True]
    assert (table["emd"] > 0).all()


# --------------------------------------------------------------------------- with the real MCGdiff sampler
def mcgdiff_ctx(task, **sections):
    return make_ctx(
        task,
        shards=1,
        inverse={"mcgdiff": {"particles": 32, "steps": 20}},
        noise_estimation={"runs": 4, "iterations": 6, "particles": 32},
        **sections,
    )


@pytest.mark.slow
def test_missing_leads_with_mcgdiff_approaches_the_exact_posterior(tmp_path):
    prior = GaussianBeatPrior(length=24)
    db = make_db(tmp_path / "db", prior, {"train": 2, "test": 4, "mi": 2})
    ctx = mcgdiff_ctx(
        "missing_leads",
        missing_leads={"n_patients": 4, "n_samples": 64, "leads": ["V2"], "settings": ["single"], "samplers": []},
    )
    arrays = missing_leads.run_shard(db, ctx, ctx.providers(prior), 0)
    exact = missing_leads.run_shard(db, ctx, exact_factory(prior)[0], 0)
    r2_mcg, r2_exact = arrays["r2__single:V2__mcgdiff"][:, 0], exact["r2__single:V2__mcgdiff"][:, 0]
    assert r2_exact.mean() > 0.8
    assert r2_mcg.mean() == pytest.approx(r2_exact.mean(), abs=0.08)
    # noise-free observations: the estimated noise levels shrink from their initial value 1
    assert arrays["sigma__single:V2"].max() < 0.2


@pytest.mark.slow
def test_particles_with_mcgdiff_more_particles_closer_to_reference(tmp_path):
    prior = GaussianBeatPrior(length=16)
    db = make_db(tmp_path / "db", prior, {"train": 2, "test": 2, "mi": 2})
    ctx = mcgdiff_ctx(
        "particles",
        particles={"n_patients": 1, "n_samples": 64, "particles": [1, 32], "reference_particles": 128, "sigma_y": 0.02},
    )
    arrays = particles.run_shard(db, ctx, ctx.providers(prior), 0)
    shardlib.save_shard(tmp_path / "s.npz", arrays, {"task": "particles", "n_shards": 1, "data_hash": db.data_hash})
    table = particles.summarise(shardlib.load_shards([tmp_path / "s.npz"]), ctx).set_index("particles")
    assert table.loc[1, "emd"] > table.loc[32, "emd"]


def test_empty_shard_is_written_and_skipped(tmp_path):
    prior = GaussianBeatPrior(length=16)
    db = make_db(tmp_path / "db", prior, {"train": 2, "test": 2, "mi": 2})
    ctx = make_ctx("denoising", denoising={"n_patients": 2, "n_samples": 4}, shards=3)
    factory, provider = exact_factory(prior)
    arrays = denoising.run_shard(db, ctx, factory, 2)  # 2 patients, 3 shards: shard 2 is empty
    assert arrays["maha"].shape == (0, 9) and not provider.calls


def test_empty_shard_of_every_task(tmp_path):
    prior = GaussianBeatPrior(length=16)
    db = make_db(tmp_path / "db", prior, {"train": 2, "test": 1, "mi": 2})
    factory, provider = exact_factory(prior)
    for module in (missing_leads, qt_rr):
        ctx = make_ctx(module.TASK, missing_leads={"n_samples": 2}, qt_rr={"n_samples": 2}, shards=2)
        arrays = module.run_shard(db, ctx, factory, 1)  # one test patient: shard 1 is empty
        assert len(arrays["patient_id"]) == 0
    assert not provider.calls
