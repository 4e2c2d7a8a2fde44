"""The grader audit's worker side: Math-Verify's verdict on a whole sample, inside the grading
pool (`harness.grading.audit`, docs/grading.md).

Runs only in the pool's worker processes, in their main thread, where Math-Verify's own
SIGALRM timeouts work; the pool's deadline stays the hard limit above them.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from math_verify import parse, verify

logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # it logs every timeout and parse failure


@lru_cache(maxsize=4096)  # a worker sees each problem's gold answer many times
def _gold(gold: str) -> list:
    return parse(f"${gold}$")


def audit(gold: str, text: str) -> tuple[bool, str | None]:
    """Math-Verify's pipeline on one sample: (its verdict, the answer it extracted or None)."""
    pred = parse(text)
    answer = str(pred[-1]) if pred else None
    return bool(pred) and bool(verify(_gold(gold), pred)), answer

