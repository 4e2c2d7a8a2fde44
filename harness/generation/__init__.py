"""The generation stack: what turns a prompt into finished samples, below the runner's clock.

``session`` (the contract: a ``Session`` keeps samples of one prompt in flight, ``Finished`` is
what it hands back), ``devices`` (which device and dtype a model runs on; one device per timed
job), ``backends/`` (the ``Backend`` interface, one file per engine, ``model.backend=auto``),
``engine/`` (the slot engine), ``models/`` (the students and builtin models) and ``kernels/``
(the project's Triton kernels). Dependencies point down that list: backends -> engine ->
models -> kernels.
"""
