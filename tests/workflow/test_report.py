"""The HTML report of a run: built with `snakemake --report`, self-contained, and shown in a browser.

A temporary copy of the workflow runs the tiny configuration's REPORT_TARGETS, then
`snakemake --report` writes the report for the same targets. Checked: every output the run marked
for the report is in it, byte for byte, with its caption; the file loads nothing from elsewhere; and
headless Chromium (Debian's package, installed when missing) renders the report and displays every
figure (each decoded to an image of non-zero size, as a reader clicking it would see it), with no
JavaScript error. Screenshots land in the test's temporary folder.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report_browser import chromium_reason, inspect_report  # noqa: E402
from workflow_inprocess import REPO, TINY, copy_workflow, parsed_workflow  # noqa: E402

pytestmark = pytest.mark.slow

RUN = yaml.safe_load((REPO / TINY).read_text())["run"]
# Outputs of the tiny run that the report test makes: the run information and the cheap figures.
REPORT_TARGETS = [
    f"results/{RUN}/tables/run_info.csv",
    f"results/{RUN}/tables/table3_dataset.csv",
    f"results/{RUN}/figures/fig12_age_histograms.png",
]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", TINY, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def report_variable(html: str, name: str):
    """A JSON variable the report defines in its `<script id=NAME>` block."""
    start = html.index(f'<script id="{name}">')
    start = html.index(f"var {name} = ", start) + len(f"var {name} = ")
    return json.JSONDecoder().raw_decode(html[start:])[0]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("report"))
    run = snakemake(work, "--cores", "2", *REPORT_TARGETS)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    html = work / "results" / RUN / "report.html"
    made = snakemake(work, "--report", str(html.relative_to(work)), *REPORT_TARGETS)
    assert made.returncode == 0 and html.exists(), (made.stdout + made.stderr)[-6000:]
    return work, html


def marked_for_report(work: Path) -> set[str]:
    """Outputs of the run's files that their rules mark with report()."""
    with parsed_workflow([TINY], workdir=work) as workflow:
        patterns = [f for rule in workflow.rules for f in rule.output if f.flags.get("report")]
    produced = {p.relative_to(work).as_posix() for p in (work / "results" / RUN).rglob("*") if p.is_file()}
    return {f for f in produced if any(re.fullmatch(p.regex().pattern, f) for p in patterns)}


def test_report_holds_every_marked_output_with_its_caption(report):
    work, html_path = report
    html = html_path.read_text()
    results = report_variable(html, "results")
    expected = marked_for_report(work)
    assert expected, "the run marked nothing for the report"
    assert set(results) == expected
    for path, entry in results.items():
        assert entry["caption"].strip(), f"{path} has no caption"
        payload = entry["data_uri"].split(";base64,", 1)[1]
        assert base64.b64decode(payload) == (work / path).read_bytes(), f"{path} differs in the report"
    categories = report_variable(html, "categories")
    assert "Run information" in categories


def test_report_shows_every_table_as_a_table(report):
    """Tables are in the report as their HTML view (shown inline), never as a CSV file offered for download."""
    _, html_path = report
    results = report_variable(html_path.read_text(), "results")
    tables = {p: e for p, e in results.items() if "/tables/" in p}
    assert {p.rsplit("/", 1)[1] for p in tables} >= {"run_info.html", "table3_dataset.html"}
    for path, entry in tables.items():
        assert entry["mime_type"] == "text/html", f"{path} is in the report as {entry['mime_type']}"
        page = base64.b64decode(entry["data_uri"].split(";base64,", 1)[1]).decode()
        assert "<table" in page and "<th" in page and "<td" in page, f"{path} holds no table"
        assert "run=" in page, f"{path} has no provenance footer"


def test_report_is_self_contained(report):
    _, html_path = report
    html = html_path.read_text()
    assert not re.search(r"<(script|img|iframe)[^>]+src=[\"']https?://", html), "loads a script or image from the web"
    assert not re.search(r"<link[^>]+href=[\"']https?://", html), "loads a stylesheet from the web"


def test_report_shows_every_figure_in_a_browser(report, tmp_path):
    reason = chromium_reason()
    if reason:
        pytest.skip(reason)
    work, html_path = report
    results = report_variable(html_path.read_text(), "results")
    info = inspect_report(html_path, screenshot_dir=tmp_path / "screenshots")
    assert info["errors"] == [], info["errors"]
    assert "Bayesian reconstruction of electrocardiograms" in info["text"], info["text"][:2000]
    assert sorted(info["results"]) == sorted(results)
    figures = {p for p, e in results.items() if e["mime_type"].startswith("image/")}
    assert set(info["shown"]) == figures
    for path, shown in info["shown"].items():
        assert shown and shown["complete"] and shown["width"] > 0 and shown["height"] > 0, f"{path}: {shown}"
    assert Path(info["screenshots"][0]).stat().st_size > 10_000
