"""Measured hardware ceilings for rooflines: device-to-device copy bandwidth and bf16 matmul rate.

Copy: ``b.copy_(a)`` on a 1 GiB buffer, bytes read + written over the median CUDA-event time. Matmul: 8192³ bf16
``torch.matmul`` on random (not zero) data, 2·8192³ FLOPs over the median time (shared device notes: zeros run
faster than random data).

The same two workloads are the sweep's *reference workload* for drift normalisation (issue #6): a CUDA sweep
records their median times at its start (``reference_start``) and at its end (``reference_end``) in
``ceilings.json``, and ``lightning-bench gate --normalize`` divides a cell's candidate/baseline ratio by the
candidate/baseline ratio of the reference time (copy for memory-bound kernels, matmul for compute-bound).
"""

from __future__ import annotations

import datetime as _dt
import json
import statistics
from pathlib import Path

import torch


def _median_ms(fn, iters: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    evs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
    for s, e in evs:
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in evs)


def measure_ceilings(device: torch.device | None = None, copy_gib: float = 1.0, matmul_n: int = 8192,
                     iters: int = 20) -> dict:
    """Return {"copy_bytes_per_s", "bf16_matmul_flops_per_s", ...}; raises ValueError without CUDA."""
    if not torch.cuda.is_available():
        raise ValueError("measuring ceilings needs a CUDA device")
    device = device or torch.device("cuda", torch.cuda.current_device())
    with torch.cuda.device(device):
        nbytes = int(copy_gib * 2**30)
        a = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device=device)
        b = torch.empty_like(a)
        t_copy = _median_ms(lambda: b.copy_(a), iters)
        del a, b
        x = torch.randn(matmul_n, matmul_n, device=device, dtype=torch.bfloat16)
        y = torch.randn(matmul_n, matmul_n, device=device, dtype=torch.bfloat16)
        t_mm = _median_ms(lambda: torch.matmul(x, y), iters)
        del x, y
        torch.cuda.empty_cache()
    return {
        "source": "measured by lightning_bench.ceilings",
        "timestamp_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "gpu": torch.cuda.get_device_name(device),
        "copy_bytes_per_s": 2 * nbytes / (t_copy * 1e-3),
        "copy_buffer_bytes": nbytes,
        "copy_median_ms": t_copy,
        "bf16_matmul_flops_per_s": 2 * matmul_n**3 / (t_mm * 1e-3),
        "matmul_n": matmul_n,
        "matmul_median_ms": t_mm,
        "iters": iters,
    }


def write_ceilings(path: Path, ceilings: dict) -> Path:
    path = Path(path)
    path.write_text(json.dumps(ceilings, indent=2) + "\n")
    return path


REFERENCE_FIELDS = ("copy_median_ms", "matmul_median_ms")


def reference_point(ceilings: dict) -> dict:
    """The reference-workload part of one ceilings measurement: {copy_median_ms, matmul_median_ms, timestamp_utc}."""
    out = {k: ceilings[k] for k in REFERENCE_FIELDS if k in ceilings}
    out["timestamp_utc"] = ceilings.get("timestamp_utc")
    return out


def record_reference(path: Path, which: str, device: torch.device | None = None) -> dict:
    """Measure the reference workload now and store it as ``reference_<which>`` ("start" or "end") in the
    ceilings.json at ``path`` (created, with the ceilings, when missing). Returns the stored point."""
    if which not in ("start", "end"):
        raise ValueError(f"which must be 'start' or 'end', got {which!r}")
    path = Path(path)
    measured = measure_ceilings(device)
    data = json.loads(path.read_text()) if path.exists() else dict(measured)
    data[f"reference_{which}"] = reference_point(measured)
    write_ceilings(path, data)
    return data[f"reference_{which}"]
