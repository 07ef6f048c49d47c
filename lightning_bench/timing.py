"""Timing: first call apart, warm-up, then many samples with CUDA events and an L2 flush (shared docs §7).

Rules implemented here: sample counts are counts (a minimum count with a time cap, not a millisecond budget);
the median and all samples are kept; one L2 policy for every provider (the flush buffer is 2× the device's L2,
zeroed outside the event pair); the first call (JIT compile + autotune) is timed separately; gradients are cleared
before every sample, outside the timed region.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Measurement:
    """Raw samples of one (provider, mode, case) and the statistics derived from them (ms)."""

    samples_ms: list[float]
    first_call_ms: float
    timer: str
    l2_policy: str
    warmup_calls: int = 0
    extra: dict = field(default_factory=dict)  # "host_ms": median host time to enqueue one call (warm-up, unsynced)

    @property
    def n_samples(self) -> int:
        return len(self.samples_ms)

    def quantile(self, q: float) -> float:
        xs = sorted(self.samples_ms)
        if not xs:
            return float("nan")
        pos = q * (len(xs) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else float("nan")

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.samples_ms) if self.samples_ms else float("nan")


@dataclass
class TimingConfig:
    """How long and how often to time one row.

    Attributes:
        warmup_s: seconds of warm-up calls after the first call (at least ``min_warmup_calls`` calls).
        min_samples, max_samples: sample-count bounds.
        max_time_s: target time spent on timed samples; the count is derived from the warm-up estimate and clipped
            to [min_samples, max_samples].
        flush_l2: zero a buffer of 2× the L2 size before each CUDA sample (cold-L2 policy).
        host_decoupled: on CUDA, before each sample's start event, hold the stream with a GPU spin longer than the
            host needs to enqueue one call (measured in the warm-up), so that the events bracket the call's GPU work
            alone, not the host's launch latency: nvbench's "blocking kernel" method. For kernel regression gates:
            a launch-bound call is otherwise timed at the host's speed of the moment (other processes, clocks), which
            moved one cell by 30 % between two runs of the same code on an H200. Off: end-to-end eager time.
    """

    warmup_s: float = 0.1
    min_warmup_calls: int = 3
    min_samples: int = 10
    max_samples: int = 100
    max_time_s: float = 0.5
    flush_l2: bool = True
    host_decoupled: bool = False

    def __post_init__(self):
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be ≥ 1, got {self.min_samples}")
        if self.max_samples < self.min_samples:
            raise ValueError(f"max_samples ({self.max_samples}) must be ≥ min_samples ({self.min_samples})")
        if self.max_time_s <= 0 or self.warmup_s < 0:
            raise ValueError("max_time_s must be > 0 and warmup_s ≥ 0")


_FLUSH: dict[int, torch.Tensor] = {}
_SPIN_CYCLES_PER_MS: dict[int, float] = {}


def spin_cycles_per_ms(device: torch.device) -> float:
    """GPU clock cycles of ``torch.cuda._sleep`` per millisecond on ``device``, measured once per device (CUDA
    events around a 10⁶-cycle spin)."""
    idx = device.index if device.index is not None else torch.cuda.current_device()
    if idx not in _SPIN_CYCLES_PER_MS:
        with torch.cuda.device(idx):
            torch.cuda._sleep(1000)
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            torch.cuda._sleep(1_000_000)
            b.record()
            b.synchronize()
            _SPIN_CYCLES_PER_MS[idx] = 1_000_000 / max(a.elapsed_time(b), 1e-3)
    return _SPIN_CYCLES_PER_MS[idx]


def l2_flush_buffer(device: torch.device) -> torch.Tensor:
    idx = device.index if device.index is not None else torch.cuda.current_device()
    if idx not in _FLUSH:
        l2 = getattr(torch.cuda.get_device_properties(idx), "L2_cache_size", 50 * 2**20) or 50 * 2**20
        _FLUSH[idx] = torch.empty(2 * l2, dtype=torch.int8, device=f"cuda:{idx}")
    return _FLUSH[idx]


def measure(fn: Callable[[], object], *, pre: Callable[[], None] | None = None, device: torch.device,
            config: TimingConfig | None = None) -> Measurement:
    """Time ``fn`` on ``device``: first call, warm-up, then timed samples.

    ``pre`` runs before every call outside the timed region (e.g. clearing ``.grad``). On CUDA the samples come from
    CUDA events around ``fn`` alone; on the CPU from ``time.perf_counter``.
    """
    cfg = config or TimingConfig()
    pre = pre or (lambda: None)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    pre()
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    first_ms = (time.perf_counter() - t0) * 1e3

    # warm-up: at least min_warmup_calls calls and warmup_s seconds; estimates the per-call time
    calls, t0, host_ms = 0, time.perf_counter(), []
    while calls < cfg.min_warmup_calls or time.perf_counter() - t0 < cfg.warmup_s:
        pre()
        th = time.perf_counter()
        fn()
        host_ms.append((time.perf_counter() - th) * 1e3)  # enqueue time (no synchronisation inside)
        calls += 1
        if calls % 8 == 0 or calls >= cfg.min_warmup_calls:
            sync()
    sync()
    est_ms = max((time.perf_counter() - t0) * 1e3 / calls, 1e-3)
    n = int(min(cfg.max_samples, max(cfg.min_samples, cfg.max_time_s * 1e3 / est_ms)))

    samples: list[float] = []
    if cuda:
        flush = l2_flush_buffer(device) if cfg.flush_l2 else None
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        spin = 0
        if cfg.host_decoupled:  # 2× the slowest warm-up enqueue + 0.05 ms, at most 50 ms
            spin_ms = min(2.0 * max(host_ms) + 0.05, 50.0)
            spin = int(spin_ms * spin_cycles_per_ms(device))
        for start, end in events:
            pre()
            if flush is not None:
                flush.zero_()
            if spin:
                torch.cuda._sleep(spin)
            start.record()
            fn()
            end.record()
        sync()
        samples = [s.elapsed_time(e) for s, e in events]
        timer = "cuda_event" + (f" (host-decoupled: {spin_ms:.2f} ms GPU spin before each sample)" if spin else "")
        policy = (f"cold: {flush.numel() // 2**20} MiB (2×L2) zeroed before each sample" if flush is not None
                  else "warm: no flush")
    else:
        for _ in range(n):
            pre()
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
        timer = "perf_counter (CPU)"
        policy = "n/a (CPU)"
    return Measurement(samples_ms=samples, first_call_ms=first_ms, timer=timer, l2_policy=policy, warmup_calls=calls,
                       extra={"host_ms": statistics.median(host_ms)})


def peak_memory_mib(fn: Callable[[], object], *, pre: Callable[[], None] | None = None,
                    device: torch.device, absolute: bool = False) -> tuple[float, ...]:
    """Peak memory of one call as a delta over what was allocated before it: (allocated MiB, reserved MiB), and with
    ``absolute`` also the absolute peak allocated (MiB) as a third value.

    Returns NaNs on the CPU (no allocator statistics).
    """
    if device.type != "cuda":
        return (float("nan"),) * (3 if absolute else 2)
    if pre:
        pre()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    before_res = torch.cuda.memory_reserved(device)
    out = fn()
    torch.cuda.synchronize(device)
    peak_abs = torch.cuda.max_memory_allocated(device)
    peak_res = torch.cuda.max_memory_reserved(device) - before_res
    del out
    if absolute:
        return (peak_abs - before) / 2**20, peak_res / 2**20, peak_abs / 2**20
    return (peak_abs - before) / 2**20, peak_res / 2**20
