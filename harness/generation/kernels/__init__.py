"""The project's own Triton kernels, each beside the torch reference it is tested against.

- ``decode_attention``: one query token per slot against a static per-slot K/V cache
  (``attend_split_k`` in Triton, ``attend_masked`` in torch).
- ``top_p``: the nucleus threshold without sorting the vocabulary (``nucleus_threshold`` in
  Triton, ``nucleus_threshold_sorted`` in torch).

Kernels are built on first use, so importing this package needs neither Triton nor CUDA; on CPU
they run only in Triton's interpreter (``TRITON_INTERPRET=1``, as the tests do).
"""
