"""Test-time scaling under a fixed wall-clock budget: Transformers vs distilled Mamba reasoners."""

__version__ = "0.1.0"
