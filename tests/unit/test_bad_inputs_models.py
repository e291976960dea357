"""Bad inputs outside the data layer: each case is refused with a clear error or tolerated with a log line.

Checkpoints and model files (:mod:`ecgdiff.checkpoints`, shared by the four trainers and their loaders; each
trainer case runs for the beat prior, the rhythm classifier, ECGrecover and DeScoD):

1. a truncated ``last.pt`` is reported by path and training falls back to ``last.prev.pt``;
2. a truncated ``last.pt`` with no previous checkpoint: training starts over, with a warning;
3. ``last.pt`` with flipped weight bytes (which ``torch.load`` reads without complaint) fails its content
   hash and training falls back to the previous checkpoint;
4. writing a checkpoint keeps exactly one previous version;
5. a final model file (prior, classifier, ECGrecover, DeScoD) truncated, with flipped weight bytes, or
   foreign (a text file, random bytes, a bare tensor) raises an error naming the path and the problem;
6. a prior file whose weights do not fit its model configuration names the path;
7. the content hash is the same after a save/load round trip of a full training state (optimiser,
   generator states, bfloat16 and empty tensors) and changes with any value;
8. a kill between the two renames of a checkpoint write (no ``last.pt``, ``last.prev.pt`` kept): training
   resumes from the previous checkpoint.

Samplers and the prior's denoiser (:mod:`ecgdiff.inverse`; each case for every sampler):

9. NaN in ``y``; 10. inf in ``y``; 11. NaN in ``sigma_y``: refused before sampling, naming the entry;
12. a denoiser returning NaN, 13. one returning inf: reported as such, with the noise level;
14. a NaN gradient through the denoiser (DPS, PGDM, MGPS): reported as a divergence after the previous level;
15. a denoiser returning something other than a tensor;
16. a non-integer ``n_samples``;
17. NaN / inf sampler options (``sigma_max: .inf``, ``zeta: .nan``);
18. noise estimation: NaN in ``y``; 19. a NaN denoiser; 20. a diverging estimate; 21. a NaN ``init``;
22. NaN conditioning vectors given to a trained prior's denoiser.

Configuration (the workflow parsed in-process, as ``snakemake -n`` does) and tasks:

23. a negative particle count, 24. a misspelt sampler option, 25. ``steps: "four"``: refused by the schema,
    naming the key;
26. the schema's sampler options are exactly the samplers' fields (a new option cannot go unvalidated);
27. a YAML syntax error names the file and the line; 28. so does one in the workflow's default config file,
    which stops the workflow; 29. a key given twice in a ``--configfile`` is refused (YAML keeps the last);
30. ``control_splits: [test, cv]`` on a beat database without a cv split: cv skipped with a log line;
31. ``BeatDatabase.patients``: a missing split raises by default and gives no patient with ``missing_ok``;
32. no control split present at all is an error naming the splits;
33. anomaly leads both observed and scored are refused;
34. a truncated, damaged or foreign task shard file is refused naming the path.

Settings dataclasses:

35. ``TrainConfig``: ``lr`` <= 0 or NaN, negative warm-up, non-positive ``grad_clip``;
36. ``UNetConfig``: zero channels, dropout outside [0, 1), no resolution level.
"""

from __future__ import annotations

import logging
import re
import shutil
import struct
import sys
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ecgdiff import checkpoints
from ecgdiff.baselines import descod as D
from ecgdiff.baselines import descod_train as T
from ecgdiff.baselines import ecgrecover as er
from ecgdiff.baselines import ecgrecover_train as ert
from ecgdiff.checkpoints import CheckpointError
from ecgdiff.classify.predict import load_classifier
from ecgdiff.classify.train import ClassifierConfig, ClassifierTrainer, make_data, save_classifier
from ecgdiff.classify.xresnet1d import XResNetConfig
from ecgdiff.configfiles import ConfigFileError, check_yaml_file
from ecgdiff.data import noise as nz
from ecgdiff.diffusion import conditioning
from ecgdiff.diffusion.networks.beat_unet import UNetConfig
from ecgdiff.diffusion.prior import load_prior
from ecgdiff.diffusion.train import TrainConfig, TrainData, Trainer, save_prior
from ecgdiff.inverse import Mask, NoiseEstimation, available, get_sampler
from ecgdiff.inverse.base import _REGISTRY
from ecgdiff.inverse.gmm import random_beatlike_gmm

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from workflow_inprocess import parsed_workflow  # noqa: E402

