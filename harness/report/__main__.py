"""``python -m harness.report``: figures and tables of runs (see harness.report)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import harness.report as report
from harness.errors import UserError


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.report", description=report.__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path, help="run directories or folders holding them (default: results/)")
    ap.add_argument("--out", type=Path, default=Path("plots"), help="folder for figures and tables (default: plots)")
    ap.add_argument("--partial", action="store_true", help="plot runs with missing or mismatched shards as they are")
    ap.add_argument("--x", nargs="+", choices=report.X_AXES, default=["time"], metavar="AXIS",
                    help="x axes of the accuracy figures, one or more of: time (wall-clock seconds per problem), "
                         "tokens (generated tokens per problem), flops / bytes (analytic decode cost per problem); "
                         "default: time (the figure against samples is always made)")
    ap.add_argument("--reference", metavar="MODEL",
                    help="model (config model.name, 'name (engine)', or a run's whole legend label) whose accuracy "
                         "at its full budget the time-to-match table measures others against; default: per "
                         "dataset, the Transformer run with the largest budget (docs/metrics.md)")
    args = ap.parse_args(argv)
    try:
        files = report.write_report(args.runs or [Path("results")], args.out, args.partial, xs=args.x,
                                    reference=args.reference)
    except UserError as err:  # ReportError, or a results file the store cannot read
        print(f"report: {err}", file=sys.stderr)
        return 1
    print(f"report: wrote {len(files)} files to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
