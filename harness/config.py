"""Typed Hydra structured configs: a typo in a key, a wrong type or an unknown choice fails at start.

The YAML files under conf/ fill these dataclasses; the schema is registered in Hydra's
ConfigStore as ``harness_schema`` and the primary ``conf/config.yaml`` extends it. The entry
point converts the composed config once (``to_harness_config``); every component after it
receives these dataclasses, never a DictConfig. Closed sets of choices are Enums (OmegaConf
checks them at composition and lists the valid names).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


class BackendName(StrEnum):
    # The best engine installed for the model (harness/backends/auto.py), recorded with its reason.
    auto = "auto"
    # The slot engine for every model, for a like-for-like check: engine for a Llama, a student on its own.
    slot = "slot"
    hf = "hf"  # plain transformers (prompt prefilled once per problem, slots refilled from its cache)
    engine = "engine"  # a transformers Llama on the project's slot engine (CUDA-graph decode)
    mamba_in_llama = "mamba_in_llama"  # MambaInLlama students (hybrids, or pure in that format) on the slot engine
    llamba = "llamba"  # Llamba students (Discrete Mamba-2) on the slot engine
    vllm = "vllm"


# Backend names runs were recorded with before a rename: run.json keeps them, resume and reports
# read them as today's (``current_backend``).
RENAMED_BACKENDS = {"mamba": BackendName.mamba_in_llama.value}


def current_backend(name: str) -> str:
    return RENAMED_BACKENDS.get(name, name)


class Dtype(StrEnum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class GraderName(StrEnum):
    gsm8k = "gsm8k"
    math = "math"


class Extraction(StrEnum):
    strict = "strict"  # an answer only where a sample states one (docs/grading.md)
    flexible = "flexible"  # strict, else the last number in the text (prompts that ask for no marked answer)


class AnswerFormat(StrEnum):
    plain = "plain"
    gsm8k_hashes = "gsm8k_hashes"  # the gold answer is the text after "####"


class Method(StrEnum):
    coverage = "coverage"
    majority = "majority"
    rm_weighted = "rm_weighted"
    best_of_n = "best_of_n"


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
    # (tiny_llama, tiny_mamba, tiny_hybrid, tiny_llamba, smollm2); see harness/models/.
    path: str = MISSING
    # Where the tokenizer (and generation config) come from when model.path has none: Llamba
    # repos ship none, their teacher's serves. None: model.path's own.
    tokenizer: str | None = None
    backend: BackendName = BackendName.auto
    # auto: bf16 on CUDA and on CPUs with native bf16 (AMX / AVX512-BF16), else float32 (harness/devices.py).
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
    name: str = MISSING  # gsm8k | math500 | math, or a dataset of your own
    dir: str = "${oc.env:HARNESS_DATA_DIR,data}"
    file: str = "test.jsonl"
    grader: GraderName = MISSING  # which extraction / equivalence rules apply
    question_field: str = MISSING
    answer_field: str = MISSING
    # Field holding a stable id; None: "<name>/<split>/<line index>".
    id_field: str | None = None
    answer_format: AnswerFormat = AnswerFormat.plain
    limit: int | None = None
    shard: str | None = None  # "i/n": every n-th problem starting at i (after limit)
    max_new_tokens: int = 512


@dataclass
class PromptConfig:
    # One user turn; {problem} is replaced by the problem text.
    user: str = MISSING
    system: str | None = None


@dataclass
class SamplingConfig:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0  # 0 = off; 1 is honoured as top-1 sampling, never a silent greedy switch
    # None: the dataset's default (512 GSM8K, 1024 MATH).
    max_new_tokens: int | None = None
    stop: list[str] = field(default_factory=list)


@dataclass
class RewardConfig:
    # Hub id, local directory or builtin:<name>; None: no reward model.
    model: str | None = None
    kind: RewardKind = RewardKind.prm
    aggregation: Aggregation = Aggregation.last  # how a PRM's step scores make one reward
    batch_size: int = 8
    device: str = "auto"  # auto = cuda when visible, else cpu
    dtype: Dtype = Dtype.auto  # auto = as for model.dtype: bf16 on CUDA (an 8B PRM in fp32 needs 32 GB)
    # Put scoring time on the plots' time axis, so a faster generator can't hide a slower scorer.
    time_on_axis: bool = True


@dataclass
class SelectionConfig:
    # What the run summary reports.
    methods: list[Method] = field(default_factory=lambda: [Method.coverage, Method.majority])
    reward: RewardConfig = field(default_factory=RewardConfig)


@dataclass
class RunnerConfig:
    # Samples in flight per problem ("as many as fit"). None: on an accelerator, what fits in
    # free memory (at most max_concurrency); on CPU, cpu_concurrency. A number is used as is on
    # CPU and as a cap on an accelerator.
    concurrency: int | None = None
    max_concurrency: int = 1024
    cpu_concurrency: int = 8
    # torch intra-op threads on CPU (None: torch's default). With another process busy,
    # 2 threads collapse while 1 holds, so this is a knob, not a constant.
    threads: int | None = None
    grade: bool = True  # grade finished samples in the background while generating
    # Which answers count as stated (changes what is measured, so a resume must keep it).
    extraction: Extraction = Extraction.strict
    grade_workers: int = 1
    grade_timeout_s: float = 5.0
    # After grading, Math-Verify grades the same samples (run.json `audit`, grader_audit.jsonl).
    audit: bool = True
    warmup: bool = True
    progress: bool = True
    # In a local multirun, hold one GPU (or the CPU) exclusively per job so jobs never share a
    # device while being timed (harness/devices.py). Ignored under SLURM.
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
    seed: int = 0
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    run: RunConfig = field(default_factory=RunConfig)


class ConfigError(ValueError):
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


def to_harness_config(cfg: DictConfig) -> HarnessConfig:
    """The composed config as dataclasses, refusing keys the schema does not have."""
    unknown = _unknown_keys(cfg, HarnessConfig)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}: check the spelling against "
                          "`python -m harness --cfg job` (only model.options takes keys of its own)")
    return OmegaConf.to_object(cfg)


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


# Overrides that do not change what a job measures stay out of its directory name.
_UNTAGGED = ("runner.", "run.", "hydra", "data.limit=", "data.dir=")


def _overrides_tag(override_dirname: str) -> str:
    # Other overrides (seed=1, sampling.temperature=0.6...) keep jobs of a sweep apart.
    items = re.split(r",(?=[\w.+~/-]+=)", override_dirname) if override_dirname else []
    kept = [item.replace("/", "-") for item in items if not item.lstrip("+~").startswith(_UNTAGGED)]
    return "_" + ",".join(kept) if kept else ""


def register() -> None:
    ConfigStore.instance().store(name="harness_schema", node=HarnessConfig)
    OmegaConf.register_new_resolver("shard_tag", _shard_tag, replace=True)
    OmegaConf.register_new_resolver("overrides_tag", _overrides_tag, replace=True)
