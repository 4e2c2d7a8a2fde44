"""llamba backend: the Llamba students (Llama-3.x distilled into Discrete Mamba-2, docs/llamba.md)
on the slot engine, exactly as the MambaInLlama students run: prompt prefilled once, its conv + SSM
state copied into every refilled slot, CUDA-graph decode; mamba-ssm's kernels on CUDA.

The hub repos hold config.json and weights only: the tokenizer (with its chat template) and the
generation config (EOS ids) come from ``model.tokenizer``, the teacher's repo.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError
from harness.generation.backends.torch_backend import StudentBackend
from harness.generation.models import resolve
from harness.generation.models.checkpoint import local_dir
from harness.generation.models.llamba import load_model


def has_tokenizer(directory: Path) -> bool:
    return any((directory / name).exists() for name in ("tokenizer.json", "tokenizer_config.json"))


class LlambaBackend(StudentBackend):
    def _load_model(self) -> set[int]:
        cfg = self.model_cfg
        directory = local_dir(resolve(cfg.path), cfg.revision)
        if cfg.tokenizer is None and not has_tokenizer(directory):
            raise UserError(f"model.path={cfg.path} has no tokenizer (Llamba repos ship none): set "
                            "model.tokenizer to its teacher's, e.g. meta-llama/Llama-3.2-1B-Instruct")
        self.tokenizer = self._tokenizer(str(directory))
        self.model = load_model(directory, self.dtype, self.device)
        self._use_kernels()
        return self._eos_ids(*[d for d in (directory, self.tokenizer_dir) if d is not None])

    def describe(self) -> dict[str, object]:
        c = self.model.cfg
        return {**super().describe(), "mixer": "discrete_mamba2", "layers": c.n_layer,
                "tokenizer": self.model_cfg.tokenizer or self.model_cfg.path}
