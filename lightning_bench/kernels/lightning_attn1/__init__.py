"""Lightning Attention-1: Triton kernels (``kernel``); the float64 oracle is Lightning Attention-2's reference
(:func:`lightning_bench.kernels.lightning_attn_reference`), since both compute the same function."""

from .kernel import BLOCK_N, lightning_attn1

__all__ = ["BLOCK_N", "lightning_attn1"]
