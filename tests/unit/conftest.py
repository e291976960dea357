"""Session fixtures of the single-record tests (readers, scales, command line): a beat database of real LUDB beats
and a tiny prior trained on it (:mod:`record_fixtures`)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ludb_run(physionet_mirror, tmp_path_factory):
    """A run folder laid out like the workflow's (``data/beats``, ``models/prior_conditional.pt``)."""
    import torch
    from record_fixtures import build_beat_db, train_tiny_prior

    root = tmp_path_factory.mktemp("run")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        db = build_beat_db(physionet_mirror, root)
        train_tiny_prior(db, root / "models" / "prior_conditional.pt")
    finally:
        torch.set_num_threads(threads)
    return root


@pytest.fixture(scope="session")
def ludb_db(ludb_run):
    from ecgdiff.data import dataset

    return dataset.load(ludb_run / "data" / "beats")
