"""Equivalence of answers: `is_equivalent`, voting classes, and the canonicaliser behind both.

One comparison (`same_answer`) decides both whether a sample is correct and which samples vote
together (`form_classes`), so "same class" means "graded equal".
Only the sympy part of a comparison can hang or blow up, so it runs in the shared worker pool
under a timeout; normalisation, plain numbers and fractions, and the final comparison of
canonical forms run in the calling process. Canonical forms are cached per distinct normalised
string, so a pool of samples with many duplicates costs one sympy parse per distinct answer. A
timeout or parse failure grades "not equivalent" and is counted, never raised.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from harness.data.dataset import AnswerRule
from harness.grading.canonical import canon, fast_leaf
from harness.grading.compare import Canon, Rejected, canon_equal
from harness.grading.extraction import answer_rule
from harness.grading.normalization import normalize
from harness.grading.pool import KillablePool

DEFAULT_TIMEOUT_S = 5.0
_WORKER_TARGET = "harness.grading.worker:run"  # by name: importing it here would pull in sympy
_MAX_CACHE = 200_000  # distinct answers kept per canonicaliser before the cache is reset

_shared: KillablePool | None = None
_shared_lock = threading.Lock()


def shared_pool(workers: int) -> KillablePool:
    """The process-wide sympy pool, started on first use and grown to the most workers asked for.

    One pool serves every Grader and the module-level functions of a process; it is closed at
    interpreter exit (and its server ends with the process in any case).
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed:
            if _shared is None:
                atexit.register(close_shared_pool)
            _shared = KillablePool(_WORKER_TARGET, workers)
        elif _shared.size < workers:
            _shared.grow(workers)
        return _shared


def close_shared_pool() -> None:
    """Stop the shared pool's processes now (the next call that needs sympy starts it again)."""
    with _shared_lock:
        pool = _shared
    if pool is not None:
        pool.close()


class Canonicalizer:
    """Canons of normalised strings: cached, fast path in-process, sympy in a killable pool."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._cache: dict[str, Canon] = {}
        self._needs_pool: set[str] = set()  # the fast path already said no: do not ask again
        self._inflight: dict[str, Future] = {}
        self._lock = threading.RLock()

    def lookup(self, norm: str) -> Canon | None:
        """The canon if it is cached or needs no sympy, else None."""
        with self._lock:
            return self._local(norm)

    def _local(self, norm: str) -> Canon | None:
        cached = self._cache.get(norm)
        if cached is not None or norm in self._needs_pool:
            return cached
        try:
            result = canon(norm, fast_leaf)
        except Rejected:
            result = ("fail", "guard")
        except Exception:  # NeedSympy, or anything odd: the worker decides, under its timeout
            self._needs_pool.add(norm)
            return None
        self._store(norm, result)
        return result

    def _store(self, norm: str, result: Canon) -> None:
        if len(self._cache) >= _MAX_CACHE:
            self._cache.clear()
            self._needs_pool.clear()
        self._cache[norm] = result

    def resolve(self, norms: Sequence[str], timeout_s: float) -> Future:
        """Future of [canon for each norm]; the strings not known yet go to one pool task.

        A timeout of a task with several strings is not cached: the culprit is unknown, and an
        innocent gold answer must not stay failed for the rest of the run.
        """
        out: Future = Future()
        with self._lock:
            known: dict[str, Canon] = {}
            waiting: dict[str, Future] = {}
            missing: list[str] = []
            for norm in dict.fromkeys(norms):
                local = self._local(norm)
                if local is not None:
                    known[norm] = local
                elif norm in self._inflight:
                    waiting[norm] = self._inflight[norm]
                else:
                    missing.append(norm)
            if missing:
                mine = {norm: Future() for norm in missing}
                self._inflight.update(mine)
                waiting.update(mine)
                task = shared_pool(self._workers).submit(("canon", tuple(missing)), timeout_s)
                task.add_done_callback(lambda f: self._finish(missing, mine, f))

        when_all(list(waiting.values()), lambda: out.set_result([known.get(n) or waiting[n].result() for n in norms]))
        return out

    def _finish(self, missing: list[str], mine: dict[str, Future], task: Future) -> None:
        status, value = task.result()
        failed = ("fail", "parse" if status == "error" else status)
        results = list(value) if status == "ok" else [failed] * len(missing)
        with self._lock:
            for norm, result in zip(missing, results):
                if result[0] != "fail" or result[1] in ("parse", "guard") or len(missing) == 1:
                    self._store(norm, result)
                del self._inflight[norm]
        for norm, result in zip(missing, results):
            mine[norm].set_result(result)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._needs_pool.clear()


def when_all(futures: list[Future], callback: Callable[[], None]) -> None:
    """Call `callback` once every future is done (at once if the list is empty)."""
    if not futures:
        callback()
        return
    remaining = [len(futures)]
    lock = threading.Lock()

    def one_done(_: Future) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            callback()

    for fut in futures:
        fut.add_done_callback(one_done)


def canons_equal(pred: Canon, gold: Canon) -> bool:
    if pred[0] == "fail" or gold[0] == "fail":
        return False
    try:
        return canon_equal(pred, gold)
    except Exception:  # e.g. Rejected for an equation side that is not a scalar; never raise here
        return False


def same_answer(norm_a: str, canon_a: Canon | None, norm_b: str, canon_b: Canon | None) -> bool:
    """The one comparison of two normalised answers (and their canons, None when not needed):
    grading uses it against the gold answer, voting among a problem's answers."""
    if not norm_a or not norm_b:
        return False
    if norm_a == norm_b:
        return True
    return canon_a is not None and canon_b is not None and canons_equal(canon_a, canon_b)


