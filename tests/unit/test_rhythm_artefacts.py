"""The artefact-removal task (the talk's table 2) on an analytic rhythm prior whose posterior is exact.

Set-up: 4-s rhythms (8 leads, 400 valid samples at 100 Hz, padded to 416) drawn from an isotropic Gaussian prior
around a spiky mean (:func:`gmm.LowRankGMM` gives its exact EDM denoiser; :class:`ExactPosterior` samples its exact
posterior under the task's identity observation); noisy sets made by :func:`ecgdiff.data.noise.make_noisy_set` from
a noise record of 0-2 Hz harmonics, so that every artefact lies in the span of the alternation's 3-frequency grid;
a random tiny xresnet1d classifier and two tiny untrained DeScoD-ECG models (one per noise kind, different
weights), written to files and read through :class:`ecgdiff.tasks.inputs.TaskInputs` as the workflow does.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from sklearn.metrics import average_precision_score

from ecgdiff import leads, rhythm_metrics, tables
from ecgdiff.baselines import descod, filters
from ecgdiff.classify.predict import FORMAT as CLASSIFIER_FORMAT
from ecgdiff.classify.xresnet1d import XResNet1d, XResNetConfig
from ecgdiff.data import noise as noiselib
from ecgdiff.data.rhythmdb import RhythmDatabase
from ecgdiff.inverse import SamplerSpec, gmm
from ecgdiff.inverse.artefacts import ArtefactModel
from ecgdiff.tasks import registry
from ecgdiff.tasks import shards as shardlib
from ecgdiff.tasks.context import TaskContext
from ecgdiff.tasks.inputs import TaskInputs
from ecgdiff.tasks.posterior import PosteriorSampler
from ecgdiff.tasks.rhythm import artefacts as arts

FS, LENGTH, PADDED = 100.0, 400, 416
L = len(leads.BASIS)
PRIOR_STD = 0.03
TASK = arts.TASK

ARTEFACT = dict(
    n_freqs=3,
    f_max=2.0,
    f_min=0.0,
    rounds=3,
    lasso_alpha=0.1,
    ridge_alpha=1.0,
    tol=0.0,
    n_samples=6,
    noise_std="residual",
    sigma_floor=1e-3,
    lasso_max_iter=1000,
    lasso_tol=1e-4,
)
SECTION = dict(
    n_patients=None,
    kinds=["em", "bw"],
    samplers=["ddnm"],
    artefact=ARTEFACT,
    batch_patients=None,
    descod_shots=1,
    descod_batch=16,
    highpass={"cutoff_hz": 0.67, "order": 5},
    median={"windows_ms": [200, 600]},
    dtw_sequence="lead",
    prd_denominator="descod",
    classifier_aggregate="median",
    n_boot=50,
    level=0.95,
    band=[0.05, 0.95],
    figure_leads=["I", "aVF", "V2"],
    amplitude_bins=3,
)
INVERSE = {
    "mgps": {"steps": 3, "grad_steps": 1, "window_grad_steps": 1, "window_size": 1},
    "ddnm": {"steps": 4, "eta": 0.85},
}


# --------------------------------------------------------------------------- the analytic prior
class RhythmGaussian:
    """``x ~ N(mean, PRIOR_STD^2 I)`` over ``[8, 416]``: the denoiser is the exact one of :mod:`ecgdiff.inverse.gmm`."""

    conditional = False
    device = torch.device("cpu")

    def __init__(self, mean: np.ndarray, std: float = PRIOR_STD):
        self.mean, self.std = np.asarray(mean, dtype=np.float64), float(std)
        d = self.mean.size
        q = torch.zeros(1, d, 1, dtype=torch.float64)
        q[0, 0, 0] = 1.0
        m = torch.as_tensor(self.mean.reshape(1, -1))
        self.gmm = gmm.LowRankGMM(torch.ones(1), m, q, torch.zeros(1, 1), torch.full((1,), std**2), self.mean.shape)

    def denoiser(self, cond=None):
        return self.gmm

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mean + self.std * rng.standard_normal((n, *self.mean.shape))


class ExactPosterior:
    """The exact posterior of :class:`RhythmGaussian` under a masked observation (coordinate-wise conjugacy)."""

    def __init__(self, prior: RhythmGaussian):
        self.prior = prior
        self.calls: list[int] = []

    def sample(self, cond, y, obs, sigma, n_samples, generator):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        P, v = len(y), self.prior.std**2
        idx = np.flatnonzero(obs.mask.ravel())
        out = np.zeros((P, n_samples, *self.prior.mean.shape), dtype=np.float32)
        for p in range(P):
            m = self.prior.mean.ravel().copy()
            var = np.full(m.shape, v)
            s2 = np.asarray(sigma[p], dtype=np.float64) ** 2
            m[idx] = (s2 * m[idx] + v * np.asarray(y[p], dtype=np.float64)) / (v + s2)
            var[idx] = v * s2 / (v + s2)
            out[p] = (m + np.sqrt(var) * rng.standard_normal((n_samples, m.size))).reshape(n_samples, L, -1)
        self.calls.append(P)
        return out


def exact_factory(prior: RhythmGaussian):
    provider = ExactPosterior(prior)
    requests: list[tuple] = []

    def make(name=None, **options):
        requests.append((name, options))
        return provider

    return make, provider, requests


def spiky_mean() -> np.ndarray:
    """A rhythm-shaped mean: narrow spikes at 72 bpm with a T-like bump, one gain per lead, zero padding."""
    t = np.arange(LENGTH) / FS
    beats = np.arange(0.3, 4.0, 0.83)
    qrs = np.exp(-((t[:, None] - beats) ** 2) / (2 * 0.02**2)).sum(1)
    tw = 0.25 * np.exp(-((t[:, None] - beats - 0.3) ** 2) / (2 * 0.06**2)).sum(1)
    out = np.zeros((L, PADDED))
    out[:, :LENGTH] = np.linspace(-0.8, 1.2, L)[:, None] * qrs + np.linspace(0.5, 1.0, L)[:, None] * tw
    return out


# --------------------------------------------------------------------------- database, noisy sets, models
def make_db(prior: RhythmGaussian, labels_test: list[str], seed: int = 0, shared: bool = True) -> RhythmDatabase:
    """Prior draws: 4 training rhythms, then the test rhythms (with ``shared``, the first test patient has two)."""
    rng = np.random.default_rng(seed)
    labels = ["NSR"] * 4 + list(labels_test)
    n = len(labels)
    x = prior.sample(n, rng)
    x[..., LENGTH:] = 0.0
    pids = [f"train{i}" for i in range(4)] + [f"test{max(0, i - shared)}" for i in range(len(labels_test))]
    meta = pd.DataFrame(
        {
            "rhythm_id": np.arange(n),
            "record_id": [f"r{i}" for i in range(n)],
            "patient_id": pids,
            "source": "analytic",
            "label": labels,
            "NSR": [int(lab == "NSR") for lab in labels],
            "BBB": [int(lab == "BBB") for lab in labels],
            "AF": [int(lab == "AF") for lab in labels],
            "split": ["train"] * 4 + ["test"] * len(labels_test),
        }
    )
    manifest = {
        "leads": list(leads.BASIS),
        "fs": FS,
        "length": LENGTH,
        "padded_length": PADDED,
        "data_hash": f"analytic-{seed}-{n}",
        "sources": ["analytic"],
    }
    return RhythmDatabase(path=None, rhythms=x.astype(np.float32), meta=meta, manifest=manifest)


def harmonic_record(kind: str) -> noiselib.NoiseRecord:
    """A 60-s two-channel noise record at 100 Hz made of 0, 1 and 2 Hz harmonics: every window of it, at any
    scale, lies in the span of the alternation's grid ``linspace(0, 2 Hz, 3)``."""
    t = np.arange(6000) / FS
    a = {"em": (0.4, 0.25, 0.1), "bw": (0.6, 0.1, -0.2)}[kind]
    ch = a[0] * np.cos(2 * np.pi * t + 0.4) + a[1] * np.sin(4 * np.pi * t) + a[2]
    return noiselib.NoiseRecord(kind, np.stack([0.5 * ch, ch]), FS, f"harmonic:{kind}")


