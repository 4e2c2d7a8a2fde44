"""``python -m harness``: one run (or a Hydra multirun with -m) of the budgeted sampler.

Examples:
  python -m harness                                   # SmolLM2 on 5 GSM8K problems, CPU, offline
  python -m harness model=mamba_hybrid budget=60s data=math500 data.limit=null
  python -m harness -m model=llama_3b,mamba_hybrid budget=10s,60s
  python -m harness -m +experiment=paper_math500      # the paper's study (conf/experiment/, docs/study.md)
  python -m harness ... run.resume=results/<run>      # continue a killed run
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import nullcontext
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.errors import UserError, report_and_exit
from harness.extensions import load_config, register_all
from harness.ops.runlock import RunLocked, hold, refuse_if_held

register_all()
log = logging.getLogger("harness")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from harness.analysis.summary import format_summary
    from harness.measure.runner import Runner

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        config = load_config(cfg)
        if config.run.resume and not (Path(config.run.resume) / "run.json").exists():
            raise UserError(f"run.resume={config.run.resume}: no run.json there, nothing to resume")
        # One writer per run directory, for the whole run (harness/ops/runlock.py); taken first, so a
        # second process is refused at once, before it loads anything or waits for a device.
        with hold(run_dir):
            runner = Runner(config, run_dir)
            device = nullcontext()
            # Under SLURM the job takes the devices the scheduler assigned (harness/generation/devices.py).
            if "SLURM_JOB_ID" in os.environ or (hydra_cfg.mode == RunMode.MULTIRUN and config.runner.exclusive_device):
                from harness.generation.devices import claim_device

                device = claim_device(Path(hydra_cfg.sweep.dir) / ".devices")
            with device:
                summary = runner.run()
    except UserError as err:  # bad input: one line naming the fix; anything else keeps its traceback
        report_and_exit(err)
    log.info("results in %s", run_dir)
    print(f"{run_dir}: {format_summary(summary)}")
    if hydra_cfg.mode == RunMode.RUN and config.run.report:
        _report(run_dir)


def _report(run_dir: Path) -> None:
    """The run's figures and summary.md into <run dir>/report; prints where the first figure is."""
    from harness.report import ReportError, write_report

    try:
        files = write_report([run_dir], run_dir / "report")
    except ReportError as err:
        print(f"report: {err}", file=sys.stderr)
        return
    figures = [f for f in files if f.suffix == ".png"]
    print(f"report: {len(files)} files in {run_dir / 'report'}/, e.g. the figure {figures[0]}")


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def _unknown_choice(argv: list[str]) -> str | None:
    """The one-line error for a config group choice that is not in conf/ (``model=nope``, also
    inside a sweep), else None. Hydra would list its search path over a dozen lines."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType
    from hydra.errors import HydraException

    if any(a.startswith(("hydra.searchpath", "-cd", "--config-dir", "-cp", "--config-path")) for a in argv):
        return None  # configs from elsewhere: only Hydra knows them
    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv if "=" in a and not a.startswith("-")])
    except HydraException:
        return None  # malformed: Hydra's own message says where
    for override in overrides:
        group = override.key_or_group
        if override.is_delete() or group.startswith("hydra") or not (CONF_DIR / group).is_dir():
            continue
        if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        known = sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))
        for value in values:
            if value is not None and str(value) not in known:
                mine = " or your own weights: model=llama_1b model.path=DIR_OR_HUB_ID" if group == "model" else ""
                return f"error: unknown {group} '{value}': choose one of {', '.join(known)} (conf/{group}/){mine}"
    return None


def _resume_into_its_directory(argv: list[str]) -> list[str]:
    """``run.resume=DIR`` continues in DIR itself: make it Hydra's output directory."""
    for arg in argv:
        if arg.startswith("run.resume=") and not any(a.startswith("hydra.run.dir=") for a in argv):
            return [*argv, f"hydra.run.dir={arg.split('=', 1)[1]}"]
    return argv


def _refuse_a_held_run_dir(argv: list[str]) -> None:
    """A single run into a named directory that another process writes stops here, before Hydra
    overwrites that directory's ``.hydra/`` files (the lock in ``main`` is still the guard)."""
    if any(a in ("-m", "--multirun") for a in argv):
        return
    run_dir = next((a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")), None)
    if run_dir and "${" not in run_dir:
        try:
            refuse_if_held(run_dir)
        except RunLocked as err:
            report_and_exit(err)


if __name__ == "__main__":
    if unknown := _unknown_choice(sys.argv[1:]):
        print(unknown, file=sys.stderr)
        sys.exit(2)
    sys.argv = _resume_into_its_directory(sys.argv)
    _refuse_a_held_run_dir(sys.argv[1:])
    main()
