"""Offline checks of the conda environments (envs/*.yaml): conda cannot run here, so everything that can
be checked without a solver is: the files parse, use conda-forge only, pin every package exactly, agree
with requirements.txt (what CI installs with pip), carry every dependency of the package, and every
`conda:` directive of the workflow names one of them.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflow_inprocess import REPO, parsed_workflow  # noqa: E402

ENVS = REPO / "envs"
ENV_FILES = sorted(ENVS.glob("*.yaml"))
GROUPS = {"data": "cpu", "train": "cuda", "sample": "cuda", "plot": "cpu"}  # group -> torch build
CHANNELS = ["conda-forge", "nodefaults"]
# conda-forge name -> PyPI name, where they differ (matplotlib-base: matplotlib without the Qt backend).
PYPI_NAME = {"pytorch": "torch", "pot": "POT", "pyyaml": "PyYAML", "matplotlib-base": "matplotlib"}
# conda packages that exist only to build and install the package itself (not in requirements.txt).
TOOLING = {"python", "pip", "setuptools"}
EXACT_VERSION = re.compile(r"^==[0-9][0-9A-Za-z.+_]*$")


def norm(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not pinned with =="
            pins[norm(name)] = version.strip()
    return pins


def runtime_dependencies() -> set[str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {norm(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in deps}


def load(path: Path) -> dict:
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict), f"{path.name}: not a YAML mapping"
    return env


def specs(env: dict) -> list[str]:
    return [d for d in env["dependencies"] if isinstance(d, str)]


def parse(spec: str):
    """(name, version, build) of a conda spec, parsed strictly by py-rattler (as conda/mamba would)."""
    rattler = pytest.importorskip("rattler", reason="py-rattler (requirements.txt) parses conda specs")
    m = rattler.MatchSpec(spec, strict=True)
    return m.name.normalized, str(m.version) if m.version is not None else None, m.build


def test_the_four_groups_have_environments():
    assert {p.stem for p in ENV_FILES} == set(GROUPS)


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_environment_file_shape(path):
    env = load(path)
    assert set(env) == {"name", "channels", "dependencies"}, f"{path.name}: keys {sorted(env)}"
    assert env["name"] == f"ecgdiff-{path.stem}"
    assert env["channels"] == CHANNELS, f"{path.name}: channels must be exactly {CHANNELS} (no defaults channel)"
    assert all(isinstance(d, str) for d in env["dependencies"]), (
        f"{path.name}: a pip section; every package comes from conda-forge (the package itself from post-deploy)"
    )


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_every_package_is_pinned_exactly(path):
    for spec in specs(load(path)):
        name, version, _ = parse(spec)
        assert version is not None and EXACT_VERSION.match(version), f"{path.name}: {spec!r} is not pinned with =="
        assert "::" not in spec, f"{path.name}: {spec!r} names a channel; the file's channels decide"
    names = [parse(s)[0] for s in specs(load(path))]
    assert len(names) == len(set(names)), f"{path.name}: a package listed twice: {names}"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_pins_agree_with_requirements(path):
    pins = requirements()
    for spec in specs(load(path)):
        name, version, _ = parse(spec)
        if name in TOOLING:
            continue
        pypi = norm(PYPI_NAME.get(name, name))
        assert pypi in pins, f"{path.name}: {name} (PyPI {pypi}) is not in requirements.txt"
        assert version == f"=={pins[pypi]}", (
            f"{path.name}: {name} {version} but requirements.txt has {pypi}=={pins[pypi]}"
        )


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_every_runtime_dependency_is_in_the_environment(path):
    """post-deploy installs the package with --no-deps: conda must provide all of pyproject's dependencies."""
    present = {norm(PYPI_NAME.get(n, n)) for n, _, _ in map(parse, specs(load(path)))}
    missing = runtime_dependencies() - present
    assert not missing, f"{path.name} lacks {sorted(missing)} (pyproject.toml dependencies)"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_python_matches_the_package(path):
    from packaging.specifiers import SpecifierSet

    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    (version,) = [v for n, v, _ in map(parse, specs(load(path))) if n == "python"]
    assert version.removeprefix("==") in SpecifierSet(requires)


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_torch_build_matches_the_group(path):
    """GPU groups get the CUDA build of pytorch, the others the CPU build (conda-forge build strings)."""
    (build,) = [b for n, _, b in map(parse, specs(load(path))) if n == "pytorch"]
    assert build == f"{GROUPS[path.stem]}*", f"{path.name}: pytorch build {build!r}"


