"""Typed Hydra structured configs: a typo in a key fails at start, not after an hour.

The YAML files under conf/ fill these dataclasses; the schema is registered in Hydra's
ConfigStore as ``harness_schema`` and the primary ``conf/config.yaml`` extends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf


@dataclass
class ModelConfig:
    name: str = MISSING
    # Hub id, local directory, or "builtin:<name>" for models the harness builds itself
    # (tiny_llama, tiny_mamba, smollm2); see harness/models/.
    path: str = MISSING
    backend: str = "hf"
    # Architecture family, for the README's backend table and for the reporter's legend.
    arch: str = "llama"
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16 (auto: bf16 on CUDA and CPU)
    device: str = "auto"  # auto | cpu | cuda
    revision: str | None = None
    trust_remote_code: bool = False
    # Jinja chat template overriding the tokenizer's own (None: use the tokenizer's).
    chat_template: str | None = None
    # Backend-specific options (e.g. vLLM's gpu_memory_utilization); free-form on purpose,
    # each backend validates its own keys.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    name: str = MISSING  # gsm8k | math500 | math
    dir: str = "${oc.env:HARNESS_DATA_DIR,data}"
    file: str = "test.jsonl"
    grader: str = MISSING  # gsm8k | math: which extraction/equivalence rules apply
    question_field: str = MISSING
    answer_field: str = MISSING
    # Field holding a stable id; None: "<name>/<split>/<line index>".
    id_field: str | None = None
    # How the gold answer is stored: "gsm8k_hashes" takes the text after "####".
    answer_format: str = "plain"  # plain | gsm8k_hashes
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
    kind: str = "prm"  # prm | orm
    aggregation: str = "last"  # last | min | prod | mean (PRM step scores)
    batch_size: int = 8
    device: str = "auto"  # auto = cuda when visible, else cpu
    dtype: str = "auto"  # auto = bfloat16 (an 8B PRM does not fit a 24 GB machine in fp32)
    # Put scoring time on the plots' time axis, so a faster generator can't hide a slower scorer.
    time_on_axis: bool = True


@dataclass
class SelectionConfig:
    name: str = MISSING
    # What the run summary reports: coverage | majority | rm_weighted | best_of_n
    methods: list[str] = field(default_factory=lambda: ["coverage", "majority"])
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
    grade_workers: int = 1
    grade_timeout_s: float = 5.0
    warmup: bool = True
    progress: bool = True
    # In a local multirun, hold one GPU (or the CPU) exclusively per job so jobs never share a
    # device while being timed (harness/devices.py). Ignored under SLURM.
    exclusive_device: bool = True


@dataclass
class RunConfig:
    # Directory of an earlier run to continue: finished problems are kept, partial ones redone.
    resume: str | None = None


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