SAMPLERS = ["mcgdiff", "dps", "pgdm", "ddnm", "diffpir", "reddiff", "mgps"]
FAST = {
    "mcgdiff": {"particles": 4, "steps": 6},
    "dps": {"steps": 6},
    "pgdm": {"steps": 6},
    "ddnm": {"steps": 6},
    "diffpir": {"steps": 6},
    "reddiff": {"steps": 6},
    "mgps": {"steps": 6, "grad_steps": 2},
}


# ============================================================================ damage to files
def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_weight_bytes(path: Path) -> None:
    """Flip one bit in the middle of the largest tensor stored in a torch zip file (the file stays readable)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    n_name, n_extra = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + n_name + n_extra
    raw[start + info.file_size // 2] ^= 0x40
    path.write_bytes(bytes(raw))


def make_foreign(path: Path, kind: str) -> None:
    if kind == "text":
        path.write_text("run: not a model\n")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    else:  # a torch file, but a bare tensor
        torch.save(torch.zeros(3), path)


# ============================================================================ four tiny trainers
class Kind:
    """A tiny trainer of one model kind, behind one interface: build, run k units, progress, save, load."""

    name = ""
    total = 3  # steps or epochs of a full run

    def trainer(self, work: Path):
        raise NotImplementedError

    def run(self, tr, units: int | None = None) -> None:
        raise NotImplementedError

    def progress(self, tr) -> int:
        return tr.epoch

    def save(self, tr, path: Path) -> None:
        raise NotImplementedError

    def load(self, path: Path):
        raise NotImplementedError


class PriorKind(Kind):
    name = "prior"
    total = 4

    def trainer(self, work):
        g = torch.Generator().manual_seed(0)
        x = 0.5 * torch.randn(24, 2, 16, generator=g)
        c = torch.from_numpy(conditioning.encode(np.full(24, 60.0), ["M", "F"] * 12, np.full(24, 800.0)))
        data = TrainData(x[:16], c[:16], x[16:], c[16:], leads=("I", "II"), fs=250.0, data_hash="random")
        cfg = TrainConfig(
            steps=4, batch_size=8, lr=1e-3, ema=0.9, checkpoint_every=1, cv_every=2, cv_sigmas=2, log_every=100, seed=1
        )
        return Trainer(data, UNetConfig(channels=8, num_blocks=1, attn_levels=[], dropout=0.0), cfg, work, device="cpu")

    def run(self, tr, units=None):
        tr.run(stop_at_step=units)

    def progress(self, tr):
        return tr.step

    def save(self, tr, path):
        save_prior(path, tr, {"run": "test"})

    def load(self, path):
        return load_prior(path, device="cpu")


class ClassifierKind(Kind):
    name = "classifier"

    def trainer(self, work):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(40, 8, 100)).astype(np.float32)
        y = np.eye(3)[np.arange(40) % 3]
        data = make_data(x[:24], y[:24], x[24:], y[24:], fs=100, data_hash="random", length=100)
        cfg = ClassifierConfig(epochs=3, batch_size=8, crop_s=0.5, stride_s=0.25, checkpoint_every=1)
        net = XResNetConfig(blocks=[1, 1, 1, 1], width=0.25, stem=[16, 16, 32], head_hidden=[32])
        return ClassifierTrainer(data, net, cfg, work, device="cpu")

    def run(self, tr, units=None):
        tr.run(stop_at_epoch=units)

    def save(self, tr, path):
        save_classifier(path, tr, {"run": "test"})

    def load(self, path):
        return load_classifier(path, device="cpu")


class ECGrecoverKind(Kind):
    name = "ecgrecover"

    def trainer(self, work):
        rng = np.random.default_rng(1)
        x = np.zeros((24, 12, 128), np.float32)
        x[..., :120] = rng.normal(size=(24, 12, 120))
        data = ert.RecoverData(x[:16], x[16:], length=120, data_hash="random")
        cfg = er.ECGrecoverConfig(
            channels=4, depth=2, lead_kernel=5, length=120, padded_length=128, window=64, batch_size=8, epochs=3
        )
        return ert.ECGrecoverTrainer(data, cfg, work, device="cpu")

    def run(self, tr, units=None):
        tr.run(stop_after_epoch=units)

    def save(self, tr, path):
        ert.save_trained(path, tr, {"run": "test"})

    def load(self, path):
        return er.load_model(path)


class DeScoDKind(Kind):
    name = "descod"

    def trainer(self, work):
        rng = np.random.default_rng(2)
        x = np.zeros((16, 8, 64), np.float32)
        x[..., :60] = rng.normal(size=(16, 8, 60))
        record = nz.NoiseRecord("bw", rng.normal(size=(2, 2000)), 100.0, "random (bw)")
        noise = nz.training_noise(record, "bw", 2, settings=nz.TrainingNoiseSettings(), length=60)
        cfg = D.DeScoDConfig(feats=8, steps=8, epochs=3, batch_size=8, lr=3e-3, length=60, cv_repeats=1, seed=3)
        return T.DeScoDTrainer(x[:12], x[12:], noise, cfg, work, device="cpu")

    def run(self, tr, units=None):
        tr.run(stop_after_epochs=units)

    def save(self, tr, path):
        T.save_model(path, tr.checkpoint({"run": "test"}))

    def load(self, path):
        return D.load_model(path, "bw")


KINDS = {k.name: k for k in (PriorKind(), ClassifierKind(), ECGrecoverKind(), DeScoDKind())}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """One final model file of each kind, trained for a few steps."""
    root = tmp_path_factory.mktemp("models")
    out = {}
    for name, kind in KINDS.items():
        tr = kind.trainer(root / f"work_{name}")
        kind.run(tr)
        kind.save(tr, root / f"{name}.pt")
        out[name] = root / f"{name}.pt"
    return out


# ============================================================================ 1-4, 8: training checkpoints
@pytest.mark.parametrize("kind", KINDS)
def test_truncated_last_checkpoint_falls_back_to_the_previous_one(kind, tmp_path, caplog):
    k = KINDS[kind]
    first = k.trainer(tmp_path)
    k.run(first, 2)  # checkpoints after units 1 and 2: last.pt (2) and last.prev.pt (1)
    truncate(tmp_path / "last.pt")
    with pytest.raises(Exception):  # noqa: B017 - what torch raises on its own (the crash of every rerun)
        torch.load(tmp_path / "last.pt", weights_only=False)
    again = k.trainer(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert again.try_resume()
    assert k.progress(again) == 1
    assert str(tmp_path / "last.pt") in caplog.text and "cannot be read" in caplog.text
    assert (tmp_path / "last.corrupt.pt").exists() and not (tmp_path / "last.pt").exists()
    k.run(again)  # and training goes on to the end
    assert k.progress(again) == k.total
    third = k.trainer(tmp_path)  # a further rerun finds a good checkpoint
    assert third.try_resume() and k.progress(third) == k.total


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_checkpoint_without_a_previous_one_starts_over_with_a_warning(kind, tmp_path, caplog):
    k = KINDS[kind]
    first = k.trainer(tmp_path)
    k.run(first, 1)
    assert not checkpoints.previous_path(tmp_path / "last.pt").exists()
    truncate(tmp_path / "last.pt")
    again = k.trainer(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert not again.try_resume()
    assert "starts over" in caplog.text and str(tmp_path / "last.pt") in caplog.text
    assert k.progress(again) == 0
    k.run(again, 1)
    assert k.progress(again) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_flipped_weight_bytes_in_a_checkpoint_fail_the_hash(kind, tmp_path, caplog):
    k = KINDS[kind]
    first = k.trainer(tmp_path)
    k.run(first, 2)
    flip_weight_bytes(tmp_path / "last.pt")
    torch.load(tmp_path / "last.pt", weights_only=False)  # torch alone reads the damaged file without complaint
    with pytest.raises(CheckpointError, match="differs from the hash"):
        checkpoints.load(tmp_path / "last.pt", weights_only=False)
    again = k.trainer(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert again.try_resume()
    assert k.progress(again) == 1 and "differs from the hash" in caplog.text


def test_writing_a_checkpoint_keeps_exactly_one_previous_version(tmp_path):
    k = KINDS["prior"]
    tr = k.trainer(tmp_path)
    k.run(tr, 3)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["last.prev.pt", "last.pt"]
    assert checkpoints.load(tmp_path / "last.pt", weights_only=False)["step"] == 3
    assert checkpoints.load(tmp_path / "last.prev.pt", weights_only=False)["step"] == 2


def test_kill_between_the_renames_of_a_checkpoint_write_resumes_from_the_previous_one(tmp_path, caplog):
    k = KINDS["prior"]
    tr = k.trainer(tmp_path)
    k.run(tr, 2)
    (tmp_path / "last.pt").unlink()  # what a kill after "last.pt -> last.prev.pt" and before "new -> last.pt" leaves
    again = k.trainer(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert again.try_resume()
    assert k.progress(again) == 1 and "resuming from the previous" in caplog.text


# ============================================================================ 5-7: model files
@pytest.mark.parametrize("damage", ["truncated", "flipped", "text", "random", "tensor"])
@pytest.mark.parametrize("kind", KINDS)
def test_damaged_model_file_is_refused_naming_the_path(kind, damage, model_files, tmp_path):
    path = tmp_path / f"{kind}.pt"
    shutil.copy(model_files[kind], path)
    KINDS[kind].load(path)  # the intact file loads
    if damage == "truncated":
        truncate(path)
    elif damage == "flipped":
        flip_weight_bytes(path)
    else:
        make_foreign(path, damage)
    problem = {
        "truncated": "cannot be read",
        "flipped": "differs from the hash",
        "text": "cannot be read",
        "random": "cannot be read",
        "tensor": "holds a Tensor",
    }[damage]
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*" + problem):
        KINDS[kind].load(path)


def test_prior_file_whose_weights_do_not_fit_its_configuration_names_the_path(model_files, tmp_path):
    blob = checkpoints.load(model_files["prior"])
    blob["model_config"] = {**blob["model_config"], "channels": 16}
    checkpoints.save(tmp_path / "p.pt", blob)
    with pytest.raises(CheckpointError, match=re.escape(str(tmp_path / "p.pt")) + ".*do not fit"):
        load_prior(tmp_path / "p.pt", device="cpu")
    del blob["ema_state_dict"]
    checkpoints.save(tmp_path / "q.pt", blob)
    with pytest.raises(CheckpointError, match="lacks the entries \\['ema_state_dict'\\]"):
        load_prior(tmp_path / "q.pt", device="cpu")


def test_content_hash_survives_a_round_trip_and_changes_with_any_value(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {
        "model": net.state_dict(),
        "opt": opt.state_dict(),
        "gen": torch.Generator().manual_seed(3).get_state(),
        "bf16": torch.ones(4, dtype=torch.bfloat16),
        "empty": torch.zeros(0, 5),
        "history": [{"step": 1, "loss": 0.5, "note": None}],
        "shape": (2, 3),
    }
    digest = checkpoints.save(tmp_path / "s.pt", state)
    back = torch.load(tmp_path / "s.pt", weights_only=False)
    assert back.pop(checkpoints.HASH_KEY) == digest == checkpoints.content_digest(back)
    changed = {**state, "history": [{"step": 1, "loss": 0.5000001, "note": None}]}
    assert checkpoints.content_digest(changed) != digest
    bumped = {**state, "bf16": torch.tensor([1.0, 1.0, 1.0, 1.0078125], dtype=torch.bfloat16)}
    assert checkpoints.content_digest(bumped) != digest


# ============================================================================ 9-17, 22: samplers and the denoiser
def _problem():
    g = torch.Generator().manual_seed(0)
    prior = random_beatlike_gmm((2, 6), n_components=2, rank=2, generator=g)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0] = True
    op = Mask(mask)
    return prior, op, op.forward(prior.sample(1, g).float())[0]


def _with(y: torch.Tensor, index: int, value: float) -> torch.Tensor:
    y = y.clone()
    y[index] = value
    return y


def test_sampler_list_is_complete():
    assert available() == sorted(SAMPLERS)


@pytest.mark.parametrize("name", SAMPLERS)
def test_nan_in_y_is_refused_by_every_sampler(name):
    prior, op, y = _problem()
    with pytest.raises(ValueError, match=r"observations y contains 1 NaN .*index \(0, 2\)"):
        get_sampler(name, **FAST[name]).sample(prior, _with(y, 2, float("nan")), op, 0.1, 3)


@pytest.mark.parametrize("name", SAMPLERS)
def test_inf_in_y_is_refused_by_every_sampler(name):
    prior, op, y = _problem()
    with pytest.raises(ValueError, match=r"observations y contains 1 inf .*index \(0, 4\)"):
        get_sampler(name, **FAST[name]).sample(prior, _with(y, 4, float("-inf")), op, 0.1, 3)


@pytest.mark.parametrize("name", SAMPLERS)
def test_nan_in_sigma_y_is_refused_by_every_sampler(name):
    prior, op, y = _problem()
    sigma = _with(torch.full((6,), 0.1), 1, float("nan"))
    with pytest.raises(ValueError, match=r"noise std sigma_y contains 1 NaN .*index \(0, 1\)"):
        get_sampler(name, **FAST[name]).sample(prior, y, op, sigma, 3)


def _broken_below(prior, level: float, value: float):
    """The prior's denoiser, with ``value`` added to its output below noise level ``level`` (no gradient path)."""

    def den(x, sigma):
        bad = torch.where(sigma < level, value, 0.0).reshape(-1, 1, 1).to(x.dtype)
        return prior(x, sigma) + bad

    return den


