"""Test setup: run the Triton kernels through Triton's CPU interpreter when no GPU is present.

``TRITON_INTERPRET`` must be in the environment before ``triton`` (and so ``lightning_bench.kernels``) is imported;
importing torch first is fine.
"""

from __future__ import annotations

import os
import sys

import torch

if not torch.cuda.is_available():
    assert "triton" not in sys.modules, "triton was imported before tests/conftest.py could set TRITON_INTERPRET"
    os.environ.setdefault("TRITON_INTERPRET", "1")
