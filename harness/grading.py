"""Answer grading: which samples are correct, and which samples vote together.

- `extract_answer(text, dataset)` pulls the final answer out of a generated solution.
- `is_equivalent(pred, gold)` decides equivalence; `answer_key(answer)` gives the voting bucket.
- `Grader` grades (text, gold) pairs asynchronously for the runner; `grade_run` grades a run
  directory (`python -m harness.grading results/<run>`).

Only the sympy part of a comparison can hang or blow up, so it runs in `KillablePool` worker
processes under a timeout; extraction, normalisation, plain numbers and fractions, and the final
comparison of canonical forms run in the calling process. Canonical forms are cached per distinct
normalised string, so a pool of samples with many duplicates costs one sympy parse per distinct
answer. A timeout or parse failure grades "not equivalent" and is counted, never raised.
See docs/grading.md for the rules.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from harness.grading_canon import canon, fast_leaf, normalize
from harness.grading_compare import Canon, Rejected, canon_equal, canon_key
from harness.grading_extract import DATASETS, extract_answer
from harness.grading_pool import KillablePool

__all__ = ["Grader", "answer_key", "answer_keys", "extract_answer", "grade_run", "is_equivalent", "normalize"]

DEFAULT_TIMEOUT_S = 5.0
_WORKER_TARGET = "harness.grading_sympy:canon_many"
_PRELOAD = ("harness.grading_sympy",)
_MAX_CACHE = 200_000  # distinct answers kept per canonicaliser before the cache is reset


class _Canonicalizer:
    """Canons of normalised strings: cached, fast path in-process, sympy in a killable pool."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: KillablePool | None = None
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
                if self._pool is None:
                    self._pool = KillablePool(_WORKER_TARGET, self._workers, preload=_PRELOAD)
                mine = {norm: Future() for norm in missing}
                self._inflight.update(mine)
                waiting.update(mine)
                task = self._pool.submit((tuple(missing),), timeout_s)
                task.add_done_callback(lambda f: self._finish(missing, mine, f))

        _when_all(list(waiting.values()), lambda: out.set_result([known.get(n) or waiting[n].result() for n in norms]))
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

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _when_all(futures: list[Future], callback: Callable[[], None]) -> None:
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


def _equal(pred: Canon, gold: Canon) -> bool:
    if pred[0] == "fail" or gold[0] == "fail":
        return False
    try:
        return canon_equal(pred, gold)
    except Exception:  # e.g. Rejected for an equation side that is not a scalar; never raise here
        return False


# ---------------------------------------------------------------- module-level helpers

_default: _Canonicalizer | None = None
_default_lock = threading.Lock()


def _default_canonicalizer() -> _Canonicalizer:
    global _default
    with _default_lock:
        if _default is None:
            _default = _Canonicalizer(workers=1)
            atexit.register(_default.close)
        return _default


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown grading dataset {dataset!r}; expected one of {DATASETS}")


def is_equivalent(
    pred: str | None, gold: str | None, dataset: str = "math", timeout_s: float = DEFAULT_TIMEOUT_S
) -> bool:
    """Whether the extracted answer `pred` is equivalent to `gold`; False on timeout or parse failure.

    Thread-safe; sympy work runs in a shared one-worker pool, so a call returns within about
    `timeout_s` when nothing else is using that pool. `dataset` only selects extraction rules
    elsewhere; the equivalence rules are the same for GSM8K and MATH.
    """
    _check_dataset(dataset)
    if pred is None or gold is None:
        return False
    norm_pred, norm_gold = normalize(pred), normalize(gold)
    if not norm_pred or not norm_gold:
        return False
    if norm_pred == norm_gold:
        return True
    future = _default_canonicalizer().resolve([norm_pred, norm_gold], timeout_s)
    try:
        canon_pred, canon_gold = future.result(timeout=2 * timeout_s + 30)
    except FutureTimeout:
        return False  # the pool is backed up behind other callers; count as not equivalent
    return _equal(canon_pred, canon_gold)


def _key_of(norm: str, result: Canon) -> Hashable:
    # An answer we cannot read still votes with its identical copies (exact normalised text).
    return ("raw", norm) if result[0] == "fail" else canon_key(result)


