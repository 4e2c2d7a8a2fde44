"""mamba-ssm's GPU kernels for the students' CUDA path (mamba_in_llama and llamba backends), imported lazily.

mamba-ssm is an optional extra and its Triton wrappers need CUDA, so nothing here is imported
unless a model runs on a GPU; the CPU path uses the pure-torch reference in ``mamba_layers``.
causal-conv1d (``causal_conv1d_update``, the decode step's conv) is optional on top: without
it the conv step stays torch code inside the CUDA graph.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import MissingPackage

INSTALL_HINT = "pip install 'harness[mamba]' (mamba-ssm with its CUDA extension, on a machine with CUDA)"


@dataclass(frozen=True)
class Kernels:
    # Triton: one decode step of the SSM recurrence, in place on the state (Mamba-1 and -2).
    selective_state_update: Callable
    # Triton: Mamba-2 chunked scan over a prompt, returning the final state.
    chunk_scan: Callable
    # CUDA extension: Mamba-1 scan over a prompt; None where mamba-ssm was built without it.
    selective_scan: Callable | None
    # causal-conv1d's CUDA decode conv step, in place on the conv state; None where not installed.
    conv_update: Callable | None = None


@functools.cache
def load_kernels() -> Kernels:
    """The kernels, or a MissingPackage error whose one line says how to install them."""
    try:
        from mamba_ssm.ops.triton.selective_state_update import selective_state_update
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except ImportError as err:
        # Older mamba-ssm's package __init__ imports the compiled `selective_scan_cuda`, so a
        # wheel built without its extension fails here too.
        raise MissingPackage(f"the Mamba students on CUDA need mamba-ssm: {INSTALL_HINT} [{err}]") from None
    return Kernels(selective_state_update, mamba_chunk_scan_combined, _selective_scan(), _conv_update())


def _conv_update() -> Callable | None:
    try:
        from causal_conv1d import causal_conv1d_update
    except ImportError:
        return None
    return causal_conv1d_update


def _selective_scan() -> Callable | None:
    try:
        import selective_scan_cuda
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    # A stand-in module (benchmarks insert one so Triton-only wheels import) has no kernels.
    return selective_scan_fn if hasattr(selective_scan_cuda, "fwd") else None
