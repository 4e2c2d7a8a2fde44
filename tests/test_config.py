"""Every config composes against the typed schema; typos and unknown options fail at start."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from harness.config import register

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


def test_default_is_the_offline_cpu_demo():
    cfg = _compose()
    assert (cfg.model.name, cfg.model.backend, cfg.data.name) == ("smollm2", "hf", "gsm8k")
    assert cfg.data.limit is not None


def test_typo_in_a_key_fails_at_start():
    with pytest.raises(ConfigCompositionException) as err:
        _compose("sampling.temprature=0.5")
    assert "temprature" in str(err.value.__cause__) and "SamplingConfig" in str(err.value.__cause__)


def test_wrong_type_fails_at_start():
    with pytest.raises(ConfigCompositionException):
        _compose("runner.concurrency=many")


def test_unknown_group_option_lists_the_valid_ones():
    with pytest.raises(Exception) as err:
        _compose("model=no_such_model")
    message = str(err.value)
    assert "no_such_model" in message and "tiny_llama" in message and "smollm2" in message