@pytest.mark.parametrize("name", SAMPLERS)
def test_denoiser_returning_nan_is_reported_with_its_noise_level(name):
    prior, op, y = _problem()
    with pytest.raises(
        FloatingPointError, match=r"denoiser returned \d+ NaN of \d+ values at noise level sigma = "
    ) as e:
        get_sampler(name, **FAST[name]).sample(_broken_below(prior, 1.0, float("nan")), y, op, 0.1, 3)
    level = float(re.search(r"sigma = ([0-9.e+-]+)", str(e.value)).group(1))
    assert 0 < level < 1.0


@pytest.mark.parametrize("name", SAMPLERS)
def test_denoiser_returning_inf_is_reported_with_its_noise_level(name):
    prior, op, y = _problem()
    with pytest.raises(FloatingPointError, match=r"denoiser returned \d+ inf of \d+ values at noise level sigma = "):
        get_sampler(name, **FAST[name]).sample(_broken_below(prior, 1.0, float("inf")), y, op, 0.1, 3)


@pytest.mark.parametrize("name", ["dps", "pgdm", "mgps"])
def test_nan_gradient_through_the_denoiser_is_reported_as_a_divergence(name):
    prior, op, y = _problem()

    def den(x, sigma):  # finite output, NaN gradient (torch.where differentiates both branches)
        out = prior(x, sigma)
        return torch.where(sigma.reshape(-1, 1, 1) < 0, out * float("nan"), out)

    with pytest.raises(FloatingPointError, match=r"states hold \d+ NaN .*\(the previous call was at sigma = "):
        get_sampler(name, **FAST[name]).sample(den, y, op, 0.1, 3)


