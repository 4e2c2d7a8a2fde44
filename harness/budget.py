"""Parse per-problem wall-clock budgets: ``500ms``, ``60s``, ``5m``, ``1h``, ``1h30m`` or seconds."""

from __future__ import annotations

import re

from harness.errors import UserError

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# Units must appear largest first, each at most once: "1h30m" yes, "30m1h" no.
_BUDGET = re.compile(r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+(?:\.\d+)?)ms)?")


class BudgetError(UserError):
    pass


def parse_budget(value: str | int | float) -> float:
    """Seconds per problem; raises BudgetError with a one-line fix for anything else."""
    hint = "use e.g. budget=500ms, 60s, 5m, 1h, 1h30m or a number of seconds"
    if isinstance(value, bool):
        raise BudgetError(f"budget {value!r} is not a duration: {hint}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            match = _BUDGET.fullmatch(text)
            if not text or match is None or not any(match.groupdict().values()):
                raise BudgetError(f"budget {value!r} is malformed: {hint}") from None
            seconds = sum(float(v) * _UNIT_SECONDS[k] for k, v in match.groupdict().items() if v)
    if not seconds > 0 or seconds == float("inf"):
        raise BudgetError(f"budget {value!r} must be a positive, finite duration: {hint}")
    return seconds
