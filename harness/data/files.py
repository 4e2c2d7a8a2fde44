"""Problems read from a JSON Lines file: ``<data.dir>/<data.name>/<data.file>``.

The data directory comes from config (``data.dir``, default ``$HARNESS_DATA_DIR``); the files are
never part of the project. ``make data`` fetches public copies with the ``datasets`` library.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.data.dataset import DataError, Problem
from harness.jsonl import JsonlError, read_jsonl

if TYPE_CHECKING:
    from harness.config import DataConfig


def dataset_file(cfg: DataConfig) -> Path:
    return Path(cfg.dir) / cfg.name / cfg.file


def jsonl_problems(cfg: DataConfig, *, question: str, answer: str, gold: Callable[[str], str] = str.strip,
                   problem_id: Callable[[dict[str, Any], int], str] | None = None) -> list[Problem]:
    """One problem per line of the dataset's file: the text in field ``question``, the gold answer
    ``gold`` of field ``answer``. Ids: ``problem_id(row, index)``; default ``<name>/<split>/<index>``,
    where the split is the file's stem (``gsm8k/test/12`` from test.jsonl, ``gsm8k/train/12``)."""
    path = dataset_file(cfg)
    fix = f"run `make data` or point data.dir / $HARNESS_DATA_DIR at a folder holding {cfg.name}/{cfg.file}"
    if not path.is_file():
        raise DataError(f"data file {path} not found: {fix}")
    try:
        rows = read_jsonl(path, f"restore the file ({fix})", torn_tail_ok=False)
    except JsonlError as err:
        raise DataError(str(err)) from None
    split = Path(cfg.file).stem
    problems = []
    for index, row in enumerate(rows):
        for key in (question, answer):
            if key not in row:
                raise DataError(f"{path}:{index + 1}: missing field {key!r}; check data={cfg.name} matches this file")
        pid = problem_id(row, index) if problem_id else f"{cfg.name}/{split}/{index}"
        problems.append(Problem(pid, row[question], gold(str(row[answer]))))
    return problems


def after_hashes(raw: str) -> str:
    """GSM8K's gold answer: the reference solution's final line is "#### N", sometimes with
    thousands separators ("#### 2,125")."""
    return raw.rsplit("####", 1)[-1].strip().replace(",", "")


def integer_answer(raw: str) -> str:
    """An AIME / AMC gold answer as a plain integer: "025" (AIME's three digits) -> "25", and "27.0"
    (an integer written as a float) -> "27". Anything else is no integer answer: DataError."""
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise DataError(f"gold answer {raw!r} is not an integer: this dataset's answers are integers (AIME, AMC)")
    return str(int(value))
