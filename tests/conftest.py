"""Test setup: run the Triton kernels through Triton's CPU interpreter when no GPU is present.

``TRITON_INTERPRET`` must be in the environment before ``triton`` (and so ``lightning_bench.kernels``) is imported;
importing torch first is fine.
"""

from __future__ import annotations

import os
import sys
import warnings

import pytest
import torch

if not torch.cuda.is_available():
    assert "triton" not in sys.modules, "triton was imported before tests/conftest.py could set TRITON_INTERPRET"
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture
def nan_poison():
    """NaN-poison every ``torch.empty`` (shared docs §6): rows a kernel never writes read as NaN, not as stale zeros.
    Kernel test modules use it for every test via ``pytestmark = pytest.mark.usefixtures("nan_poison")``."""
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deterministic.*")
        yield
    torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
    torch.utils.deterministic.fill_uninitialized_memory = prev_fill
