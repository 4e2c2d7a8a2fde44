"""The Python API, for notebooks and scripts (docs/api.md): run a job with the command line's
overrides, and load runs with their curves and tables as pandas DataFrames.

    import harness
    job = harness.run("model=tiny_llama", "budget=2s", "data.limit=3")   # as python -m harness ...
    job.dir, job.summary, job.figure
    runs = harness.load("results/paper_math500")                        # a run, a sweep, shards merged
    runs.curves("time"), runs.curves("k"), runs.summary(), runs.time_to_match(), runs.throughput()

``run`` composes conf/ with Hydra's compose API and runs the job through Hydra's ``run_job``, so
its config, run directory, ``.hydra/`` files, log and lock are those of ``python -m harness``
with the same overrides; bad input raises the one-line ``harness.UserError`` the command prints.
``load`` reads, merges and labels runs with ``harness.report``'s own functions, so every frame
holds the numbers the report draws and writes as CSV. Nothing heavy is imported until called.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    from omegaconf import DictConfig

    from harness.report import Run

__all__ = ["Job", "Runs", "load", "run"]


@dataclass(frozen=True)
class Job:
    """A finished job: its run directory, closing summary (as run.json stores it) and the first
    figure of its report (None with ``run.report=false``, or where the report had nothing to draw)."""

    dir: Path
    summary: dict[str, Any]
    figure: Path | None

    def load(self) -> Runs:
        return load(self.dir)

    def __str__(self) -> str:
        from harness.analysis.summary import format_summary

        return f"{self.dir}: {format_summary(self.summary)}"


def _one_line(err: Exception) -> str:
    """Hydra's composition error and its cause (OmegaConf's, several lines) as one line."""
    parts = [str(err).strip().splitlines()[0]]
    if err.__cause__ is not None and str(err.__cause__).strip():
        parts.append(str(err.__cause__).strip().splitlines()[0])
    return ": ".join(parts)


def _task(cfg: DictConfig) -> Job:
    """The job, inside Hydra's run_job: the runner, then (``run.report``) the run's report."""
    from hydra.core.hydra_config import HydraConfig

    from harness.ops import job

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    summary = job.execute(cfg, run_dir)
    return Job(run_dir, summary, job.report(run_dir) if cfg.run.report else None)


def run(*overrides: str, report: bool | None = None) -> Job:
    """Run one job, as ``python -m harness *overrides`` does; returns it when done.

    ``report``: write the run's report (``run.report``; None: as the config says, by default yes).
    Raises ``harness.UserError`` (one line naming the fix) for bad input, a run directory another
    process writes, a model that cannot be had, ...; a sweep (``-m``) is the command's.
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.callbacks import Callbacks
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import JobStatus, run_job
    from hydra.errors import HydraException
    from hydra.types import HydraContext
    from omegaconf.errors import OmegaConfBaseException

    from harness.config import ConfigError
    from harness.extensions import register_all
    from harness.ops import job

    argv = [*overrides, *([f"run.report={str(report).lower()}"] if report is not None else [])]
    if any(a in job.MULTIRUN_FLAGS for a in argv):
        raise UserError("harness.run runs one job: call it once per job, or sweep with python -m harness -m ...")
    argv = job.check_overrides(argv)
    register_all()
    with initialize_config_dir(config_dir=str(job.CONF_DIR), version_base="1.3", job_name="harness"):
        try:
            cfg = compose("config", overrides=argv, return_hydra_config=True)
        except (HydraException, OmegaConfBaseException) as err:
            raise ConfigError(_one_line(err)) from None
        context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks())
        done = run_job(_task, cfg, "hydra.run.dir", None, context)
    if done.status != JobStatus.COMPLETED:
        raise done._return_value  # the job's own exception (run_job keeps it)
    return done.return_value


class Runs:
    """Runs as the report sees them: read from run directories or folders holding them, shards of
    one run merged, labelled ``model (engine)`` as in the legends. Each method returns the frame
    the report draws or writes (``harness.report``): ``curves`` the figures' CSVs (with a
    ``dataset`` column), ``summary`` summary.csv, ``throughput`` throughput.csv."""

    def __init__(self, paths: Sequence[Path], runs: list[Run], partial: bool) -> None:
        self.paths, self.runs, self.partial = list(paths), runs, partial

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs)

    def __getitem__(self, index: int) -> Run:
        return self.runs[index]

    def __repr__(self) -> str:
        return f"Runs({', '.join(f'{r.label} [{r.dataset}]' for r in self.runs)})"

    def curves(self, x: str = "time") -> pd.DataFrame:
        """Accuracy of every method and run against ``x``: "time" (seconds per problem), "tokens",
        "flops", "bytes" (a cost per problem) or "k" (samples per problem, over k-subsets); one row
        per point: dataset, method, label, run, engine, x, accuracy, ci_low, ci_high, se."""
        import pandas as pd

        from harness.report import X_AXES, curve_frames

        if x not in (*X_AXES, "k"):
            raise UserError(f"curves(x={x!r}): choose one of {', '.join((*X_AXES, 'k'))}")
        frames = [frame.assign(dataset=ds) for ds, (_, frame) in curve_frames(self.runs, x).items()]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return frame[["dataset", *(c for c in frame.columns if c != "dataset")]] if len(frame) else frame

    def summary(self, reference: str | None = None) -> pd.DataFrame:
        """Accuracy, samples and tokens per problem at round budgets, with the time to match at each
        run's budget (summary.csv); ``reference`` as ``python -m harness.report --reference``."""
        from harness.report import tables

        return tables(self.runs, reference)[0]

    def time_to_match(self, reference: str | None = None) -> pd.DataFrame:
        """Seconds per problem each model needs to reach the reference's accuracy (docs/metrics.md)."""
        from harness.report import tables

        return tables(self.runs, reference)[1]

    def throughput(self) -> pd.DataFrame:
        from harness.report.curves import throughput_table

        return throughput_table(self.runs)

    @property
    def samples(self) -> pd.DataFrame:
        """Every finished sample (trajectories.jsonl's columns) with its run's name, label and dataset."""
        return self._stacked("samples")

    @property
    def problems(self) -> pd.DataFrame:
        """Every finished problem (problems.jsonl's columns) with its run's name, label and dataset."""
        return self._stacked("problems")

    def _stacked(self, what: str) -> pd.DataFrame:
        import pandas as pd

        return pd.concat([getattr(r, what).assign(run=r.name, label=r.label, dataset=r.dataset) for r in self.runs],
                         ignore_index=True)

    def report(self, out: str | Path, **options: Any) -> list[Path]:
        """The report of these runs into ``out`` (as ``python -m harness.report``); returns its files.
        ``options``: ``xs`` (axes), ``reference``."""
        from harness.report import write_report

        return write_report(self.paths, Path(out), self.partial, **options)


def load(*paths: str | Path, partial: bool = False) -> Runs:
    """The runs under ``paths`` (run directories or folders holding them, default ``results``), as
    the report reads them; ``partial``: plot shards with some missing as they are."""
    from harness.report import load_runs

    found = [Path(p) for p in paths] or [Path("results")]
    return Runs(found, load_runs(found, partial), partial)
