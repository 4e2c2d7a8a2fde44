"""Every config composes against the typed schema; typos and unknown options fail at start."""

from pathlib import Path

import subprocess

import pytest
from conftest import ROOT, harness_cmd
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from harness.config import ConfigError, _overrides_tag, is_measured, to_harness_config, unmeasured_keys
from harness.extensions import load_config, register_all
from harness.generation.backends import BACKENDS, backend_class

CONF = Path(__file__).resolve().parents[1] / "conf"
register_all()


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["model", "data", "prompt", "selection"])
def test_every_option_of_every_group_composes(group):
    for option in _options(group):
        cfg = _compose(f"{group}={option}")
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


@pytest.mark.parametrize("model", _options("model"))
def test_every_models_backend_accepts_its_options(model):
    cfg = load_config(_compose(f"model={model}"))
    assert cfg.model.backend in ("auto", "slot") or cfg.model.backend in BACKENDS
    # auto / slot resolve on the machine (harness/generation/backends/auto.py): every backend they may pick.
    names = BACKENDS.names() if cfg.model.backend in ("auto", "slot") else [cfg.model.backend]
    for name in names:
        backend = backend_class(name)(cfg.model, cfg.sampling, cfg.runner, max_new_tokens=8, seed=0)
        assert type(backend.options) is backend.options_type


@pytest.mark.parametrize("model", _options("model"))
def test_the_debug_profile_is_tiny_and_quiet_for_every_model(model):
    cfg = load_config(_compose("debug=tiny", f"model={model}"))
    assert cfg.model.name == model and cfg.data.limit == 3 and cfg.sampling.max_new_tokens == 24
    assert (cfg.runner.threads, cfg.runner.progress, cfg.run.report) == (1, False, False)
    assert load_config(_compose("debug=tiny")).model.name == "tiny_llama"


def test_default_is_the_offline_cpu_demo():
    cfg = _compose()
    assert (cfg.model.name, cfg.model.backend, cfg.model.dtype, cfg.data.name) == ("smollm2", "auto", "auto", "gsm8k")
    assert cfg.run.report  # the default job ends with its figures
    assert cfg.data.limit is not None


def test_typo_in_a_key_fails_at_start():
    with pytest.raises(ConfigCompositionException) as err:
        _compose("sampling.temprature=0.5")
    assert "temprature" in str(err.value.__cause__) and "SamplingConfig" in str(err.value.__cause__)


def test_wrong_type_fails_at_start():
    with pytest.raises(ConfigCompositionException) as err:
        _compose("runner.concurrency=many")
    message = str(err.value.__cause__)
    assert "'many'" in message and "runner.concurrency" in message and "int" in message.lower()


@pytest.mark.parametrize("override, message", [
    # mamba: renamed mamba_in_llama (an old run.json resumes under the new name, a new config may not use it)
    ("model.backend=tensorrt", "model.backend=tensorrt: unknown backend; choose one of auto, slot, engine, hf, llamba, "
                               "mamba_in_llama, vllm (docs/extending.md adds one of your own)"),
    ("model.backend=mamba", "model.backend=mamba: unknown backend; choose one of auto, slot, engine, hf, "),
    ("selection.methods=[coverage,voting]", "selection.methods=voting: unknown selection method; choose one of "
                                            "best_of_n, coverage, majority, rm_weighted (docs/extending.md"),
    ("data.name=gsm9k", "data.name=gsm9k: unknown dataset; choose one of aime24, aime25, amc23, arith, gsm8k, math, "
                        "math500 (docs/extending.md"),
])
def test_a_name_no_registry_holds_is_refused_listing_the_registered_ones(override, message):
    to_harness_config(_compose(override))  # the schema takes any name: the registries, filled by plugins, decide
    with pytest.raises(ConfigError) as err:
        load_config(_compose(override))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("dataset, max_new_tokens", [
    ("gsm8k", 512), ("math500", 1024), ("math", 1024),
    ("aime24", 4096), ("aime25", 4096), ("amc23", 4096), ("arith", 160),
])
def test_the_dataset_declares_the_default_max_new_tokens_and_run_json_records_it(dataset, max_new_tokens):
    assert to_harness_config(_compose(f"data={dataset}")).data.max_new_tokens is None
    assert load_config(_compose(f"data={dataset}")).data.max_new_tokens == max_new_tokens
    assert load_config(_compose(f"data={dataset}", "data.max_new_tokens=64")).data.max_new_tokens == 64


def test_unknown_key_is_refused_by_the_conversion():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) no_such_key, sampling.tmp:"):
        to_harness_config(_compose("+no_such_key=1", "+sampling.tmp=2"))
    assert to_harness_config(_compose("+model.options.kv_cache_gb=1")).model.options == {"kv_cache_gb": 1}


def test_unknown_key_fails_at_start_in_one_line(tmp_path):
    proc = subprocess.run(harness_cmd("+no_such_key=1", f"hydra.run.dir={tmp_path / 'run'}"), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: unknown config key(s) no_such_key: check the spelling against `python -m harness --cfg job` "
        "(only model.options takes keys of its own)"]
    assert not (tmp_path / "run" / "run.json").exists()


