"""One-step arithmetic problems, generated: where SmolLM2-135M solves some.

Why it exists: the offline CPU model, SmolLM2-135M-Instruct, solves almost nothing of the real
benchmarks (cot_boxed prompt, T=0.8, one thread: 1 correct of 324 samples on the first 120 GSM8K
test problems at 30 s each; 0 of 136 on MATH-500's level-1 problems), so a first run or a CPU
demo on them draws every curve flat at 0. Here it is right in a share of its samples, and its
samples are short (10-100 tokens), so within seconds per problem coverage rises with samples and
the curves against time show something. Not a benchmark of anything else.

200 problems, the same every time (a fixed seed; no file), ids ``arith/<i>``, integer answers.
Six kinds take turns, so the first six problems hold one of each, and a bare question alternates
with a word problem. Share of SmolLM2's samples correct, measured with the short prompt
(conf/prompt/short.yaml; 5 problems x 8 samples per kind, T=0.8, top_p 0.95, float32):

  What is a + b?  (one digit each)                 23%   (59% of 41 samples in a 15 s/problem run)
  a has a items and buys b more: how many now?      0%
  What is a times b?  (one digit each)             17%
  a has a + b items and gives b away: how many?     5%
  What is a + b?  (a 10-20, b one digit)           20%
  a boxes with b items each: how many in all?       0%   (1 of 12 samples in that run)

(The same word problems, cot_boxed prompt: 2-12% of samples correct, but far fewer samples finish.)
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from harness.data.dataset import INTEGER, Problem, dataset

if TYPE_CHECKING:
    from harness.config import DataConfig

COUNT, SEED = 200, 2502_20339
NAMES = ("Tom", "Ana", "Li", "Sam", "Maya", "Ben", "Zoe")
ITEMS = ("apples", "pencils", "stickers", "marbles", "books", "cards")


def _sum_small(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    return f"What is {a} + {b}?", a + b


def _buys(rng: random.Random) -> tuple[str, int]:
    who, what, a, b = rng.choice(NAMES), rng.choice(ITEMS), rng.randint(2, 9), rng.randint(2, 9)
    return f"{who} has {a} {what}. {who} buys {b} more {what}. How many {what} does {who} have now?", a + b


def _times(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    return f"What is {a} times {b}?", a * b


def _gives(rng: random.Random) -> tuple[str, int]:
    who, what, a, b = rng.choice(NAMES), rng.choice(ITEMS), rng.randint(2, 9), rng.randint(2, 9)
    return f"{who} has {a + b} {what} and gives {b} of them to a friend. How many {what} does {who} have left?", a


def _sum_teen(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(10, 20), rng.randint(1, 9)
    return f"What is {a} + {b}?", a + b


def _boxes(rng: random.Random) -> tuple[str, int]:
    who, what, a, b = rng.choice(NAMES), rng.choice(ITEMS), rng.randint(2, 5), rng.randint(2, 5)
    return f"{who} has {a} boxes with {b} {what} in each box. How many {what} does {who} have in all?", a * b


KINDS = (_sum_small, _buys, _times, _gives, _sum_teen, _boxes)


def generate(count: int = COUNT, seed: int = SEED) -> list[Problem]:
    """``count`` problems from ``seed``, kinds in turn: problem i is of kind ``i % len(KINDS)``."""
    rng = random.Random(seed)
    problems = []
    for i in range(count):
        question, answer = KINDS[i % len(KINDS)](rng)
        problems.append(Problem(f"arith/{i}", question, str(answer)))
    return problems


# A right answer takes 8-80 tokens; a sample that runs past 160 is rambling, and cut it states none.
@dataset("arith", title="One-step arithmetic", answer=INTEGER, max_new_tokens=160)
def arith(cfg: DataConfig) -> list[Problem]:
    return generate()
