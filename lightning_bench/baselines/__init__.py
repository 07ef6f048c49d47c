"""Provider registry: our kernels and every competing implementation behind one small interface.

A provider turns a :class:`Case` into a :class:`Prepared` call: inputs built once, in the provider's own layout,
outside any timed region, and a ``forward()`` closure that runs only the operation. Each adapter imports its
library lazily and says whether it is available here, and why not.
"""

from __future__ import annotations

from .base import (
    Case,
    Inputs,
    Prepared,
    Provider,
    Unsupported,
    clear_availability_cache,
    get_provider,
    list_providers,
    register,
)

# Adapters register themselves on import (order = display order).
from . import la2, la1, naive_linear, recurrent_linear, fla, la2_reference, flash_attn2, xformers, sdpa_cudnn, floor  # noqa: E402,F401,E501

__all__ = [
    "Case",
    "Inputs",
    "Prepared",
    "Provider",
    "Unsupported",
    "clear_availability_cache",
    "get_provider",
    "list_providers",
    "register",
]