def test_denoiser_returning_a_non_tensor_is_named():
    prior, op, y = _problem()
    with pytest.raises(TypeError, match="denoiser returned a ndarray"):
        get_sampler("ddnm", steps=4).sample(lambda x, s: prior(x, s).numpy(), y, op, 0.1, 2)


@pytest.mark.parametrize("n", [2.5, True, 0])
def test_n_samples_must_be_a_positive_integer(n):
    prior, op, y = _problem()
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        get_sampler("ddnm", steps=4).sample(prior, y, op, 0.1, n)


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("dps", {"sigma_max": float("inf")}, "sigma_max must be > 0 and finite"),
        ("dps", {"zeta": float("nan")}, "zeta must be >= 0 and finite"),
        ("mcgdiff", {"rho": float("inf")}, "rho must be > 0 and finite"),
        ("reddiff", {"lr": float("nan")}, "lr must be > 0 and finite"),
    ],
)
def test_nan_or_inf_sampler_options_are_refused(name, options, match):
    with pytest.raises(ValueError, match=match):
        get_sampler(name, **options)


def test_nan_conditioning_is_refused_by_the_prior_denoiser(model_files):
    prior = load_prior(model_files["prior"], device="cpu")
    cond = prior.condition([60, 70], ["M", "F"], [800, 900])
    cond[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"conditioning vectors of rows \[1\] hold NaN"):
        prior.denoiser(cond)