def write_inputs(folder, db: RhythmDatabase) -> dict[str, str]:
    """Noisy sets of the test rhythms, a classifier and the two DeScoD models: name -> path."""
    x, meta = db.subset("test")
    paths = {}
    for kind in ("em", "bw"):
        ns = noiselib.make_noisy_set(
            x, LENGTH, harmonic_record(kind), None, kind, 5, noiselib.NoisySetSettings(fs=FS),
            rhythm_ids=[str(r) for r in meta["rhythm_id"]],
        )  # fmt: skip
        noiselib.save(ns, folder / f"noisy_{kind}")
        paths[f"noisy_{kind}"] = str(folder / f"noisy_{kind}")
    for seed, kind in enumerate(("em", "bw")):
        torch.manual_seed(10 + seed)
        cfg = descod.DeScoDConfig(feats=8, steps=3, length=LENGTH, seed=3)
        model = descod.DeScoD(cfg, leads.BASIS, kind)
        blob = {
            "format": descod.FORMAT,
            "noise_kind": kind,
            "config": cfg.to_dict(),
            "leads": list(leads.BASIS),
            "state_dict": model.net.state_dict(),
        }
        torch.save(blob, folder / f"descod_{kind}.pt")
        paths[f"descod_{kind}"] = str(folder / f"descod_{kind}.pt")
    torch.manual_seed(0)
    cfg = XResNetConfig(blocks=[1, 1, 1, 1], width=0.25, stem=[16, 16, 32], head_hidden=[32])
    net = XResNet1d(cfg)
    torch.save(
        {
            "format": CLASSIFIER_FORMAT,
            "model_config": cfg.to_dict(),
            "state_dict": net.state_dict(),
            "classes": ["NSR", "BBB", "AF"],
            "leads": list(leads.STANDARD_12),
            "fs": FS,
            "length": LENGTH,
            "window": 100,
            "stride": 50,
            "window_aggregate": "max",
            "mean": 0.0,
            "std": 0.3,
        },
        folder / "classifier.pt",
    )
    paths["classifier"] = str(folder / "classifier.pt")
    return paths


