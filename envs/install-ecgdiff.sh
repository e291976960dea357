#!/usr/bin/env bash
# Installs the ecgdiff package into a new workflow environment (Snakemake runs this after creating it).
# Snakemake copies environment files into .snakemake/conda/, so a path relative to envs/ in the pip
# section would not find the package: this script uses the working directory instead (the repository
# root, where snakemake runs), or ECGDIFF_ROOT when set. --no-deps: every dependency comes from conda.
set -euo pipefail
root="${ECGDIFF_ROOT:-$PWD}"
if ! grep -qs '^name = "ecgdiff"$' "$root/pyproject.toml"; then
    echo "ecgdiff not found in $root (run snakemake from the repository root or set ECGDIFF_ROOT)" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation --editable "$root"
python -c "import ecgdiff, torch; print('ecgdiff', ecgdiff.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda)"
