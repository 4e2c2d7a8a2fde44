"""Typed Hydra structured configs: a typo in a key, a wrong type or an unknown choice fails at start.

The YAML files under conf/ fill these dataclasses; the schema is registered in Hydra's
ConfigStore as ``harness_schema`` and the primary ``conf/config.yaml`` extends it. The entry
point converts the composed config once (``harness.extensions.load_config``: this module's
``to_harness_config``, then the names of registered entries); every component after it receives
these dataclasses, never a DictConfig. Closed sets of choices are Enums (OmegaConf checks them at
composition and lists the valid names); what a registry holds (a dataset, a selection method, a
backend: a plugin may add one) is a name, checked once the plugins are imported.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
import typing
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from harness.budget import parse_budget
from harness.errors import UserError

# What each key does to a measurement, declared once, on the fields below. A key is *measured*
# (the default) when a change to it can change what a problem's clock records: the model and its
# engine, the data and prompt, sampling, budget, seed, concurrency, threads (torch's CPU threads
# set the decode speed), warm-up (without it the first problem pays for allocation), the
# exclusive use of a device, grading rules. Such a key names a sweep's job directory and must
# match on resume and across the shards of one run. A key declared ``measured=False`` changes
# nothing a clock records: which problems run (data.limit), where files are (data.dir), whether
# and how fast samples are graded and audited after the run (grading is off the clock), progress
# bars, report options. Resume (harness.store), sweep directory names (overrides_tag here), the SLURM
# launcher and the report's shard merge all read this declaration through ``unmeasured_keys``.
UNMEASURED = {"measured": False}


def setting(default: Any = MISSING, *, ge: float | None = None, gt: float | None = None,
            le: float | None = None, measured: bool = True) -> Any:
    """A field with its valid range (``ge``/``gt``: lower bound, ``le``: upper; checked at start) and
    whether it changes what is measured (see ``UNMEASURED``)."""
    bounds = {name: value for name, value in (("ge", ge), ("gt", gt), ("le", le)) if value is not None}
    return field(default=default, metadata={**bounds, **({} if measured else UNMEASURED)})


# Backend names runs were recorded with before a rename: run.json keeps them, resume and reports
# read them as today's (``current_backend``).
RENAMED_BACKENDS = {"mamba": "mamba_in_llama"}
# Keys runs recorded before datasets were registered: their dataset's declaration holds them now
# (harness/data/), so resume and reports read such a run without them (``harness.store.current_names``).
RETIRED_KEYS = ("data.grader", "data.question_field", "data.answer_field", "data.id_field", "data.answer_format")


def current_backend(name: str) -> str:
    return RENAMED_BACKENDS.get(name, name)


class Dtype(StrEnum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Extraction(StrEnum):
    strict = "strict"  # an answer only where a sample states one (docs/grading.md)
    flexible = "flexible"  # strict, else the last number in the text (prompts that ask for no marked answer)


class RewardKind(StrEnum):
    prm = "prm"
    orm = "orm"


class Aggregation(StrEnum):
    last = "last"
    min = "min"
    prod = "prod"
    mean = "mean"


@dataclass
class ModelConfig:
    name: str = MISSING
    # Hub id, local directory, or "builtin:<name>" for models the harness builds itself
    # (tiny_llama, tiny_mamba, tiny_hybrid, tiny_llamba, smollm2); see harness/generation/models/.
    path: str = MISSING
    # Where the tokenizer (and generation config) come from when model.path has none: Llamba
    # repos ship none, their teacher's serves. None: model.path's own.
    tokenizer: str | None = None
    # A registered backend (harness/generation/backends/: hf, engine, mamba_in_llama, llamba, vllm, or a
    # plugin's), or auto (the best engine installed for the model: backends/auto.py, recorded with its
    # reason) or slot (the slot engine for every model, for a like-for-like check).
    backend: str = "auto"
    # auto: bf16 on CUDA and on CPUs with native bf16 (AMX / AVX512-BF16), else float32 (harness/generation/devices.py).
    dtype: Dtype = Dtype.auto
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    revision: str | None = None
    trust_remote_code: bool = False
    # Jinja chat template overriding the tokenizer's own (None: use the tokenizer's).
    chat_template: str | None = None
    # Backend-specific options (e.g. vLLM's gpu_memory_utilization), open on purpose: each backend
    # parses them into its own typed dataclass at start and names its valid keys.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    # A registered dataset (harness/data/: gsm8k, math500, math, or a plugin's): its loader, answer
    # rule, default max_new_tokens and display name are declared there; conf/data/<name>.yaml picks it.
    name: str = MISSING
    dir: str = setting("${oc.env:HARNESS_DATA_DIR,data}", measured=False)
    # The file a dataset read from disk reads: <dir>/<name>/<file>; its stem names the split in
    # problem ids (gsm8k/test/12, gsm8k/train/12).
    file: str = "test.jsonl"
    # Only these problems (ids as the dataset gives them), in the dataset's order; before limit and
    # shard. Like limit, it picks which problems run, not how one is measured.
    ids: list[str] | None = setting(None, measured=False)
    # The first ``limit`` problems; a resume may raise it to run more of them.
    limit: int | None = setting(None, ge=1, measured=False)
    shard: str | None = None  # "i/n": every n-th problem starting at i (after limit)
    # None: the dataset's (512 GSM8K, 1024 MATH), filled in at start and recorded.
    max_new_tokens: int | None = setting(None, ge=1)


@dataclass
class PromptConfig:
    # One user turn; {problem} is replaced by the problem text.
    user: str = MISSING
    system: str | None = None


@dataclass
class SamplingConfig:
    temperature: float = setting(0.8, ge=0)  # 0: greedy
    top_p: float = setting(0.95, gt=0, le=1)
    top_k: int = setting(0, ge=0)  # 0 = off; 1 is honoured as top-1 sampling, never a silent greedy switch
    # None: the dataset's default (512 GSM8K, 1024 MATH).
    max_new_tokens: int | None = setting(None, ge=1)
    stop: list[str] = field(default_factory=list)


@dataclass
class RewardConfig:
    # Hub id, local directory or builtin:<name>; None: no reward model.
    model: str | None = None
    kind: RewardKind = RewardKind.prm
    aggregation: Aggregation = Aggregation.last  # how a PRM's step scores make one reward
    batch_size: int = setting(8, ge=1)
    device: str = "auto"  # auto = cuda when visible, else cpu
    dtype: Dtype = Dtype.auto  # auto = as for model.dtype: bf16 on CUDA (an 8B PRM in fp32 needs 32 GB)
    # Put scoring time on the plots' time axis, so a faster generator can't hide a slower scorer.
    # How the report draws the run, not what it measured.
    time_on_axis: bool = setting(True, measured=False)


@dataclass
class SelectionConfig:
    # What the run summary reports: registered selection methods (harness/analysis/methods.py, or a
    # plugin's); those that need rewards (rm_weighted, best_of_n) have the job score every sample.
    methods: list[str] = field(default_factory=lambda: ["coverage", "majority"])
    reward: RewardConfig = field(default_factory=RewardConfig)


@dataclass
class RunnerConfig:
    # Samples in flight per problem ("as many as fit"). None: on an accelerator, what fits in
    # free memory (at most max_concurrency); on CPU, cpu_concurrency. A number is used as is on
    # CPU and as a cap on an accelerator.
    # The run's concurrency is chosen once and kept by every resume (run.json ``concurrency``).
    concurrency: int | None = setting(None, ge=1)
    max_concurrency: int = setting(1024, ge=1)
    cpu_concurrency: int = setting(8, ge=1)
    # torch intra-op threads on CPU (None: torch's default). With another process busy,
    # 2 threads collapse while 1 holds, so this is a knob, not a constant; it sets the decode
    # speed on CPU, so it is measured.
    threads: int | None = setting(None, ge=1)
    # Grade every sample after the last problem, off every clock (False: later, with
    # `python -m harness.grading`).
    grade: bool = setting(True, measured=False)
    # Which answers count as stated (changes what is measured, so a resume must keep it).
    extraction: Extraction = Extraction.strict
    grade_workers: int = setting(1, ge=1, measured=False)
    # Bounds one sympy parse: a safety net, not a grading rule (those are data.grader and extraction).
    grade_timeout_s: float = setting(5.0, gt=0, measured=False)
    # After grading, Math-Verify grades the same samples (run.json `audit`, grader_audit.jsonl);
    # like grading, after the last problem, so it changes nothing a clock records.
    audit: bool = setting(True, measured=False)
    # Allocation and graph capture for the run's longest prompt before the first clock; without
    # it the first problem (and any longer later one) pays for them on its clock.
    warmup: bool = True
    progress: bool = setting(True, measured=False)
    # In a local multirun, hold one GPU (or the CPU) exclusively per job so jobs never share a
    # device while being timed (harness/generation/devices.py). Ignored under SLURM.
    exclusive_device: bool = True


@dataclass
class RunConfig:
    # Directory of an earlier run to continue: finished problems are kept, partial ones redone.
    resume: str | None = None
    # A single run ends by writing its report (figures, summary.md) into <run dir>/report; a sweep
    # is reported as a whole with `python -m harness.report <sweep dir>`.
    report: bool = True


@dataclass
class HarnessConfig:
    model: ModelConfig = MISSING
    data: DataConfig = MISSING
    prompt: PromptConfig = MISSING
    selection: SelectionConfig = MISSING
    budget: str = "10s"  # per problem: 500ms, 60s, 5m, 1h, 1h30m or plain seconds
    seed: int = setting(0, ge=0)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    # Where to resume from and whether to write a report: nothing a clock records.
    run: RunConfig = field(default_factory=RunConfig, metadata=UNMEASURED)
    # Modules imported at start that register datasets, selection methods or backends of their own
    # (harness/plugins.py, docs/extending.md); where code comes from, like data.dir.
    plugins: list[str] = field(default_factory=list, metadata=UNMEASURED)


class ConfigError(UserError):
    pass


def _unknown_keys(node: DictConfig, schema: type, prefix: str = "") -> list[str]:
    """Keys a ``+key=value`` override added beside the schema (open dict fields excepted)."""
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = [prefix + key for key in node.keys() if key not in fields]
    for name, f in fields.items():
        child = node.get(name) if name in node else None
        child_type = OmegaConf.get_type(child) if isinstance(child, DictConfig) else None
        if child_type is not None and dataclasses.is_dataclass(child_type):
            unknown += _unknown_keys(child, child_type, f"{prefix}{name}.")
    return unknown


_BOUNDS = {"ge": (">=", operator.ge), "gt": (">", operator.gt), "le": ("<=", operator.le)}


def check_ranges(cfg: Any, prefix: str = "") -> None:
    """Every numeric setting of the config dataclass ``cfg`` against the range its field declares
    (metadata ``ge`` / ``gt`` / ``le``; None passes): ConfigError naming the first one out of range."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check_ranges(value, f"{prefix}{f.name}.")
            continue
        rule = {k: f.metadata[k] for k in _BOUNDS if k in f.metadata}
        if not rule or value is None:
            continue
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
        if not numeric or not all(_BOUNDS[k][1](value, bound) for k, bound in rule.items()):
            need = " and ".join(f"{_BOUNDS[k][0]} {bound:g}" for k, bound in rule.items())
            raise ConfigError(f"{prefix}{f.name}={value} is out of range: it must be {need}")


