"""A task's table and figures from its shard files."""

import logging

from ecgdiff.runtime import log_to
from ecgdiff.tasks.inputs import LOADERS
from ecgdiff.tasks.steps import gather

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
outputs = dict(sm.output.items())
# figures are written as <stem>.png and <stem>.pdf: the task functions take the stem
outputs.update({key[: -len("_png")]: path[: -len(".png")] for key, path in sm.output.items() if key.endswith("_png")})
inputs = {name: path for name, path in sm.input.items() if name in LOADERS}
gather(sm.params.task, sm.params.data_dir, list(sm.input.shards), sm.params.settings, outputs, inputs=inputs)
logging.info("wrote %s", ", ".join(sm.output))
