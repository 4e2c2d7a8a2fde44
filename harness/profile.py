"""``python -m harness.profile``: the command keeps its name; its code is `harness.ops.profile`."""

import sys

from harness.ops.profile import main

if __name__ == "__main__":
    sys.exit(main())