def form_classes(norms: Sequence[str], canons: dict[str, Canon]) -> list[int | None]:
    """Voting classes of one problem's normalised answers, given in order of arrival.

    Each answer joins the first class whose representative (its first answer) it is graded
    equal to, else founds a new one; an empty answer has no class (None). Where the comparison
    is transitive this is exactly "same class <=> graded equal"; where it is not (docs/grading.md),
    every member is graded equal to its class's representative. Ids count from 0 in order of
    the classes' first arrival, so a prefix of the arrivals forms the same classes on its own.
    """
    reps: list[str] = []
    known: dict[str, int] = {}
    out: list[int | None] = []
    for norm in norms:
        if not norm:
            out.append(None)
            continue
        if norm not in known:
            mine = canons.get(norm)
            known[norm] = next((i for i, rep in enumerate(reps) if same_answer(norm, mine, rep, canons.get(rep))),
                               len(reps))
            if known[norm] == len(reps):
                reps.append(norm)
        out.append(known[norm])
    return out


# ---------------------------------------------------------------- module-level helpers

_default: Canonicalizer | None = None
_default_lock = threading.Lock()


def _default_canonicalizer() -> Canonicalizer:
    global _default
    with _default_lock:
        if _default is None:
            _default = Canonicalizer(workers=1)
        return _default


def is_equivalent(
    pred: str | None, gold: str | None, dataset: str | AnswerRule = "math", timeout_s: float = DEFAULT_TIMEOUT_S
) -> bool:
    """Whether the extracted answer `pred` is equivalent to `gold`; False on timeout or parse failure.

    Thread-safe; sympy work runs in a shared one-worker pool, so a call returns within about
    `timeout_s` when nothing else is using that pool. `dataset` only selects extraction rules
    elsewhere; the equivalence rules are the same for GSM8K and MATH.
    """
    answer_rule(dataset)
    if pred is None or gold is None:
        return False
    norm_pred, norm_gold = normalize(pred), normalize(gold)
    if not norm_pred or not norm_gold or norm_pred == norm_gold:
        return same_answer(norm_pred, None, norm_gold, None)
    future = _default_canonicalizer().resolve([norm_pred, norm_gold], timeout_s)
    try:
        canon_pred, canon_gold = future.result(timeout=2 * timeout_s + 30)
    except FutureTimeout:
        return False  # the pool is backed up behind other callers; count as not equivalent
    return same_answer(norm_pred, canon_pred, norm_gold, canon_gold)


def classes_of(problems: Sequence[Sequence[str | None]], canonicalizer: Canonicalizer | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> list[list[int | None]]:
    """`form_classes` of each problem's answers (each list in order of arrival); the distinct
    answers of all problems are parsed once, in one pipelined batch through the pool."""
    canonicalizer = canonicalizer or _default_canonicalizer()
    norms = [[normalize(a) if a else "" for a in answers] for answers in problems]
    distinct = list(dict.fromkeys(n for ns in norms for n in ns if n))
    futures = {n: canonicalizer.resolve([n], timeout_s) for n in distinct}
    canons = {n: f.result()[0] for n, f in futures.items()}
    return [form_classes(ns, canons) for ns in norms]


def answer_classes(answers: Sequence[str | None], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[int | None]:
    """Voting classes of one problem's extracted answers, in order of arrival (`form_classes`):
    ``answer_classes(["1/2", "7", "0.5", None]) == [0, 1, 0, None]``."""
    return classes_of([answers], timeout_s=timeout_s)[0]