# ============================================================================ 18-21: noise estimation
NOISE = NoiseEstimation(iterations=2, runs=2, particles=4)


def test_noise_estimation_refuses_nan_observations():
    prior, op, y = _problem()
    with pytest.raises(ValueError, match=r"observations y contains 1 NaN .*index \(0, 3\)"):
        NOISE.estimate(prior, _with(y, 3, float("nan")), op, groups="all")


def test_noise_estimation_reports_a_nan_denoiser_with_its_noise_level():
    prior, op, y = _problem()
    with pytest.raises(FloatingPointError, match="denoiser returned .* NaN .* at noise level sigma = "):
        NOISE.estimate(_broken_below(prior, 1.0, float("nan")), y, op, groups="all")


def test_noise_estimation_reports_a_diverging_estimate():
    prior, op, y = _problem()
    with pytest.raises(FloatingPointError, match="estimate is not finite after iteration 1"):
        NOISE.estimate(prior, y * 1e30, op, groups="all")


def test_noise_estimation_refuses_a_nan_initial_value():
    prior, op, y = _problem()
    with pytest.raises(ValueError, match="init .* contains 1 NaN"):
        NOISE.estimate(prior, y, op, groups="all", init=float("nan"))
    with pytest.raises(ValueError, match="init must be > 0 and finite"):
        NoiseEstimation(init=float("inf"))


