"""The one base class of errors a user can fix, and how every entry point shows them.

A ``UserError`` is bad input (a config value out of range, a missing data file, a model that
cannot be had, a run directory in use...): its message is one line naming the fix, and every
entry point prints it as ``error: <message>`` and exits with status 2. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

USAGE_EXIT = 2  # what argparse and Hydra use for bad command lines


class UserError(Exception):
    """Bad input the user can fix; the message is one line naming the fix."""


class MissingPackage(UserError):
    """An optional package the chosen path needs is not installed; the message says how to install it."""


def report_and_exit(err: UserError) -> NoReturn:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(USAGE_EXIT)


def run_cli(main: Callable[[], int | None]) -> NoReturn:
    """``sys.exit(main())``, a ``UserError`` printed as one line (exit status 2)."""
    try:
        code = main()
    except UserError as err:
        report_and_exit(err)
    sys.exit(code)
