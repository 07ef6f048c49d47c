"""The run's environment, recorded once per run as ``env.json``."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import torch

PACKAGES = ("torch", "triton", "fla-core", "lightning-attn", "flash-attn", "xformers", "nvidia-ml-py", "pandas",
            "matplotlib", "click", "numpy", "lightning-bench")


def package_versions() -> dict[str, str | None]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    if out["lightning-bench"] is None:  # running from a source tree that is not pip-installed
        from . import __version__

        out["lightning-bench"] = f"{__version__} (source tree)"
    return out


def git_commit() -> dict:
    """Commit of the source tree: ``LIGHTNING_BENCH_GIT_COMMIT`` when set (the operator's word wins: a tree copied to
    another machine may carry a stale .git, which then reports an old HEAD and "dirty"; git's own view is kept as
    ``git_head``), else git's HEAD and whether tracked files differ from it."""
    root = Path(__file__).resolve().parent.parent
    info = {"commit": None, "dirty": None, "source": None}
    forced = os.environ.get("LIGHTNING_BENCH_GIT_COMMIT")
    try:
        r = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=root, capture_output=True, text=True,
                           timeout=5)
        head = r.stdout.strip() if r.returncode == 0 else ""
        if forced:
            if head:
                info["git_head"] = head
        elif head:
            info["commit"], info["source"] = head, "git"
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=5).stdout
            info["dirty"] = bool(status.strip())
    except Exception:
        pass
    if forced:
        info["commit"], info["source"] = forced, "LIGHTNING_BENCH_GIT_COMMIT"
    return info


def collect(device: torch.device, telemetry=None, argv: list[str] | None = None) -> dict:
    env = {
        "timestamp_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "argv": argv if argv is not None else sys.argv,
        "packages": package_versions(),
        "git": git_commit(),
        "device": str(device),
        "triton_interpret": os.environ.get("TRITON_INTERPRET", "0"),
        # switches that change what runs (LIGHTNING_BENCH_GLUON, LIGHTNING_BENCH_FAST_HOST, the planted slowdown, ...)
        "lightning_bench_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("LIGHTNING_BENCH_")},
        "cpu_count": os.cpu_count(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env["gpu"] = {
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "sm_count": props.multi_processor_count,
            "memory_gib": round(props.total_memory / 2**30, 2),
            "l2_cache_mib": round(getattr(props, "L2_cache_size", 0) / 2**20, 2),
            "cuda_runtime": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
        if telemetry is not None:
            env["nvml"] = telemetry.static_info()
    else:
        env["gpu"] = None
        env["note"] = "no CUDA: CPU timings (PyTorch CPU baselines, our kernels under the Triton interpreter)"
    return env