# ============================================================================ 23-29: configuration
def _refused_by_schema(config: dict) -> str:
    with pytest.raises(Exception) as e:  # noqa: B017 - Snakemake's WorkflowError around the schema's ValidationError
        with parsed_workflow(config=config):
            pass
    assert "Error validating config file" in str(e.value)
    return str(e.value)


def test_negative_particle_count_fails_the_dry_run_naming_the_key():
    msg = _refused_by_schema({"inverse": {"mcgdiff": {"particles": -1}}})
    assert "-1 is less than the minimum of 1" in msg and "['inverse']['mcgdiff']['particles']" in msg


def test_misspelt_sampler_option_fails_the_dry_run_naming_the_key():
    msg = _refused_by_schema({"inverse": {"mgps": {"grad_step": 3}}})
    assert "'grad_step' was unexpected" in msg and "['inverse']['properties']['mgps']" in msg


def test_non_integer_steps_fails_the_dry_run_naming_the_key():
    msg = _refused_by_schema({"inverse": {"dps": {"steps": "four"}}})
    assert "'four' is not of type 'integer'" in msg and "['inverse']['dps']['steps']" in msg


def test_schema_sampler_options_are_the_samplers_fields():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    inverse = schema["properties"]["inverse"]["properties"]
    assert sorted(inverse) == sorted(SAMPLERS)
    for name in SAMPLERS:
        assert inverse[name]["additionalProperties"] is False
        assert set(inverse[name]["properties"]) == {f.name for f in fields(_REGISTRY[name])}, name


def test_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: bad\ntasks:\n  shards: 2\n   threads: 3\n")
    with pytest.raises(ConfigFileError, match=re.escape(str(bad)) + ", line 4, column 11: mapping values"):
        check_yaml_file(bad)
    bad.write_text("run: bad\nseed: [1, 2\n")
    with pytest.raises(ConfigFileError, match=re.escape(str(bad)) + ", line 3"):
        check_yaml_file(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigFileError, match="mapping of keys at its top level, got a list"):
        check_yaml_file(bad)


def test_yaml_syntax_error_in_the_default_config_stops_the_workflow_naming_file_and_line(tmp_path):
    (tmp_path / "config").mkdir()
    text = (REPO / "config/config.yaml").read_text().replace("run: ", "run:: [", 1)
    (tmp_path / "config/config.yaml").write_text(text)
    line = 1 + text.splitlines().index(next(s for s in text.splitlines() if s.startswith("run:: [")))
    with pytest.raises(Exception, match=r"config/config.yaml, line \d+") as e:  # noqa: B017
        with parsed_workflow(workdir=tmp_path):
            pass
    assert int(re.search(r"line (\d+)", str(e.value)).group(1)) >= line


