"""Devices, threads and seeds: the few process-wide settings every entry point makes the same way."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def pick_device(preference: str = "auto") -> torch.device:
    """``'auto'`` picks CUDA when available, else CPU; ``'cpu'``/``'cuda'``/``'cuda:N'`` are taken as given."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(preference)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {preference!r} requested but CUDA is not available")
    return dev


def set_threads(n: int | None) -> None:
    """Limit torch's intra-op threads to ``n`` (the job's Snakemake ``threads``); None leaves the default."""
    if n:
        torch.set_num_threads(int(n))
        os.environ.setdefault("OMP_NUM_THREADS", str(int(n)))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a CPU generator seeded with ``seed`` for explicit use."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def log_to(path: str) -> None:
    """Send this process's logging to a rule's log file, uncaught exceptions included.

    Every workflow script calls this first, so that a rule that fails says why in its own log
    (Snakemake shows the log's path when a job fails).
    """
    import logging
    import sys

    logging.basicConfig(
        filename=path, level=logging.INFO, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.captureWarnings(True)

    def hook(*exc):  # type: ignore[no-untyped-def]
        logging.critical("failed", exc_info=exc)
        sys.__excepthook__(*exc)

    sys.excepthook = hook
