"""Benchmark problems by registered dataset, and the chat prompt built from them (docs/extending.md).

``dataset`` (what a dataset declares: loader, answer rule, default max tokens, display name; the
registry ``DATASETS`` and its decorator), ``files`` (problems from a JSONL file), ``problems``
(the problems a run covers: ids, limit, shard) and one file per dataset: ``gsm8k``, ``math``
(math500, math), ``aime24``, ``aime25``, ``amc23``, and ``arith`` (generated, for the CPU model).
"""

# Importing them registers the datasets, in this order (--help's): the paper's, then the newer ones.
from harness.data import gsm8k, math  # noqa: F401, I001
from harness.data import aime24, aime25, amc23, arith  # noqa: F401
from harness.data.dataset import (DATASETS, HASHES, INTEGER, LATEX, AnswerRule, DataError, Dataset, Problem, dataset,
                                   dataset_title)
from harness.data.files import after_hashes, integer_answer, jsonl_problems
from harness.data.problems import build_messages, data_config, load_gold, load_problems, parse_shard, with_defaults

__all__ = ["DATASETS", "HASHES", "INTEGER", "LATEX", "AnswerRule", "DataError", "Dataset", "Problem", "after_hashes",
           "build_messages", "data_config", "dataset", "dataset_title", "integer_answer", "jsonl_problems", "load_gold",
           "load_problems", "parse_shard", "with_defaults"]
