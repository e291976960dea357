"""The code style the project keeps: ruff's lint and format (configured in pyproject.toml) are clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def ruff(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(exe).exists():
        pytest.skip("ruff is not installed (pip install -r requirements.txt)")
    return subprocess.run([exe, *args], cwd=REPO, capture_output=True, text=True)


def test_ruff_check_is_clean():
    res = ruff("check", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_is_clean():
    res = ruff("format", "--check", ".")
    assert res.returncode == 0, res.stdout + res.stderr
