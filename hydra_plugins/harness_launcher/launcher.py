"""Hydra's submitit SLURM launcher, made to resume: a rerun of a sweep submits only what is left.

``conf/hydra/launcher/slurm.yaml`` points here. Before submitting, each job's run directory is
looked at: a job is skipped when its run is done (same config, every problem finished), when a
live process holds its run directory (harness/ops/runlock.py), or when its last submission is still
queued. The others go to SLURM as one job array through submitit, as hydra-submitit-launcher
does, and their job ids are recorded in ``<sweep>/slurm_jobs.jsonl`` (harness/ops/slurm.py).

Preemption and time limits are submitit's: SLURM sends USR2 before a job's time limit,
submitit calls ``checkpoint`` (the launcher's own, resubmitting the job with the same
overrides) and requeues it; the requeued job resumes its run directory.
"""

import copy
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import DictConfig, OmegaConf, open_dict

from harness.config import as_dict
from harness.errors import UserError
from harness.extensions import load_config
from harness.ops import runlock, slurm
from harness.store import RUN_FILE, measured_diff

log = logging.getLogger(__name__)


# No `from __future__ import annotations` here: Hydra's plugin scan runs this module outside
# sys.modules, where dataclasses cannot resolve string annotations.
@dataclass
class HarnessSlurmQueueConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.harness_launcher.launcher.SlurmLauncher"
    # While the sweep command waits for its jobs, it asks the cluster this often (one sacct call
    # for all of them). submitit alone backs off to once every 10 minutes, so a sweep whose last
    # job failed or was cancelled (no result file) would be noticed that late.
    poll_s: float = 30.0


ConfigStore.instance().store(group="hydra/launcher", name="harness_slurm", node=HarnessSlurmQueueConf,
                             provider="harness")


def is_done(run_dir: Path, config: dict[str, Any]) -> bool:
    """The run in ``run_dir`` finished every problem of ``config`` (a job's resolved config)."""
    try:
        meta = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    old = meta.get("config", {})
    # data.limit and data.ids may change on resume, but then there are other problems to run.
    return (meta.get("status") == "done" and not measured_diff(old, config)
            and all(old.get("data", {}).get(key) == config["data"][key] for key in ("limit", "ids")))


class SlurmLauncher(SubmititSlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:  # as hydra-submitit-launcher does
            os.chmod(sweep_dir, int(str(self.config.hydra.sweep.mode), 8))
        previous = slurm.latest_jobs(sweep_dir)
        queued = slurm.queue_states(job["job_id"] for job in previous.values())
        returns: list[JobReturn | None] = []
        todo: list[tuple[int, list[str], str]] = []
        for idx, overrides in enumerate(job_overrides, initial_job_idx):
            job_cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            subdir = str(job_cfg.hydra.sweep.subdir)
            reason = self._skip_reason(sweep_dir / subdir, job_cfg, queued.get(previous.get(subdir, {}).get("job_id")))
            if reason:
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))} : skipped, {reason}")
                returns.append(JobReturn(overrides=list(overrides), working_dir=str(sweep_dir / subdir),
                                         status=JobStatus.COMPLETED, _return_value=reason))
            else:
                todo.append((idx, list(overrides), subdir))
                returns.append(None)
        if not todo:
            log.info("nothing to submit: every job of %s is done, running or queued", sweep_dir)
            return returns
        results = iter(self._submit(sweep_dir, todo))
        return [r if r is not None else next(results) for r in returns]

    @staticmethod
    def _skip_reason(run_dir: Path, job_cfg: DictConfig, queue_state: str | None) -> str | None:
        task_cfg = copy.deepcopy(job_cfg)
        with open_dict(task_cfg):
            del task_cfg["hydra"]  # what the job's run records as its config, as Hydra's run_job does
        try:
            recorded = as_dict(load_config(task_cfg))
        except UserError:  # a bad job config: submitted, so its own run says why
            recorded = None
        if recorded is not None and is_done(run_dir, recorded):
            return "done"
        holder = runlock.holder(run_dir)
        if holder is not None:
            return f"running: {runlock.describe(holder)}"
        if queue_state is not None:
            return f"still in the SLURM queue ({queue_state})"
        return None

    def _submit(self, sweep_dir: Path, todo: list[tuple[int, list[str], str]]) -> list[JobReturn]:
        import submitit

        # The executor as hydra-submitit-launcher's launch() builds it; that method keeps its
        # jobs to itself, and the manifest needs their ids.
        params = dict(self.params)
        poll_s = params.pop("poll_s")
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=params.pop("submitit_folder"),
                                         **{f"{self._EXECUTOR}_max_num_timeout": params.pop("max_num_timeout", 0)})
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
        for idx, overrides, _ in todo:
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        args = [(overrides, "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state())
                for idx, overrides, _ in todo]
        jobs = executor.map_array(self, *zip(*args))
        slurm.record_submission(sweep_dir, [{"job_id": job.job_id, "run_dir": subdir, "overrides": overrides}
                                            for job, (_, overrides, subdir) in zip(jobs, todo)])
        log.info("submitted %d jobs: %s (python -m harness.status %s)", len(jobs),
                 ", ".join(job.job_id for job in jobs), sweep_dir)
        try:
            while not all(job.done() for job in jobs):
                time.sleep(poll_s)
                jobs[0].done(force_check=True)  # refreshes the state of every job of this process
        except KeyboardInterrupt:
            # Ctrl-C stops the waiting only: the jobs are the cluster's now, and the manifest
            # lets a later sweep command or harness.status pick them up.
            ids = " ".join(job.job_id for job in jobs)
            log.warning("stopped waiting; the jobs stay in the SLURM queue (python -m harness.status %s; "
                        "scancel %s to stop them)", sweep_dir, ids)
            raise SystemExit(130) from None
        return [job.results()[0] for job in jobs]
