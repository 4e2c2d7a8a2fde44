"""A user's own extensions, from outside the package (docs/extending.md): a dataset read from a
JSONL file, a generated one and a selection method. ``python -m harness plugins=[my_plugin]``
imports it (this folder on PYTHONPATH); tests/test_extending.py runs it as a user would."""

from __future__ import annotations

import random

import pandas as pd

from harness.analysis.methods import set_method
from harness.config import DataConfig
from harness.data import INTEGER, Problem, dataset, jsonl_problems


@dataset("toy", title="Toy questions", answer=INTEGER, max_new_tokens=32)
def toy(cfg: DataConfig) -> list[Problem]:
    """<data.dir>/toy/<data.file>: fields question and answer; ids toy/<split>/<line>."""
    return jsonl_problems(cfg, question="question", answer="answer")


@dataset("sums", title="Two-number sums", answer=INTEGER, max_new_tokens=48)
def sums(cfg: DataConfig) -> list[Problem]:
    """Generated, no file: the same 20 problems every time, ids sums/<index>."""
    rng = random.Random(0)
    pairs = [(rng.randint(10, 99), rng.randint(10, 99)) for _ in range(20)]
    return [Problem(f"sums/{i}", f"What is {a} + {b}?", str(a + b)) for i, (a, b) in enumerate(pairs)]


@set_method("first_answer", title="First stated answer")
def first_answer(samples: pd.DataFrame) -> bool:
    """The answer of the first sample (in arrival order) that states one."""
    stated = samples[samples["answer_class"] >= 0]
    return bool(len(stated)) and bool(stated["correct"].iloc[0])
