"""One job of ``python -m harness``, shared by the command line and the Python API (``harness.run``).

The command line composes the config with ``@hydra.main``; ``harness.run`` composes the same
conf/ with Hydra's compose API and runs it through Hydra's ``run_job``, so a job is configured,
named, locked and reported alike however it was started. What both do before composing
(``check_overrides``), the job itself (``execute``: the config checked, the run directory locked
for the whole run, the runner) and its report (``report``) live here; each raises a
``UserError`` (one line naming the fix), which the command prints and the API raises.
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from harness.errors import UserError
from harness.extensions import load_config
from harness.ops.runlock import hold, refuse_if_held

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
MULTIRUN_FLAGS = ("-m", "--multirun")


def unknown_choice(argv: list[str]) -> str | None:
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
                return f"unknown {group} '{value}': choose one of {', '.join(known)} (conf/{group}/){mine}"
    return None


def resume_into_its_directory(argv: list[str]) -> list[str]:
    """``run.resume=DIR`` continues in DIR itself: make it Hydra's output directory."""
    for arg in argv:
        if arg.startswith("run.resume=") and not any(a.startswith("hydra.run.dir=") for a in argv):
            return [*argv, f"hydra.run.dir={arg.split('=', 1)[1]}"]
    return argv


def check_overrides(argv: list[str]) -> list[str]:
    """The overrides as the job will compose them; a UserError for an unknown group choice, and for
    a single run into a named directory that another process writes (refused before Hydra
    overwrites that directory's ``.hydra/`` files; the lock in ``execute`` is still the guard)."""
    if unknown := unknown_choice(argv):
        raise UserError(unknown)
    argv = resume_into_its_directory(argv)
    run_dir = next((a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")), None)
    if run_dir and "${" not in run_dir and not any(a in MULTIRUN_FLAGS for a in argv):
        refuse_if_held(run_dir)
    return argv


def execute(cfg: DictConfig, run_dir: Path, sweep_dir: Path | None = None) -> dict[str, Any]:
    """Run the composed job into ``run_dir``; returns its closing summary. ``sweep_dir``: the
    sweep a local multirun job belongs to (its jobs take one device each)."""
    from harness.measure.runner import Runner

    config = load_config(cfg)
    if config.run.resume and not (Path(config.run.resume) / "run.json").exists():
        raise UserError(f"run.resume={config.run.resume}: no run.json there, nothing to resume")
    # One writer per run directory, for the whole run (harness/ops/runlock.py); taken first, so a
    # second process is refused at once, before it loads anything or waits for a device.
    with hold(run_dir):
        runner = Runner(config, run_dir)
        device = nullcontext()
        # Under SLURM the job takes the devices the scheduler assigned (harness/generation/devices.py).
        if "SLURM_JOB_ID" in os.environ or (sweep_dir is not None and config.runner.exclusive_device):
            from harness.generation.devices import claim_device

            device = claim_device(sweep_dir / ".devices")
        with device:
            return runner.run()


def report(run_dir: Path) -> Path | None:
    """The run's figures and summary.md into <run dir>/report; returns its first figure. None where
    there is nothing to draw, saying why on stderr: the run itself is done."""
    from harness.report import ReportError, write_report

    try:
        files = write_report([run_dir], run_dir / "report")
    except ReportError as err:
        print(f"report: {err}", file=sys.stderr)
        return None
    return next(f for f in files if f.suffix == ".png")