def make_ctx(shards: int = 1, inverse=None, **section) -> TaskContext:
    config = {
        "run": "unit",
        "label": "UNIT TEST - analytic rhythm prior",
        "seed": 3,
        "device": "cpu",
        "rhythm_tasks": {"shards": shards, "max_batch_rows": None, "sampler": "mgps", TASK: {**SECTION, **section}},
        "rhythm_inverse": inverse or INVERSE,
    }
    return TaskContext.from_params(TASK, registry.task_params(TASK, config))


def run_task(db, ctx, factory, paths, folder):
    spec = registry.get(TASK)
    files = []
    for shard in range(ctx.run.shards):
        arrays = arts.run_shard(db, ctx, factory, shard, inputs=TaskInputs(paths, "cpu"))
        path = folder / f"shard_{shard}.npz"
        shardlib.save_shard(
            path, arrays, {"task": TASK, "shard": shard, "n_shards": ctx.run.shards, "data_hash": db.data_hash}
        )
        files.append(path)
    shards = shardlib.load_shards(files)
    outputs = dict(zip(spec.output_keys, [str(folder / "t.csv"), str(folder / "t.md")] + [
        str(folder / stem) for stem in spec.figures.values()
    ]))  # fmt: skip
    table = arts.gather(db, shards, ctx, outputs)
    return table, shards, outputs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("artefacts")
    prior = RhythmGaussian(spiky_mean())
    db = make_db(prior, ["NSR", "NSR", "BBB", "AF", "BBB", "other", "AF", "NSR", "AF"])
    paths = write_inputs(folder, db)
    ctx = make_ctx()
    factory, provider, requests = exact_factory(prior)
    table, shards, outputs = run_task(db, ctx, factory, paths, folder)
    inputs = TaskInputs(paths, "cpu")
    x, meta = arts.patients(db, ctx)
    noisy = {
        k: arts.noisy_inputs(inputs.load(f"noisy_{k}"), k, db, x, meta["rhythm_id"].tolist()) for k in ("em", "bw")
    }
    return dict(
        prior=prior, db=db, paths=paths, ctx=ctx, provider=provider, requests=requests, table=table,
        shards=shards, outputs=outputs, inputs=inputs, x=x, meta=meta, noisy=noisy,
    )  # fmt: skip


