"""Lightning Attention-2: Triton kernels (``kernel``) and float64 references (``reference``)."""

from .decode import lightning_attn_decode
from .kernel import BLOCK_N, kernel_impl_name, lightning_attn
from .reference import lightning_attn_reference

__all__ = ["BLOCK_N", "kernel_impl_name", "lightning_attn", "lightning_attn_decode", "lightning_attn_reference"]
