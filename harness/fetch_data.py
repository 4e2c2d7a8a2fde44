"""``python -m harness.fetch_data`` (``make data``): the command keeps its name; its code is
`harness.ops.fetch_data`."""

from harness.errors import run_cli
from harness.ops.fetch_data import main

if __name__ == "__main__":
    run_cli(main)
