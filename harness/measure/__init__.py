"""The measured path: what happens between a config and a run's records, on the clock and around it.

``runner`` (load, size and warm up off the clock, then the per-problem budget protocol; grading,
the audit and reward scoring after the last problem) and ``environment`` (versions, git revision
and hardware for run.json). It drives the generation stack (``harness.generation``) and writes
through the store (``harness.store``).
"""
