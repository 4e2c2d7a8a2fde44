"""The one function the grading pool's workers run: a task is (kind, payload).

- ``("canon", strings)``: the canon of each normalised answer string (`harness.grading.symbolic`);
- ``("audit", (gold, text))``: Math-Verify's verdict on a sample (`harness.grading.audit_worker`).

The pool's server imports this module once and forks its workers from there, so both parsers
are warm in every worker, restarted ones too.
"""

from __future__ import annotations

from typing import Any

from harness.grading import audit_worker
from harness.grading.symbolic import canon_many


def run(kind: str, payload: Any) -> Any:
    if kind == "canon":
        return canon_many(payload)
    if kind == "audit":
        return audit_worker.audit(*payload)
    raise ValueError(f"unknown grading task {kind!r}")


audit_worker.audit("1", r"so $\boxed{\frac{1}{2}}$")  # warm Math-Verify's extraction up too
