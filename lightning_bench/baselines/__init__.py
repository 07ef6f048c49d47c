"""Provider registry: our kernels and every competing implementation behind one small interface.

A provider turns a :class:`Case` into a :class:`Prepared` call: inputs built once, in the provider's own layout,
outside any timed region, and a ``forward()`` closure that runs only the operation. Each adapter imports its
library lazily and says whether it is available here, and why not.
"""

from __future__ import annotations

from .base import Case, Prepared, Provider, Unsupported, get_provider, list_providers, register

# Adapters register themselves on import (order = display order).
from . import la2 as _la2  # noqa: F401,E402
from . import torch_linear as _torch_linear  # noqa: F401,E402
from . import fla as _fla  # noqa: F401,E402
from . import la2_reference as _la2_reference  # noqa: F401,E402
from . import softmax as _softmax  # noqa: F401,E402

__all__ = ["Case", "Prepared", "Provider", "Unsupported", "get_provider", "list_providers", "register"]