def answer_keys(answers: Iterable[str | None], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Hashable | None]:
    """`answer_key` of many answers; distinct answers are parsed once, pipelined through the pool."""
    answers = list(answers)
    norms = [normalize(a) if a else "" for a in answers]
    canonicalizer = _default_canonicalizer()
    futures = {n: canonicalizer.resolve([n], timeout_s) for n in dict.fromkeys(norms) if n}
    keys: dict[str, Hashable] = {n: _key_of(n, f.result()[0]) for n, f in futures.items()}
    return [keys[n] if n else None for n in norms]


def answer_key(answer: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> Hashable | None:
    """Voting bucket of an extracted answer: equivalent answers (0.5, 1/2, \\frac{1}{2}) share it.

    None means "no vote" (no answer or an empty one). Keys are cached per distinct answer.
    """
    return answer_keys([answer], timeout_s)[0]


# ---------------------------------------------------------------- Grader

class Grader:
    """Grades (generated text, gold answer) pairs in the background; owns a killable process pool.

    `stats` counts samples: graded, correct, no_answer, and those graded wrong because a side
    timed out, crashed a worker, or could not be parsed.
    """

    def __init__(self, dataset: str, timeout_s: float = DEFAULT_TIMEOUT_S, workers: int = 1) -> None:
        _check_dataset(dataset)
        self.dataset = dataset
        self.timeout_s = timeout_s
        self._canon = _Canonicalizer(workers)
        self._lock = threading.Lock()
        self.stats: dict[str, int] = dict.fromkeys(
            ("graded", "correct", "no_answer", "timeouts", "crashes", "parse_failures"), 0
        )

    def _count(self, pred: str | None, correct: bool, *canons: Canon) -> None:
        with self._lock:
            self.stats["graded"] += 1
            self.stats["correct"] += correct
            self.stats["no_answer"] += pred is None
            reasons = {c[1] for c in canons if c[0] == "fail"}
            self.stats["timeouts"] += "timeout" in reasons
            self.stats["crashes"] += "crash" in reasons
            self.stats["parse_failures"] += bool(reasons & {"parse", "guard"})

    def _grade(self, text: str, gold: str) -> tuple[str | None, bool] | Future:
        """The result when no sympy is needed (the common case), else a Future of it."""
        pred = extract_answer(text or "", self.dataset)
        norm_pred = normalize(pred) if pred else ""
        norm_gold = normalize(gold) if gold else ""
        if not norm_pred or not norm_gold or norm_pred == norm_gold:
            correct = bool(norm_pred) and norm_pred == norm_gold
            self._count(pred if norm_pred else None, correct)
            return pred, correct
        canon_pred, canon_gold = self._canon.lookup(norm_pred), self._canon.lookup(norm_gold)
        if canon_pred is not None and canon_gold is not None:
            correct = _equal(canon_pred, canon_gold)
            self._count(pred, correct, canon_pred, canon_gold)
            return pred, correct
        # Separate tasks: a prediction that times out must not take the gold answer down with it.
        futures = [self._canon.resolve([norm_pred], self.timeout_s), self._canon.resolve([norm_gold], self.timeout_s)]
        out: Future = Future()

        def finish() -> None:
            canon_pred, canon_gold = futures[0].result()[0], futures[1].result()[0]
            correct = _equal(canon_pred, canon_gold)
            self._count(pred, correct, canon_pred, canon_gold)
            if out.set_running_or_notify_cancel():  # the runner cancels samples of dropped problems
                out.set_result((pred, correct))

        _when_all(futures, finish)
        return out

    def submit(self, text: str, gold: str) -> Future:
        """Future of (pred, correct); never blocks on sympy and never resolves to an exception."""
        result = self._grade(text, gold)
        if isinstance(result, Future):
            return result
        out: Future = Future()
        out.set_result(result)
        return out

    def grade_many(self, texts: Sequence[str], golds: Sequence[str]) -> list[tuple[str | None, bool]]:
        if len(texts) != len(golds):
            raise ValueError(f"{len(texts)} texts but {len(golds)} gold answers")
        results = [self._grade(t, g) for t, g in zip(texts, golds)]
        return [r.result() if isinstance(r, Future) else r for r in results]

    def close(self) -> None:
        self._canon.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- run directories

def _dataset_of(data_cfg: dict) -> str:
    grader = data_cfg.get("grader") or ("gsm8k" if data_cfg.get("name") == "gsm8k" else "math")
    _check_dataset(grader)
    return grader


def grade_run(
    run_dir: str | Path, workers: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S, data_dir: str | Path | None = None
) -> dict:
    """Fill `pred` and `correct` of every trajectory whose `correct` is null; return counts.

    Idempotent and interruptible: graded lines are kept, the file is rewritten through a temp
    file and an atomic rename, and a truncated last line is carried over untouched. Do not run
    it on a run that is still generating (the runner grades those itself).
    """
    start = time.monotonic()
    run_dir = Path(run_dir)
    data_cfg = dict(json.loads((run_dir / "run.json").read_text())["config"]["data"])
    if data_dir is not None:
        data_cfg["dir"] = str(data_dir)
    golds = importlib.import_module("harness.data").load_gold(data_cfg)
    path = run_dir / "trajectories.jsonl"
    raw = path.read_bytes() if path.exists() else b""  # no sample finished yet
    records: list[dict | bytes] = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append(line)  # a torn line: keep its bytes, never guess at its content
    summary = dict.fromkeys(("records", "already_graded", "newly_graded", "no_gold", "unreadable_lines"), 0)
    todo: list[tuple[dict, Future]] = []
    with Grader(_dataset_of(data_cfg), timeout_s=timeout_s, workers=workers) as grader:
        for rec in records:
            if isinstance(rec, bytes):
                summary["unreadable_lines"] += 1
                continue
            summary["records"] += 1
            if rec.get("correct") is not None:
                summary["already_graded"] += 1
            elif str(rec.get("problem_id")) not in golds:
                summary["no_gold"] += 1
            else:
                todo.append((rec, grader.submit(rec.get("text") or "", golds[str(rec["problem_id"])])))
        for rec, fut in todo:
            rec["pred"], rec["correct"] = fut.result()
        summary["newly_graded"] = len(todo)
        summary.update({k: v for k, v in grader.stats.items() if k != "graded"})
    if todo:
        _rewrite(path, records, raw)
    summary["correct_total"] = sum(1 for r in records if isinstance(r, dict) and r.get("correct") is True)
    summary["seconds"] = round(time.monotonic() - start, 2)
    return summary


def _rewrite(path: Path, records: list[dict | bytes], raw: bytes) -> None:
    tmp = path.with_name(path.name + ".grading-tmp")
    with open(tmp, "wb") as f:
        for i, rec in enumerate(records):
            line = rec if isinstance(rec, bytes) else json.dumps(rec, ensure_ascii=False).encode()
            # The writer died mid-line: keep those bytes exactly, with no newline of ours.
            torn = isinstance(rec, bytes) and i == len(records) - 1 and not raw.endswith(b"\n")
            f.write(line if torn else line + b"\n")
        with open(path, "rb") as cur:  # lines appended while we graded are carried over as they are
            cur.seek(len(raw))
            f.write(cur.read())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    from harness.runlock import exit_if_running

    parser = argparse.ArgumentParser(
        prog="python -m harness.grading",
        description="Grade a run: fill `pred` and `correct` in results/<run>/trajectories.jsonl "
        "for every sample not graded yet (safe to interrupt and rerun). Prints a JSON summary.",
    )
    parser.add_argument("run_dir", type=Path, help="run directory holding run.json and trajectories.jsonl")
    parser.add_argument("--workers", type=int, default=1, help="grading worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds allowed to parse one answer with sympy (default 5)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="benchmark data directory, overriding the one in the run's config")
    args = parser.parse_args(argv)
    if not (args.run_dir / "run.json").is_file():
        parser.error(f"{args.run_dir} has no run.json")
    exit_if_running(args.run_dir)  # its writer appends to trajectories.jsonl, which grading rewrites
    print(json.dumps(grade_run(args.run_dir, workers=args.workers, timeout_s=args.timeout, data_dir=args.data_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
