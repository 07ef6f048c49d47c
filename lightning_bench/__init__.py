"""lightning-bench: Lightning Attention-2 kernels in Triton and the benchmark suite around them."""

__version__ = "0.1.0"
