"""Which backend runs a model: ``model.backend=auto`` picks the best engine installed for it.

A speed comparison is only fair when each model runs on the best engine it can have (or all on
the same one). ``choose_backend`` is that decision as a pure function of facts (is CUDA visible,
which packages are installed, what the model's config files say it is) and of what each backend
declares (``harness.generation.backends``: what it runs, when auto picks it), so tests fake the
facts on CPU; ``gather_facts`` reads them on this machine; ``make_backend`` is how the runner and
the profiler get a backend. The choice and its reason are recorded in run.json as ``backend_choice``.

- auto: the first backend by rank that runs the model and whose needs the machine meets. With
  the built-in declarations: a distilled student on its own backend, the slot engine (a
  MambaInLlama checkpoint, told by its mamba_config.json -> mamba_in_llama; a Llamba,
  config.json's model_type -> llamba); a Llama -> vllm on CUDA with vLLM installed, else the slot
  engine (``engine``) on CUDA, else hf; transformers Mamba-2 and other architectures -> vllm on
  CUDA with vLLM installed, else hf.
- slot: every model on the slot engine, for a like-for-like check: Llama -> engine, a student -> its own.
- a backend by name: as asked, refused where it cannot run the architecture.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass

from harness.config import HarnessConfig, ModelConfig
from harness.errors import UserError
from harness.generation.backends import BACKENDS, Backend, BackendSpec, backend_class


@dataclass(frozen=True)
class Facts:
    cuda: bool  # the model would run on a visible CUDA device (model.device allowing)
    architecture: str  # "mamba_in_llama", else config.json's model_type: llama, llamba, mamba2, ...
    installed: frozenset[str] = frozenset()  # the packages backends need (Auto.package) that are installed


@dataclass(frozen=True)
class BackendChoice:
    backend: str
    reason: str  # one line, recorded beside it


def _specs() -> list[BackendSpec]:
    return sorted((BACKENDS.get(name) for name in BACKENDS), key=lambda s: s.auto.rank)


def _owner(arch: str) -> BackendSpec | None:
    """The backend that owns the architecture's format (a student's), if one does."""
    return next((s for s in _specs() if s.exclusive and arch in (s.architectures or ())), None)


def runs(spec: BackendSpec, arch: str) -> bool:
    if spec.architectures is not None:
        return arch in spec.architectures
    return _owner(arch) is None


def _phrase(specs: list[BackendSpec], verb: str) -> str | None:
    if not specs:
        return None
    return f"{' and '.join(s.title or s.name for s in specs)} {'is' if len(specs) == 1 else 'are'} {verb}"


def _auto(facts: Facts) -> BackendChoice:
    arch, gpu = facts.architecture, "CUDA" if facts.cuda else "no CUDA device"
    no_cuda: list[BackendSpec] = []
    missing: list[BackendSpec] = []
    for spec in (s for s in _specs() if runs(s, arch)):
        if spec.auto.cuda and not facts.cuda:
            no_cuda.append(spec)
        elif spec.auto.package and spec.auto.package not in facts.installed:
            missing.append(spec)
        elif spec.exclusive:
            return BackendChoice(spec.name, "auto: " + spec.auto.choice.format(label=spec.label, name=spec.name))
        elif spec.auto.cuda or spec.auto.package:  # chosen for what this machine has
            where = "on CUDA" if spec.auto.cuda else f"with {gpu}"
            has = f" with {spec.title or spec.auto.package} installed" if spec.auto.package else ""
            without = f" without {' and '.join(s.title or s.name for s in missing)}" if missing else ""
            return BackendChoice(spec.name, f"auto: {arch} {where}{has}{without}: {spec.auto.choice}")
        else:  # what is left: say why the others were not chosen
            why = "; ".join(filter(None, (_phrase(no_cuda, "chosen on CUDA only"), _phrase(missing, "not installed"))))
            return BackendChoice(spec.name, f"auto: {arch} with {gpu}: {spec.auto.choice}{f' ({why})' if why else ''}")
    raise UserError(f"no backend runs {arch} models on this machine ({gpu}): name one with model.backend=<name>")


def _slot(arch: str) -> BackendChoice:
    slot = sorted((s for s in _specs() if s.slot_engine), key=lambda s: s.exclusive)  # the general one first
    spec = next((s for s in slot if runs(s, arch)), None)
    if spec is None:
        kinds = [s.label or s.name for s in slot]
        listed = ", ".join(kinds[:-1]) + f" and {kinds[-1]}" if len(kinds) > 1 else "".join(kinds)
        raise UserError(f"model.backend=slot runs {listed} models on the slot engine; this model is {arch}: use "
                        "model.backend=auto")
    return BackendChoice(spec.name, f"slot: the slot engine, through the {spec.name} backend for a {spec.label} "
                                    "checkpoint")


def choose_backend(requested: str, facts: Facts) -> BackendChoice:
    """The backend for ``model.backend=requested`` given ``facts``; UserError where none fits."""
    arch = facts.architecture
    if requested == "auto":
        return _auto(facts)
    if requested == "slot":
        return _slot(arch)
    spec = BACKENDS.get(requested)
    if not runs(spec, arch):
        owner = _owner(arch)
        if owner is not None:
            raise UserError(f"model.backend={requested} cannot run this model ({arch}; {owner.label} checkpoints run "
                            f"on {owner.name} only): use model.backend={owner.name}")
        raise UserError(f"model.backend={requested} cannot run this model ({arch}; it runs "
                        f"{spec.label or ', '.join(sorted(spec.architectures or ()))} only): use model.backend=auto")
    return BackendChoice(requested, f"model.backend={requested} as configured")


def gather_facts(model: ModelConfig) -> Facts:
    """This machine's facts for ``model`` (a model that cannot be had fails here, in one line)."""
    from harness.generation.devices import cuda_visible
    from harness.generation.models.hub import check_tokenizer, model_info

    info = model_info(model.path, model.revision)
    if model.tokenizer is not None:
        check_tokenizer(model.tokenizer)
    needed = {s.auto.package for s in _specs() if s.auto.package}
    installed = frozenset(p for p in needed if importlib.util.find_spec(p) is not None)
    return Facts(cuda_visible(model.device), info.architecture, installed)


def make_backend(cfg: HarnessConfig, max_new_tokens: int) -> tuple[Backend, BackendChoice]:
    """The backend ``cfg.model.backend`` resolves to (not loaded), and why; its options are checked."""
    choice = choose_backend(str(cfg.model.backend), gather_facts(cfg.model))
    model = dataclasses.replace(cfg.model, backend=choice.backend)
    return backend_class(choice.backend)(model, cfg.sampling, cfg.runner, max_new_tokens, cfg.seed), choice
