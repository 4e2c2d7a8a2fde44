"""``python -m harness``: one run (or a Hydra multirun with -m) of the budgeted sampler.

Examples:
  python -m harness                                   # SmolLM2 on 5 GSM8K problems, CPU, offline
  python -m harness +experiment=first_run             # make run: SmolLM2 on arithmetic it solves some of
  python -m harness model=mamba_hybrid budget=60s data=math500 data.limit=null
  python -m harness -m model=llama_3b,mamba_hybrid budget=10s,60s
  python -m harness -m +experiment=paper_math500      # the paper's study (conf/experiment/, docs/study.md)
  python -m harness ... run.resume=results/<run>      # continue a killed run

The same job from Python: ``harness.run(*overrides)`` (harness/api.py, docs/api.md).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.errors import UserError, report_and_exit
from harness.extensions import register_all
from harness.ops import job

register_all()
log = logging.getLogger("harness")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from harness.analysis.summary import format_summary

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweep_dir = Path(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None
    try:
        summary = job.execute(cfg, run_dir, sweep_dir)
    except UserError as err:  # bad input: one line naming the fix; anything else keeps its traceback
        report_and_exit(err)
    log.info("results in %s", run_dir)
    print(f"{run_dir}: {format_summary(summary)}")
    if hydra_cfg.mode == RunMode.RUN and cfg.run.report and (figure := job.report(run_dir)):
        print(f"report: figures and summary.md in {run_dir / 'report'}/, e.g. the figure {figure}")


if __name__ == "__main__":
    try:
        sys.argv[1:] = job.check_overrides(sys.argv[1:])
    except UserError as err:
        report_and_exit(err)
    main()
