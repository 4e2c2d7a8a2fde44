"""Operations around runs: one writer per run directory, sweeps on SLURM, where a sweep stands,
throughput profiles and benchmark data.

``runlock`` (the POSIX lock of a run directory), ``slurm`` (the sweep's submission manifest and
the queue), ``status`` (``python -m harness.status``), ``profile`` (``python -m harness.profile``)
and ``fetch_data`` (``python -m harness.fetch_data``, what ``make data`` runs). The commands keep
their names: ``harness/status.py``, ``harness/profile.py`` and ``harness/fetch_data.py`` only start
the code here.
"""