def scores(s, x, samples):
    return rhythm_metrics.denoising_scores(x, samples, leads.BASIS, LENGTH, sequence="lead")[list(arts.METRICS)]


# --------------------------------------------------------------------------- tests
def test_selection_is_one_seeded_rhythm_per_test_patient(setup):
    meta = setup["meta"]
    assert len(meta) == 8 and meta["patient_id"].is_unique and (meta["split"] == "test").all()
    again = arts.patients(setup["db"], setup["ctx"])[1]
    assert again["rhythm_id"].tolist() == meta["rhythm_id"].tolist()
    few = arts.selection(setup["db"], make_ctx(n_patients=3))
    assert len(few) == 3 and set(few["rhythm_id"]) <= set(meta["rhythm_id"])


def test_alternation_rows_equal_rhythm_metrics_on_the_result(setup):
    """The artefact lies in the grid's span and the prior is sure of the signal: the alternation removes it
    (its RMSE a fraction of the noisy input's), and the task's numbers are rhythm_metrics of that result."""
    ctx, x, (sh,) = setup["ctx"], setup["x"], setup["shards"]
    clf = setup["inputs"].load("classifier")
    for kind in ("em", "bw"):
        y, noise = setup["noisy"][kind]
        for name in ("mgps", "ddnm"):
            opts = SamplerSpec(name, INVERSE[name]).options
            model = arts.ProviderArtefactModel(
                ctx.settings.artefact_settings(FS, name, opts), ExactPosterior(setup["prior"]), LENGTH
            )
            gen = ctx.generator(arts.alternation_seed(ctx, 0, kind, name))
            res = model.run(None, torch.as_tensor(y, dtype=torch.float32), LENGTH, gen)
            smp = res.samples.numpy().astype(np.float64)
            key = f"{kind}__rhythmdiff_{name}"
            np.testing.assert_allclose(sh.arrays[f"scores__{key}"], scores(ctx.settings, x, smp), rtol=1e-9)
            np.testing.assert_allclose(sh.arrays[f"prob__{key}"], clf.predict_posterior(smp, how="median"), rtol=1e-6)
            assert sh.arrays[f"rounds__{key}"].tolist() == [3] * len(x)
            floor = sh.arrays[f"scores__{kind}__noisy"][:, 0]
            assert np.all(sh.arrays[f"scores__{key}"][:, 0] < 0.3 * floor)
        # the amplitude of each input: rms over the 12 leads of its saved noise
        n12 = leads.derive(noise[..., :LENGTH], leads.BASIS, leads.STANDARD_12)
        np.testing.assert_allclose(sh.arrays[f"amplitude__{kind}"], np.sqrt((n12**2).mean(axis=(1, 2))))
    assert {r[0] for r in setup["requests"]} == {"mgps", "ddnm"}
    assert ("ddnm", {}) in setup["requests"] and ctx.samplers["ddnm"].options["eta"] == 0.85


def test_floor_and_filter_rows_are_the_metrics_of_their_signals(setup):
    ctx, x, (sh,) = setup["ctx"], setup["x"], setup["shards"]
    for kind, filt in (
        ("em", lambda y: filters.median_baseline(y, FS, filters.MedianConfig((200.0, 600.0)), LENGTH)),
        ("bw", lambda y: filters.highpass(y, FS, filters.HighpassConfig(0.67, 5), LENGTH)),
    ):
        y = setup["noisy"][kind][0]
        np.testing.assert_allclose(sh.arrays[f"scores__{kind}__noisy"], scores(ctx.settings, x, y[:, None]), rtol=1e-12)
        np.testing.assert_allclose(
            sh.arrays[f"scores__{kind}__filter"], scores(ctx.settings, x, filt(y)[:, None]), rtol=1e-12
        )


