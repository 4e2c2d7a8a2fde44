"""Benchmark problems and the chat prompt built from them."""

from harness.data.problems import DataError, Problem, build_messages, data_file, load_gold, load_problems, parse_shard

__all__ = ["DataError", "Problem", "build_messages", "data_file", "load_gold", "load_problems", "parse_shard"]
