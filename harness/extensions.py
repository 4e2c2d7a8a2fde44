"""What a config may name: datasets, selection methods and backends, by registry.

The three extension points (docs/extending.md) are registries: ``harness.data.DATASETS``,
``harness.analysis.methods.METHODS`` and ``harness.generation.backends.BACKENDS``, which plugins
(``harness.plugins``) add to. ``load_config`` is how every entry point turns the composed config
into a ``HarnessConfig``: the schema's checks (``harness.config.to_harness_config``), then the
plugins it names, then each name it gives checked against its registry (one line listing the
names), and what the dataset declares filled in (``data.max_new_tokens``), so run.json records
what ran. ``catalogue`` lists the registries for ``python -m harness --help``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf

from harness import plugins
from harness.analysis.methods import METHODS
from harness.config import ConfigError, HarnessConfig, register, to_harness_config
from harness.data import DATASETS, with_defaults
from harness.errors import UserError
from harness.generation.backends import BACKENDS

# model.backend values that pick among the registered backends (harness/generation/backends/auto.py).
BACKEND_MODES = ("auto", "slot")


def check_names(config: HarnessConfig) -> None:
    """Every registry name the config gives is registered: ConfigError naming the key otherwise."""
    names = [("data.name", config.data.name, DATASETS)]
    names += [("selection.methods", m, METHODS) for m in config.selection.methods]
    if config.model.backend not in BACKEND_MODES:
        names.append(("model.backend", config.model.backend, BACKENDS))
    for key, name, registry in names:
        if name not in registry:
            choices = [*(BACKEND_MODES if registry is BACKENDS else ()), *registry.names()]
            raise ConfigError(f"{key}={name}: unknown {registry.what}; choose one of {', '.join(choices)} "
                              "(docs/extending.md adds one of your own)")


def load_config(cfg: DictConfig) -> HarnessConfig:
    """The composed config as checked dataclasses, with the plugins it names imported."""
    config = to_harness_config(cfg)
    plugins.load(config.plugins)
    check_names(config)
    return dataclasses.replace(config, data=with_defaults(config.data))


def catalogue(modules: Iterable[str] = ()) -> str:
    """The registered datasets, selection methods and backends, one line each (for --help)."""
    try:
        plugins.load(modules)
    except UserError as err:
        return f"({err})"
    datasets = ", ".join(f"{n} ({DATASETS.get(n).title})" for n in DATASETS)
    methods = ", ".join(n + (" (needs rewards)" if METHODS.get(n).needs_rewards else "") for n in METHODS)
    backends = ", ".join(f"{n} ({BACKENDS.get(n).speed_class})" for n in BACKENDS)
    return (f"data.name: {datasets}\nselection.methods: {methods}\n"
            f"model.backend: {', '.join(BACKEND_MODES)}, {backends}")


def register_all() -> None:
    """The config schema and resolvers (harness.config.register), and ``${harness_catalogue:...}``,
    which the --help text of conf/config.yaml reads."""
    register()
    OmegaConf.register_new_resolver("harness_catalogue", lambda modules=(): catalogue(modules or ()), replace=True)