@pytest.mark.parametrize("choice, named", [
    (["model=no_such_model"], "unknown model 'no_such_model': choose one of llama_1b, "),
    (["-m", "model=tiny_llama,no_such_model", "budget=1s"], "unknown model 'no_such_model': "),
    (["+experiment=paper_gsm9k"], "unknown experiment 'paper_gsm9k': choose one of cpu_demo, "),
    (["data=gsm9k"], "unknown data 'gsm9k': choose one of aime24, aime25, amc23, arith, gsm8k, math, math500 "
                     "(conf/data/)"),
])
def test_unknown_group_choice_fails_at_start_in_one_line(tmp_path, choice, named):
    proc = subprocess.run(harness_cmd(*choice, f"hydra.run.dir={tmp_path / 'run'}",
                                      f"hydra.sweep.dir={tmp_path / 'sweep'}"),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {named}"), proc.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


def test_unknown_group_option_lists_the_valid_ones():
    with pytest.raises(Exception) as err:
        _compose("model=no_such_model")
    message = str(err.value)
    assert "no_such_model" in message and "tiny_llama" in message and "smollm2" in message


MEASURED_ELSEWHERE = ["model.name", "model.tokenizer", "model.options", "data.name", "data.shard", "prompt.user",
                      "budget", "seed", "sampling.temperature", "selection.methods", "selection.reward.model",
                      "runner.concurrency", "runner.threads", "runner.extraction", "runner.warmup",
                      "runner.exclusive_device"]


def test_one_declaration_says_which_keys_change_what_is_measured():
    assert set(unmeasured_keys()) == {"data.dir", "data.ids", "data.limit", "selection.reward.time_on_axis",
                                      "runner.grade", "runner.grade_workers", "runner.grade_timeout_s", "runner.audit",
                                      "runner.progress", "run", "plugins"}
    assert not any(is_measured(k) for k in ("run.resume", "run.report", "runner.progress", "data.limit"))
    assert all(is_measured(k) for k in MEASURED_ELSEWHERE)
    # Sweeps name a job by its measured overrides only (hydra's own and unmeasured ones left out).
    assert _overrides_tag("data.limit=2,hydra/launcher=basic,runner.concurrency=4,runner.progress=false,seed=1") == \
        "_runner.concurrency=4,seed=1"


@pytest.mark.parametrize("overrides, message", [
    (["data.limit=-1"], "data.limit=-1 is out of range: it must be >= 1"),
    (["sampling.temperature=-1"], "sampling.temperature=-1.0 is out of range: it must be >= 0"),
    (["sampling.top_p=1.5"], "sampling.top_p=1.5 is out of range: it must be > 0 and <= 1"),
    (["sampling.top_k=-3"], "sampling.top_k=-3 is out of range: it must be >= 0"),
    (["sampling.max_new_tokens=0"], "sampling.max_new_tokens=0 is out of range: it must be >= 1"),
    (["runner.concurrency=0"], "runner.concurrency=0 is out of range: it must be >= 1"),
    (["runner.threads=0"], "runner.threads=0 is out of range: it must be >= 1"),
    (["runner.grade_timeout_s=0"], "runner.grade_timeout_s=0.0 is out of range: it must be > 0"),
    (["seed=-1"], "seed=-1 is out of range: it must be >= 0"),
    (["budget=0s"], "budget '0s' must be a positive, finite duration"),
    (["model=tiny_hybrid", "+model.options.gpu_memory_utilization=1.5"],
     "model.options.gpu_memory_utilization=1.5 is out of range: it must be > 0 and <= 1"),
    (["model=tiny_llamba", "+model.options.max_len_multiple=0"],
     "model.options.max_len_multiple=0 is out of range: it must be >= 1"),
])
def test_a_setting_out_of_range_fails_at_start_in_one_line_naming_it(tmp_path, overrides, message):
    # data=arith needs no file: the setting's error shows where no benchmark data is installed too.
    proc = subprocess.run(harness_cmd("debug=tiny", "data=arith", *overrides, f"hydra.run.dir={tmp_path / 'run'}"),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), proc.stderr
    assert not (tmp_path / "run" / "run.json").exists()


def _documented_commands() -> list[tuple[str, ...]]:
    """The overrides of every `python -m harness ...` example in --help (conf/config.yaml) and in
    README.md's Running section; a sweep's values taken one at a time, "..." examples left out."""
    texts = [(CONF / "config.yaml").read_text(), (ROOT / "README.md").read_text().split("## Running", 1)[1]]
    commands = []
    for line in "\n".join(texts).replace("\\\n", " ").splitlines():  # a continued line is one command
        words = line.split("#", 1)[0].split()
        if words[:3] != ["python", "-m", "harness"] or "..." in words:
            continue
        overrides = [w for w in words[3:] if w not in ("-m", "--help")]
        # A sweep "a,b" composes as each of its jobs: here its first and its last.
        for pick in (0, -1):
            commands.append(tuple(w.split("=", 1)[0] + "=" + w.split("=", 1)[1].split(",")[pick] if "=" in w else w
                                  for w in overrides))
    return list(dict.fromkeys(commands))


@pytest.mark.parametrize("overrides", _documented_commands(), ids=" ".join)
def test_every_documented_command_composes_and_passes_the_checks(overrides):
    register_all()
    load_config(_compose(*overrides))