def test_environments_differ_only_in_the_torch_build():
    deps = {p.stem: sorted(s for s in specs(load(p)) if not s.startswith("pytorch")) for p in ENV_FILES}
    first = next(iter(deps.values()))
    assert all(d == first for d in deps.values()), deps


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_post_deploy_installs_the_package(path):
    script = ENVS / f"{path.stem}.post-deploy.sh"
    assert script.exists(), f"{script.name} missing: nothing would install ecgdiff into {path.name}"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"pip install --no-deps --no-build-isolation --editable \"\$root\"", text)
    template = (ENVS / "data.post-deploy.sh").read_text()
    assert text.replace(path.stem, "data") == template, f"{script.name} differs from data.post-deploy.sh"


def test_post_deploy_refuses_a_folder_without_the_package(tmp_path):
    import subprocess

    done = subprocess.run(
        ["bash", str(ENVS / "data.post-deploy.sh")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert done.returncode == 1 and "ecgdiff not found" in done.stderr


def test_strict_parser_rejects_malformed_specs():
    """The check above would catch these (so it is not vacuous)."""
    rattler = pytest.importorskip("rattler")
    for bad in ("pytorch=2.13.0=cuda*", "numpy 2.4.6", "numpy==2.4.6==x y"):
        with pytest.raises(Exception):  # noqa: B017  (rattler raises its own parse error types)
            rattler.MatchSpec(bad, strict=True)
    assert not EXACT_VERSION.match(str(rattler.MatchSpec("numpy=2.4", strict=True).version))
    assert not EXACT_VERSION.match(str(rattler.MatchSpec("numpy>=2.4", strict=True).version))


def test_every_conda_directive_names_an_environment_file():
    with parsed_workflow() as workflow:
        used = {}
        for rule in workflow.rules:
            if rule.name == "all":
                continue
            assert isinstance(rule.conda_env, str), f"rule {rule.name}: conda: must be one of the ENV_* paths"
            path = (Path(rule.snakefile).parent / rule.conda_env).resolve()
            assert path.exists(), f"rule {rule.name}: conda env {rule.conda_env} does not exist"
            assert path.parent == ENVS, f"rule {rule.name}: conda env {rule.conda_env} is not in envs/"
            used.setdefault(path.stem, []).append(rule.name)
    assert set(used) <= set(GROUPS)


@pytest.mark.slow
def test_post_deploy_installs_the_package_into_the_active_environment(tmp_path):
    """Run a post-deploy script as Snakemake does (environment activated, from the repository root) in a
    stand-in for the conda environment: a venv that sees this interpreter's packages after its own (as
    conda would provide them) and has the setuptools the environment files pin."""
    import os
    import site
    import subprocess
    import sysconfig

    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    env_site = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    (Path(env_site) / "outer-packages.pth").write_text("\n".join(sorted(outer)) + "\n")  # torch, numpy, ... as conda's
    (setuptools,) = [s for s in specs(load(ENVS / "data.yaml")) if s.startswith("setuptools")]
    pip = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", setuptools],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    path = f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", str(ENVS / "data.post-deploy.sh")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path, "VIRTUAL_ENV": str(env_dir)},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ecgdiff 0.1.0 torch" in done.stdout
    where = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-c",
            "import importlib.metadata as m, ecgdiff; print(m.distribution('ecgdiff')._path); print(ecgdiff.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=tmp_path,
    ).stdout.split()
    assert where[0].startswith(str(env_dir)), f"ecgdiff's metadata is not in the environment: {where[0]}"
    assert Path(where[1]).resolve().is_relative_to(REPO / "src"), f"not an editable install of {REPO}: {where[1]}"