def test_descod_rows_use_the_model_of_their_noise_kind(setup, tmp_path):
    ctx, x, (sh,) = setup["ctx"], setup["x"], setup["shards"]
    models = {k: descod.load_model(setup["paths"][f"descod_{k}"], k) for k in ("em", "bw")}
    for kind, other in (("em", "bw"), ("bw", "em")):
        y = setup["noisy"][kind][0].astype(np.float32)
        seed = arts.descod_seed(ctx, 0, kind)
        right = descod.denoise(models[kind], y, shots=1, batch_size=16, seed=seed, device="cpu")
        wrong = descod.denoise(models[other], y, shots=1, batch_size=16, seed=seed, device="cpu")
        got = sh.arrays[f"scores__{kind}__descod"]
        np.testing.assert_allclose(got, scores(ctx.settings, x, right[:, None].astype(np.float64)), rtol=1e-6)
        assert not np.allclose(got, scores(ctx.settings, x, wrong[:, None].astype(np.float64)), rtol=1e-3)
    swapped = dict(setup["paths"], descod_em=setup["paths"]["descod_bw"])
    factory, _, _ = exact_factory(setup["prior"])
    with pytest.raises(descod.NoiseKindError, match="trained on 'bw'"):
        arts.run_shard(setup["db"], ctx, factory, 0, inputs=TaskInputs(swapped, "cpu"))


def test_inner_step_is_the_posterior_step_checked_against_the_exact_posterior(setup):
    """Through the task's PosteriorSampler the inner step draws what ArtefactModel.posterior_step draws (which
    tests/unit/test_artefacts.py checks against the exact Gaussian posterior of ``y - artefact``)."""
    prior, y = setup["prior"], torch.as_tensor(setup["noisy"]["em"][0][:3], dtype=torch.float32)
    settings = setup["ctx"].settings.artefact_settings(FS, "pgdm", {"steps": 6})
    art = np.random.default_rng(0).normal(0, 0.1, (3, L, LENGTH))
    sigma = np.random.default_rng(1).uniform(0.02, 0.2, (3, L))
    base = ArtefactModel(settings).posterior_step(
        prior.denoiser(), y, art, LENGTH, sigma, torch.Generator().manual_seed(4)
    )
    provider = PosteriorSampler(prior, SamplerSpec("pgdm", {"steps": 6}).build())
    ours = arts.ProviderArtefactModel(settings, provider).posterior_step(
        None, y, art, LENGTH, sigma, torch.Generator().manual_seed(4)
    )
    torch.testing.assert_close(ours, base, rtol=0, atol=1e-6)
    # the draws moved towards y - artefact: the posterior is not the prior (guards a step ignoring y)
    shift = ours.mean(1)[..., :LENGTH].double() - torch.as_tensor(prior.mean[..., :LENGTH])
    assert float(shift.abs().max()) > 0.1


