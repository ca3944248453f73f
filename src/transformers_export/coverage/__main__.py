"""`python -m transformers_export.coverage`: the sweep's command line (see `sweep.py`)."""

import sys

from .sweep import main

sys.exit(main())
