"""``python -m ecgdiff``: the ``ecgdiff`` command line (:mod:`ecgdiff.cli`)."""

import sys

from .cli import main

sys.exit(main())
