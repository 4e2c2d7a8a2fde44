"""``python -m harness.grading RUN [--regrade]``: grade a run directory (see harness.grading.run)."""

import sys

from harness.grading.run import main

sys.exit(main())
