"""Tests of harness.grading.pool: per-task timeouts, killing and replacing workers."""

from __future__ import annotations

import time

import pytest

from harness.grading.pool import KillablePool, PoolError


@pytest.fixture
def sleeper() -> KillablePool:
    pool = KillablePool("time:sleep", workers=2)
    yield pool
    pool.close()


def test_results_errors_and_timeouts(sleeper: KillablePool) -> None:
    assert sleeper.submit((0.01,), timeout_s=5).result(timeout=30) == ("ok", None)  # workers are up
    start = time.monotonic()
    stuck = sleeper.submit((60,), timeout_s=0.5)
    quick = [sleeper.submit((0.05,), timeout_s=5) for _ in range(4)]
    bad = sleeper.submit(("not a number",), timeout_s=5)
    assert stuck.result(timeout=10) == ("timeout", None)
    assert time.monotonic() - start < 1.5  # killed at its deadline, not after 60 s
    assert [f.result(timeout=10) for f in quick] == [("ok", None)] * 4  # the other worker went on
    status, message = bad.result(timeout=10)
    assert status == "error" and "TypeError" in message
    assert sleeper.restarts == 1
    assert sleeper.submit((0.01,), timeout_s=5).result(timeout=30) == ("ok", None)  # replacement works


def test_worker_crash_is_reported_and_replaced() -> None:
    pool = KillablePool("os:_exit", workers=1)
    try:
        assert pool.submit((3,), timeout_s=5).result(timeout=30) == ("crash", None)
        assert pool.restarts == 1
    finally:
        pool.close()


def test_close_fails_pending_tasks_and_refuses_new_ones() -> None:
    pool = KillablePool("time:sleep", workers=1)
    running = pool.submit((60,), timeout_s=120)
    queued = pool.submit((0,), timeout_s=5)
    pool.close()
    assert running.result(timeout=10) == ("crash", None)
    assert queued.result(timeout=10) == ("crash", None)
    with pytest.raises(PoolError, match="closed"):
        pool.submit((0,), timeout_s=1)


def test_rejects_zero_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        KillablePool("time:sleep", workers=0)
