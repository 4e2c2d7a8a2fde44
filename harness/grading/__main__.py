"""``python -m harness.grading RUN``: grade a run directory (see harness.grading.run)."""

import sys

from harness.grading.run import main

sys.exit(main())
