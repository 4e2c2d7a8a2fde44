"""Which backend runs a model: ``model.backend=auto`` picks the best engine installed for it.

A speed comparison is only fair when each model runs on the best engine it can have (or all on
the same one). ``choose_backend`` is that decision as a pure function of facts (is CUDA visible,
is vLLM installed, what the model's config files say it is), so tests fake the facts on CPU;
``gather_facts`` reads them on this machine; ``make_backend`` is how the runner and the
profiler get a backend. The choice and its reason are recorded in run.json as ``backend_choice``.

- auto: a distilled student runs on its own backend, the slot engine (a MambaInLlama checkpoint,
  told by its mamba_config.json -> mamba_in_llama; a Llamba, config.json's model_type -> llamba);
  a Llama -> vllm on CUDA with vLLM installed, else the slot engine (``engine``) on CUDA, else hf;
  transformers Mamba-2 and other architectures -> vllm on CUDA with vLLM installed, else hf.
- slot: every model on the slot engine, for a like-for-like check: Llama -> engine, a student -> its own.
- hf / engine / vllm / mamba_in_llama / llamba: as asked, refused where the architecture cannot run on it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass

from harness.generation.backends import Backend, backend_class
from harness.config import BackendName, HarnessConfig, ModelConfig
from harness.errors import UserError

# The students' architectures (as ``harness.generation.models.hub.ModelInfo.architecture`` names them), each
# run only by the slot-engine backend of the same name, and what to call them in messages.
STUDENTS = {"mamba_in_llama": "MambaInLlama", "llamba": "Llamba"}


@dataclass(frozen=True)
class Facts:
    cuda: bool  # the model would run on a visible CUDA device (model.device allowing)
    vllm: bool  # vllm is installed in this environment
    architecture: str  # "mamba_in_llama", else config.json's model_type: llama, llamba, mamba2, ...


@dataclass(frozen=True)
class BackendChoice:
    backend: str
    reason: str  # one line, recorded beside it


def choose_backend(requested: str, facts: Facts) -> BackendChoice:
    """The backend for ``model.backend=requested`` given ``facts``; UserError where none fits."""
    arch, gpu = facts.architecture, "CUDA" if facts.cuda else "no CUDA device"
    student = STUDENTS.get(arch)
    if requested == BackendName.auto:
        if student:
            return BackendChoice(arch, f"auto: a {student} checkpoint runs on the {arch} backend (slot engine)")
        if facts.cuda and facts.vllm:
            return BackendChoice("vllm", f"auto: {arch} on CUDA with vLLM installed: vLLM, the engine the field serves "
                                         "it with")
        if facts.cuda and arch == "llama":
            return BackendChoice("engine", "auto: llama on CUDA without vLLM: the slot engine (CUDA-graph decode)")
        why = "vLLM and the slot engine are chosen on CUDA only" if not facts.cuda else "vLLM is not installed"
        return BackendChoice("hf", f"auto: {arch} with {gpu}: hf ({why})")
    if requested == BackendName.slot:
        if student:
            return BackendChoice(arch, f"slot: the slot engine, through the {arch} backend for a {student} checkpoint")
        if arch == "llama":
            return BackendChoice("engine", "slot: the slot engine, through the engine backend for a llama")
        raise UserError(f"model.backend=slot runs llama, MambaInLlama and Llamba models on the slot engine; this "
                        f"model is {arch}: use model.backend=auto")
    if (student or requested in STUDENTS) and requested != arch:
        owner = f"{student} checkpoints run on {arch} only" if student else f"it runs {STUDENTS[requested]} only"
        raise UserError(f"model.backend={requested} cannot run this model ({arch}; {owner}): "
                        f"use model.backend={arch if student else 'auto'}")
    if requested == BackendName.engine and arch != "llama":
        raise UserError(f"model.backend=engine runs llama models, this one is {arch}: use model.backend=auto")
    return BackendChoice(str(requested), f"model.backend={requested} as configured")


def gather_facts(model: ModelConfig) -> Facts:
    """This machine's facts for ``model`` (a model that cannot be had fails here, in one line)."""
    from harness.generation.devices import cuda_visible
    from harness.generation.models.hub import check_tokenizer, model_info

    info = model_info(model.path, model.revision)
    if model.tokenizer is not None:
        check_tokenizer(model.tokenizer)
    return Facts(cuda_visible(model.device), importlib.util.find_spec("vllm") is not None, info.architecture)


def make_backend(cfg: HarnessConfig, max_new_tokens: int) -> tuple[Backend, BackendChoice]:
    """The backend ``cfg.model.backend`` resolves to (not loaded), and why; its options are checked."""
    choice = choose_backend(str(cfg.model.backend), gather_facts(cfg.model))
    model = dataclasses.replace(cfg.model, backend=BackendName(choice.backend))
    return backend_class(choice.backend)(model, cfg.sampling, cfg.runner, max_new_tokens, cfg.seed), choice