def test_key_given_twice_in_a_configfile_is_refused(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("run: dup\nseed: 1\nlabel: x\nseed: 2\n")
    with pytest.raises(Exception, match=r"dup.yaml, line 4.*'seed' is given twice \(first at line 2\)"):  # noqa: B017
        with parsed_workflow([str(dup)]):
            pass


# ============================================================================ 30-34: tasks
@pytest.fixture
def db_without_cv(tmp_path):
    from task_helpers import GaussianBeatPrior, make_db

    return make_db(tmp_path / "db", GaussianBeatPrior(length=16), {"train": 2, "test": 6, "mi": 3})


def _anomaly_ctx(**section):
    from test_tasks import make_ctx

    return make_ctx("anomaly", anomaly={"n_samples": 4, "controls": "all", **section})


def test_control_split_missing_from_the_database_is_skipped_with_a_log_line(db_without_cv, caplog):
    from ecgdiff.tasks.beat import anomaly

    ctx = _anomaly_ctx(control_splits=["test", "cv"])
    with caplog.at_level(logging.INFO, logger="ecgdiff.tasks.beat.anomaly"):
        x, meta = anomaly.cohort(db_without_cv, ctx)
    assert "'cv', which has no patient: skipped" in caplog.text
    assert (meta["group"] == "control").sum() == 6 and (meta["group"] == "mi").sum() == 3
    assert set(meta.loc[meta["group"] == "control", "split"]) == {"test"} and len(x) == 9


def test_patients_of_a_missing_split_raise_unless_missing_ok(db_without_cv):
    with pytest.raises(ValueError, match="has no beat in split 'cv'"):
        db_without_cv.patients("cv", 0)
    beats, meta = db_without_cv.patients("cv", 0, missing_ok=True)
    assert beats.shape == (0, *db_without_cv.beats.shape[1:]) and beats.dtype == np.float32
    assert len(meta) == 0 and list(meta.columns) == list(db_without_cv.meta.columns)


def test_no_control_split_present_is_an_error_naming_the_splits(db_without_cv):
    from ecgdiff.tasks.beat import anomaly

    with pytest.raises(ValueError, match=r"no control patient.*\['cv'\]"):
        anomaly.cohort(db_without_cv, _anomaly_ctx(control_splits=["cv"]))


def test_anomaly_leads_both_observed_and_scored_are_refused():
    with pytest.raises(ValueError, match=r"leads \['aVL'\] are both observed and scored"):
        _anomaly_ctx(scored=["aVL", "V1"])


@pytest.mark.parametrize("damage", ["truncated", "flipped", "text"])
def test_damaged_task_shard_file_is_refused_naming_the_path(damage, tmp_path):
    from ecgdiff.tasks import shards

    path = tmp_path / "shard_0.npz"
    shards.save_shard(path, {"x": np.arange(2000.0)}, {"task": "anomaly", "shard": 0, "n_shards": 1})
    assert shards.load_shards([path])[0].arrays["x"][-1] == 1999.0
    if damage == "truncated":
        truncate(path)
    elif damage == "flipped":
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 3] ^= 0x40
        path.write_bytes(bytes(raw))
    else:
        path.write_text("not a shard")
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": not a readable task shard file"):
        shards.load_shards([path])


# ============================================================================ 35-36: settings dataclasses
@pytest.mark.parametrize(
    "kw, match",
    [
        ({"lr": -1e-4}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"lr_warmup_steps": -1}, "lr_warmup_steps must be >= 0"),
        ({"grad_clip": 0.0}, "grad_clip must be a finite number > 0 or None"),
    ],
)
def test_train_config_refuses_bad_optimiser_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"channels": 0}, "channels must be >= 1"),
        ({"dropout": 1.5}, "dropout must be in"),
        ({"channel_mult": []}, "channel_mult"),
    ],
)
def test_unet_config_refuses_bad_sizes(kw, match):
    with pytest.raises(ValueError, match=match):
        UNetConfig(**kw)
