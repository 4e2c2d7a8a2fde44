"""What the torch backends (hf, engine, mamba_in_llama, llamba) share: threads, device and dtype,
tokenizer, end of sample (EOS ids, stop strings), the sampling generator, the slot engine for those
built on it, and for the distilled students mamba-ssm's kernels."""

from __future__ import annotations

import functools
import json
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.generation.backends.base import Backend
from harness.generation.backends.tokenizer import load_tokenizer, render_chat_prompt
from harness.generation.devices import pick_device, pick_dtype
from harness.generation.engine import EngineHost, EngineOptions, SamplingParams, StopChecker
from harness.generation.models import resolve
from harness.generation.session import Session


def eos_ids(eos_token_id: int | list[int] | None, tokenizer) -> set[int]:
    """End-of-sample tokens: the generation config's (Llama-3: end-of-text, eom, eot) and the tokenizer's."""
    ids = set(eos_token_id if isinstance(eos_token_id, list) else [] if eos_token_id is None else [eos_token_id])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


class TorchBackend(Backend):
    """``load`` sets up threads / device / dtype, lets ``_load_model`` load weights and tokenizer,
    then the stop checker and the generator every problem is reseeded from."""

    @abstractmethod
    def _load_model(self) -> set[int]:
        """Load ``self.model`` and ``self.tokenizer`` (on ``self.device`` / ``self.dtype``); return the EOS ids."""

    def load(self) -> None:
        if self.runner_cfg.threads:
            torch.set_num_threads(self.runner_cfg.threads)
        self.device = pick_device(self.model_cfg.device)
        self.dtype, self.dtype_reason = pick_dtype(str(self.model_cfg.dtype), self.device)
        self.eos = self._load_model()
        self.sampling_params = SamplingParams(self.sampling.temperature, self.sampling.top_p, self.sampling.top_k)
        self.stop = StopChecker(self.tokenizer, list(self.sampling.stop))
        self.generator = torch.Generator(self.device).manual_seed(self.seed)

    def _tokenizer(self, path: str, **kwargs: Any):
        """The tokenizer at ``path``, or from ``model.tokenizer`` when that is set (at its default revision)."""
        if self.tokenizer_dir is not None:
            path, kwargs = str(self.tokenizer_dir), {}
        return load_tokenizer(path, self.model_cfg, **kwargs)

    @functools.cached_property
    def tokenizer_dir(self) -> Path | None:
        """``model.tokenizer``'s files (no weights) as a local directory; None when it is not set."""
        from harness.generation.models.checkpoint import CONFIGS, local_dir

        tokenizer = self.model_cfg.tokenizer
        return None if tokenizer is None else local_dir(resolve(tokenizer), patterns=CONFIGS)

    def _load_causal_lm(self):
        """The transformers causal LM at ``model.path`` (on the device, in the dtype); sets the tokenizer."""
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the run's own progress bar is the one to read
        cfg = self.model_cfg
        path = resolve(cfg.path)
        kwargs = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
        self.tokenizer = self._tokenizer(path, **kwargs)
        return AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype, **kwargs).to(self.device).eval()

    def render_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        return render_chat_prompt(self.tokenizer, messages)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def describe(self) -> dict[str, object]:
        info: dict[str, object] = {"device": str(self.device), "dtype": str(self.dtype).removeprefix("torch."),
                                   "dtype_reason": self.dtype_reason, "threads": torch.get_num_threads()}
        if self.device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(self.device)
        return info

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class SlotEngineBackend(TorchBackend):
    """A backend whose samples run on the slot engine (``harness.generation.engine``): its ``_load_model``
    sets ``self.model`` to a ``harness.generation.engine.state.DecodeModel``."""

    options_type = EngineOptions

    def load(self) -> None:
        super().load()
        self.host = EngineHost(self.model, self.sampling_params, self.generator, self.max_new_tokens, self.options)

    def capacity(self, prompt_tokens: int) -> int | None:
        return self.host.fits(prompt_tokens) if self.device.type == "cuda" else None

    def events(self) -> dict[str, int]:
        return dict(self.host.events)

    def session(self, prompt_ids: list[int], concurrency: int) -> Session:
        # eos and stop are read per session, so tests (and callers) may change them after load.
        return self.host.session(prompt_ids, concurrency, self.eos, self.stop)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), **self.host.describe()}

    def close(self) -> None:
        self.host = None
        super().close()


@dataclass(frozen=True)
class StudentOptions(EngineOptions):
    kernels: bool = True  # mamba-ssm kernels on CUDA; False runs the torch reference there too


class StudentBackend(SlotEngineBackend):
    """A distilled Mamba student on the slot engine: its ``_load_model`` loads ``self.model`` (a
    ``harness.generation.models.mamba_model.SlotLM``) and calls ``_use_kernels``."""

    options_type = StudentOptions

    def _use_kernels(self) -> None:
        if self.device.type == "cuda" and self.options.kernels:
            from harness.generation.models.mamba_kernels import load_kernels

            self.model.kernels = load_kernels()

    def _eos_ids(self, *directories: Path) -> set[int]:
        """EOS ids from the first generation_config.json among ``directories``, and the tokenizer's."""
        files = [d / "generation_config.json" for d in directories if (d / "generation_config.json").exists()]
        return eos_ids(json.loads(files[0].read_text()).get("eos_token_id") if files else None, self.tokenizer)

    def kernels_path(self) -> str:
        kernels = self.model.kernels
        if kernels is None:
            return "torch reference"
        return "mamba-ssm" + (" + causal-conv1d" if kernels.conv_update is not None else "")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "kernels": self.kernels_path()}
