"""`Grader`: grades (generated text, gold answer) pairs without blocking on sympy."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future

from harness.data.dataset import AnswerRule
from harness.grading.compare import Canon
from harness.grading.equivalence import DEFAULT_TIMEOUT_S, Canonicalizer, classes_of, same_answer, when_all
from harness.grading.extraction import answer_rule, check_mode, extract_answer
from harness.grading.normalization import normalize


class Grader:
    """Grades (generated text, gold answer) pairs in the background, in the shared sympy pool.

    `dataset` is a registered dataset's name or its `AnswerRule` (how its solutions state answers);
    `extraction` is "strict" or "flexible" (see `extract_answer`); `workers` is the least number
    of pool workers to have. `stats` counts samples: graded, correct, no_answer, and those graded
    wrong because a side timed out, crashed a worker, or could not be parsed.
    """

    def __init__(self, dataset: str | AnswerRule, timeout_s: float = DEFAULT_TIMEOUT_S, workers: int = 1,
                 extraction: str = "strict") -> None:
        self.rule = answer_rule(dataset)
        self.extraction = check_mode(extraction)
        self.timeout_s = timeout_s
        self._canon = Canonicalizer(workers)
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
        pred = extract_answer(text or "", self.rule, self.extraction)
        norm_pred = normalize(pred) if pred else ""
        norm_gold = normalize(gold) if gold else ""
        if not norm_pred or not norm_gold or norm_pred == norm_gold:
            correct = same_answer(norm_pred, None, norm_gold, None)
            self._count(pred if norm_pred else None, correct)
            return pred, correct
        canon_pred, canon_gold = self._canon.lookup(norm_pred), self._canon.lookup(norm_gold)
        if canon_pred is not None and canon_gold is not None:
            correct = same_answer(norm_pred, canon_pred, norm_gold, canon_gold)
            self._count(pred, correct, canon_pred, canon_gold)
            return pred, correct
        # Separate tasks: a prediction that times out must not take the gold answer down with it.
        futures = [self._canon.resolve([norm_pred], self.timeout_s), self._canon.resolve([norm_gold], self.timeout_s)]
        out: Future = Future()

        def finish() -> None:
            canon_pred, canon_gold = futures[0].result()[0], futures[1].result()[0]
            correct = same_answer(norm_pred, canon_pred, norm_gold, canon_gold)
            self._count(pred, correct, canon_pred, canon_gold)
            if out.set_running_or_notify_cancel():  # the runner cancels samples of dropped problems
                out.set_result((pred, correct))

        when_all(futures, finish)
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

    def classes(self, problems: Sequence[Sequence[str | None]]) -> list[list[int | None]]:
        """Voting classes of each problem's extracted answers (in order of arrival), by the
        comparison that grades them (`harness.grading.equivalence.form_classes`)."""
        return classes_of(problems, self._canon, self.timeout_s)

    def close(self) -> None:
        """Drop this grader's cache; the shared pool stays up for the rest of the process."""
        self._canon.clear()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
