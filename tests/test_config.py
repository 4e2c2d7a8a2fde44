"""Every config composes against the typed schema; typos and unknown options fail at start."""

from pathlib import Path

import subprocess

import pytest
from conftest import ROOT, harness_cmd
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from harness.backends import BACKENDS, backend_class
from harness.config import BackendName, ConfigError, register, to_harness_config

CONF = Path(__file__).resolve().parents[1] / "conf"
register()


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
    cfg = to_harness_config(_compose(f"model={model}"))
    assert isinstance(cfg.model.backend, BackendName)
    # auto / slot resolve on the machine (harness/backends/auto.py): every backend they may pick.
    names = BACKENDS.names() if cfg.model.backend in ("auto", "slot") else [cfg.model.backend]
    for name in names:
        backend = backend_class(name)(cfg.model, cfg.sampling, cfg.runner, max_new_tokens=8, seed=0)
        assert type(backend.options) is backend.options_type


@pytest.mark.parametrize("model", _options("model"))
def test_the_debug_profile_is_tiny_and_quiet_for_every_model(model):
    cfg = to_harness_config(_compose("debug=tiny", f"model={model}"))
    assert cfg.model.name == model and cfg.data.limit == 3 and cfg.sampling.max_new_tokens == 24
    assert (cfg.runner.threads, cfg.runner.progress, cfg.run.report) == (1, False, False)
    assert to_harness_config(_compose("debug=tiny")).model.name == "tiny_llama"


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


@pytest.mark.parametrize("backend", ["tensorrt", "mamba"])  # mamba: renamed mamba_in_llama (old run.json resume)
def test_unknown_choice_of_a_closed_set_lists_the_valid_ones(backend):
    with pytest.raises(ConfigCompositionException) as err:
        _compose(f"model.backend={backend}")
    assert "expected one of [auto, slot, hf, engine, mamba_in_llama, llamba, vllm]" in str(err.value.__cause__)


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
    (["data=gsm9k"], "unknown data 'gsm9k': choose one of gsm8k, math, math500 (conf/data/)"),
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