def to_harness_config(cfg: DictConfig) -> HarnessConfig:
    """The composed config as dataclasses, refusing keys the schema does not have and values out
    of their range (``check_ranges``; the budget by ``parse_budget``). Entry points use
    ``harness.extensions.load_config``, which goes on to check the names of registered entries."""
    unknown = _unknown_keys(cfg, HarnessConfig)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}: check the spelling against "
                          "`python -m harness --cfg job` (only model.options takes keys of its own)")
    config = OmegaConf.to_object(cfg)
    parse_budget(config.budget)
    check_ranges(config)
    return config


def unmeasured_keys(schema: type = HarnessConfig, prefix: str = "") -> tuple[str, ...]:
    """Dotted keys declared ``measured=False`` (a key under one of them is unmeasured too)."""
    hints = typing.get_type_hints(schema)
    keys: list[str] = []
    for f in dataclasses.fields(schema):
        if not f.metadata.get("measured", True):
            keys.append(prefix + f.name)
        elif dataclasses.is_dataclass(hints[f.name]):
            keys += unmeasured_keys(hints[f.name], f"{prefix}{f.name}.")
    return tuple(keys)


def under(key: str, prefixes: typing.Iterable[str]) -> bool:
    """The dotted ``key`` is one of ``prefixes`` or below one of them."""
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def is_measured(key: str) -> bool:
    """Whether a change to the dotted config ``key`` may change what a run measures."""
    return not under(key, unmeasured_keys())


def as_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-ready data (enums by their names), as run.json stores it."""
    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(cfg))


def _shard_tag(shard: str | None) -> str:
    return "" if shard in (None, "None", "null") else "_shard" + str(shard).replace("/", "of")


def _overrides_tag(override_dirname: str) -> str:
    # Overrides of measured keys (seed=1, runner.concurrency=4...) keep the jobs of a sweep
    # apart; unmeasured ones and Hydra's own stay out of the directory name.
    items = re.split(r",(?=[\w.+~/-]+=)", override_dirname) if override_dirname else []
    keys = [item.split("=", 1)[0].lstrip("+~") for item in items]
    kept = [item.replace("/", "-") for item, key in zip(items, keys) if not key.startswith("hydra") and is_measured(key)]
    return "_" + ",".join(kept) if kept else ""


def register() -> None:
    ConfigStore.instance().store(name="harness_schema", node=HarnessConfig)
    OmegaConf.register_new_resolver("shard_tag", _shard_tag, replace=True)
    OmegaConf.register_new_resolver("overrides_tag", _overrides_tag, replace=True)