def test_table_layout_talk_numbers_and_t_intervals(setup):
    table, outputs, (sh,) = setup["table"], setup["outputs"], setup["shards"]
    kind_rows = ["RhythmDiff-MGPS", "RhythmDiff-DDNM", "DeScoD-ECG"]
    assert table["label"].tolist() == (
        ["Ground-truth"]
        + kind_rows + ["median baseline (200/600 ms)", "noisy input"]
        + kind_rows + ["high-pass (0.67 Hz, order 5)", "noisy input"]
    )  # fmt: skip
    assert table["task"].tolist() == ["-"] + ["EMR"] * 5 + ["BWR"] * 5
    csv = tables.read_table(outputs["table_csv"])
    assert csv["label"].tolist() == table["label"].tolist()
    assert tables.read_table_provenance(outputs["table_csv"])["data_hash"] == setup["db"].data_hash
    row = table.set_index(["kind", "method"])
    for (kind, method), ref in arts.TALK_TABLE2.items():
        key = (kind if kind != "truth" else "-", method if method in ("truth", "descod") else f"rhythmdiff_{method}")
        for m in ("rmse", "mae", "soft_dtw"):
            if m in ref:
                assert row.loc[key, f"talk_{m}"] == ref[m][0] and row.loc[key, f"talk_{m}_half_width"] == ref[m][1]
        for c, v in ref["auc_pr"].items():
            assert row.loc[key, f"talk_auc_pr_{c}"] == v
    assert np.isnan(row.loc[("em", "rhythmdiff_ddnm"), "talk_rmse"])
    assert (
        row.loc[("em", "rhythmdiff_mgps"), "talk_rmse"] == 0.097 and row.loc[("bw", "descod"), "talk_soft_dtw"] == 0.11
    )
    # mean and 95 % t-interval over patients (scipy's)
    for kind in ("em", "bw"):
        for method in ("rhythmdiff_mgps", "descod", "noisy"):
            v = sh.arrays[f"scores__{kind}__{method}"]
            for j, m in enumerate(arts.METRICS):
                lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v[:, j].mean(), scale=stats.sem(v[:, j]))
                r = row.loc[(kind, method)]
                assert r[m] == pytest.approx(v[:, j].mean(), rel=1e-12)
                assert (r[f"{m}_low"], r[f"{m}_high"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    md = open(outputs["table_md"]).read()
    assert "(talk 0.097 ± 0.002)" in md and "(talk 0.088 ± 0.002)" in md and "(talk 0.98)" in md
    assert "PTB-XL" in md and "DDNM+ (eta 0.85)" in md and "EMR" in md and "BWR" in md


def test_auc_pr_equals_scikit_learn(setup):
    table, (sh,), x, meta = setup["table"], setup["shards"], setup["x"], setup["meta"]
    clf = setup["inputs"].load("classifier")
    y_true = meta[["NSR", "BBB", "AF"]].to_numpy()
    np.testing.assert_array_equal(sh.arrays["targets"], y_true)
    np.testing.assert_allclose(sh.arrays["prob__truth"], clf.predict_proba(x), rtol=1e-6)
    np.testing.assert_allclose(sh.arrays["prob__em__noisy"], clf.predict_proba(setup["noisy"]["em"][0]), rtol=1e-6)
    for r in table.to_dict("records"):
        key = "prob__truth" if r["method"] == "truth" else f"prob__{r['kind']}__{r['method']}"
        for c, name in enumerate(("NSR", "BBB", "AF")):
            ap = average_precision_score(y_true[:, c], sh.arrays[key][:, c])
            assert r[f"auc_pr_{name}"] == pytest.approx(ap, rel=1e-12)
            assert r[f"auc_pr_{name}_low"] <= r[f"auc_pr_{name}_high"]


def test_figures_written(setup):
    for key in ("figure_bbb", "figure_af", "figure_amplitude"):
        for ext in (".png", ".pdf"):
            assert open(setup["outputs"][key] + ext, "rb").read(4)  # written, not empty
    (sh,) = setup["shards"]
    assert sh.arrays["ex_BBB__patient"].tolist() == [
        setup["meta"].loc[setup["meta"]["label"] == "BBB", "patient_id"].iloc[0]
    ]
    assert sh.arrays["ex_AF__em__mean"].shape == (1, 3, LENGTH)
    lo, hi = sh.arrays["ex_AF__bw__low"], sh.arrays["ex_AF__bw__high"]
    assert np.all(lo <= hi) and np.any(lo < hi)
    assert arts.amplitude_bins(np.array([3.0, 1.0, 2.0, 5.0, 4.0]), 2)[0].tolist() == [1, 2, 0]


def test_empty_shard_and_a_class_without_patient(tmp_path, caplog):
    """Four shards for three patients: the last is empty (no sampler call), gather skips it; no AF patient is
    scored, which the AF figure's title and the log say."""
    prior = RhythmGaussian(spiky_mean())
    db = make_db(prior, ["NSR", "BBB", "other"], seed=1, shared=False)
    paths = write_inputs(tmp_path, db)
    ctx = make_ctx(shards=4, kinds=["bw"], samplers=[], n_boot=0)
    factory, provider, _ = exact_factory(prior)
    empty = arts.run_shard(db, ctx, factory, 3, inputs=TaskInputs(paths, "cpu"))
    assert not provider.calls
    assert len(empty["patient_id"]) == 0 and empty["scores__bw__rhythmdiff_mgps"].shape == (0, len(arts.METRICS))
    with caplog.at_level(logging.WARNING, logger=arts.__name__):
        table, shards, outputs = run_task(db, ctx, factory, paths, tmp_path)
    assert table["n_patients"].tolist() == [3] * 5 and provider.calls == [1] * 6  # 3 shards x 2 sampling rounds
    assert "no AF patient among the 3 scored test patients" in caplog.text
    assert open(outputs["figure_af"] + ".png", "rb").read(4)


def test_real_samplers_run_through_the_task_seam(setup, tmp_path):
    """MGPS and DDNM+ (few steps) on the analytic prior's exact denoiser through the task's PosteriorSampler; the
    options of rhythm_inverse (eta 0.85) reach the sampler."""
    db, paths = setup["db"], setup["paths"]
    ctx = make_ctx(n_patients=2, kinds=["bw"], n_boot=0)
    seen = {}
    factory = ctx.providers(setup["prior"])

    def spy(name=None, **options):
        seen[name] = factory(name, **options)
        return seen[name]

    out = arts.run_shard(db, ctx, spy, 0, inputs=TaskInputs(paths, "cpu"))
    assert seen["ddnm"].sampler.eta == 0.85 and seen["mgps"].sampler.steps == 3
    for name in ("mgps", "ddnm"):
        s = out[f"scores__bw__rhythmdiff_{name}"]
        assert s.shape == (2, len(arts.METRICS)) and np.isfinite(s).all()
        assert np.all(s[:, 0] < out["scores__bw__noisy"][:, 0])


def test_settings_are_validated():
    good = make_ctx().settings
    assert good.kinds == ("em", "bw") and good.band == (0.05, 0.95)
    bad = [
        ({"kinds": ["em", "ma"]}, "kinds"),
        ({"samplers": ["nope"]}, "unknown sampler"),
        ({"artefact": {**ARTEFACT, "alpha": 1}}, "unknown keys"),
        ({"artefact": {k: v for k, v in ARTEFACT.items() if k != "rounds"}}, "missing keys"),
        ({"artefact": {**ARTEFACT, "rounds": 1}}, "rounds"),
        ({"highpass": {"cutoff_hz": -1, "order": 5}}, "highpass"),
        ({"median": {"windows_ms": [0]}}, "median"),
        ({"dtw_sequence": "diagonal"}, "dtw_sequence"),
        ({"classifier_aggregate": "max"}, "classifier_aggregate"),
        ({"band": [0.9, 0.1]}, "band"),
        ({"figure_leads": ["V7"]}, "figure_leads"),
        ({"level": 1.5}, "level"),
    ]
    for section, match in bad:
        with pytest.raises(ValueError, match=match):
            make_ctx(**section)
    with pytest.raises(ValueError, match="missing keys"):
        TaskContext.from_params(
            TASK,
            {**registry.task_params(TASK, {"run": "u", "label": "u", "seed": 0, "device": "cpu", "rhythm_inverse": INVERSE,
             "rhythm_tasks": {"shards": 1, "max_batch_rows": None, "sampler": "mgps", TASK: SECTION}}),
             "task": {k: v for k, v in SECTION.items() if k != "band"}},
        )  # fmt: skip
    with pytest.raises(ValueError, match="eta must be in"):
        make_ctx(inverse={**INVERSE, "ddnm": {"steps": 4, "eta": 2.0}})


def test_a_diverged_descod_is_named_in_the_caption(caplog):
    M = len(arts.METRICS)

    def scores(rmse):
        out = np.zeros((3, M))
        out[:, arts.METRICS.index("rmse")] = rmse
        return out

    sh = shardlib.Shard(
        {
            "scores__em__descod": scores([0.1, 0.2, 0.1]),
            "scores__em__noisy": scores([0.3, 0.3, 0.3]),
            "scores__bw__descod": scores([3e3, 5e3, 1e4]),
            "scores__bw__noisy": scores([0.5, 0.6, 0.7]),
        }
    )
    assert arts.diverged([sh], ["em"]) == ""
    text = arts.diverged([sh], ["em", "bw"])
    assert "DIVERGED on BWR (median RMSE 5e+03 against the noisy input's 0.6)" in text and "EMR" not in text
    assert "DeScoD-ECG diverged" in caplog.text
