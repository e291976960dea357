"""ecgdiff.runinfo: the configuration and software tables of the report's "Run information"."""

import json

import pytest

from ecgdiff import runinfo
from ecgdiff.tables import read_table, read_table_provenance


def test_flatten_joins_nested_keys_and_keeps_lists_and_empty_sections_as_leaves():
    config = {
        "run": "tiny",
        "data": {"synthetic": {"n_patients": 24}, "split": {"fractions": {"train": 0.8}}},
        "leads": ["V1", "V2"],
        "prior": {},
    }
    assert runinfo.flatten(config) == [
        ("run", '"tiny"'),
        ("data.synthetic.n_patients", "24"),
        ("data.split.fractions.train", "0.8"),
        ("leads", '["V1", "V2"]'),
        ("prior", "{}"),
    ]


def test_environment_record_describes_this_interpreter(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_JOB_PARTITION", "gpu")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    record = runinfo.environment_record("train")
    import numpy
    import torch

    assert record["group"] == "train"
    assert record["packages"]["numpy"] == numpy.__version__
    assert record["packages"]["torch"] == torch.__version__
    assert record["torch_cuda"] == torch.version.cuda
    assert record["cuda_available"] == torch.cuda.is_available()
    assert record["job"] == {"SLURM_JOB_ID": "42", "SLURM_JOB_PARTITION": "gpu"}
    assert runinfo.package_version("no-such-distribution-ecgdiff") is None


def record(group, torch="2.13.0+cpu", job=None):
    return {
        "group": group,
        "python": "3.11.7",
        "executable": f"/envs/{group}/bin/python",
        "platform": "Linux",
        "host": "node1",
        "ecgdiff": "0.1.0",
        "packages": {"torch": torch, "POT": None},
        "torch_cuda": None if "cpu" in torch else "12.9",
        "cuda_available": "cpu" not in torch,
        "gpus": [] if "cpu" in torch else ["NVIDIA H100"],
        "job": job or {},
    }


def test_software_table_has_one_column_per_environment():
    table = runinfo.software_table(
        [record("data"), record("train", "2.13.0", {"SLURM_JOB_PARTITION": "gpu"})], snakemake_version="9.27.1"
    )
    rows = table.set_index("item")
    assert list(table.columns) == ["item", "data", "train"]
    assert rows.loc["snakemake (the workflow engine)", "data"] == "9.27.1"
    assert rows.loc["package torch", "train"] == "2.13.0"
    assert rows.loc["package POT", "data"] == "not installed"
    assert rows.loc["torch CUDA build", "data"] == "none (CPU build)"
    assert rows.loc["torch CUDA build", "train"] == "12.9"
    assert rows.loc["GPUs", "train"] == "NVIDIA H100" and rows.loc["GPUs", "data"] == "none"
    assert rows.loc["job SLURM_JOB_PARTITION", "train"] == "gpu" and rows.loc["job SLURM_JOB_PARTITION", "data"] == ""


def test_software_table_refuses_missing_or_repeated_groups():
    with pytest.raises(ValueError, match="no environment"):
        runinfo.software_table([])
    with pytest.raises(ValueError, match="repeated"):
        runinfo.software_table([record("data"), record("data")])


def test_write_run_info_writes_both_tables_with_provenance(tmp_path):
    paths = []
    for group in ("data", "plot"):
        p = tmp_path / f"software_{group}.json"
        p.write_text(json.dumps(record(group)))
        paths.append(p)
    config = {"run": "t", "label": "TEST", "seed": 3, "data": {"fs": 250}}
    out = {k: str(tmp_path / f"{k}") for k in ("cfg.csv", "cfg.md", "sw.csv", "sw.md")}
    runinfo.write_run_info(config, paths, out["cfg.csv"], out["cfg.md"], out["sw.csv"], out["sw.md"], "9.27.1")
    cfg = read_table(out["cfg.csv"])
    assert cfg.values.tolist() == [["run", '"t"'], ["label", '"TEST"'], ["seed", "3"], ["data.fs", "250"]]
    assert read_table_provenance(out["cfg.csv"])["seed"] == 3
    sw = read_table(out["sw.csv"])
    assert list(sw.columns) == ["item", "data", "plot"]
    assert "TEST" in (tmp_path / "sw.md").read_text()
