"""``python -m harness.status``: the command keeps its name; its code is `harness.ops.status`."""

from harness.errors import run_cli
from harness.ops.status import main

if __name__ == "__main__":
    run_cli(main)
