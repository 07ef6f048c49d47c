"""Where the short rows' fixed cost goes (issue #4's flatness target, perf-notes v25).

perf-v24's b2 h16 fwd_bwd rows are time(n) ≈ 19 µs + 2.33 µs per 64-token block at every length from 2K (the
per-block slope at 2K–8K equals 128K's), so the 2K / 128K flatness is set by that fixed 19 µs. This splits it, for
``--providers`` (default la2 and the byte floor) and fwd / fwd_bwd at each ``--seq-lens``:

- ``event_us``: the sweep's timer (host-decoupled CUDA events, L2 flushed; median), what the rows report;
- ``kernel_us``: the sum of the call's device kernel durations (torch.profiler / CUPTI, L2 flushed before each call,
  median over calls), and each kernel's own duration;
- ``empty_us``: the same timer around one empty kernel launch: the timer's own fixed cost.

so event − kernel is the launch gaps inside the call and the timer's edges, and a kernel's duration minus
blocks × the long rows' per-block time is its in-kernel ramp and tail:

    python tools/short_overhead.py [--seq-lens 1024,2048,4096,8192] [--providers la2,floor] [--set PDL=False] --out DIR
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.baselines.base import Case  # noqa: E402
from lightning_bench.profile import _build_call, _event_us, _is_device_event, _is_noise_name, short_kernel_name  # noqa: E402
from lightning_bench.timing import TimingConfig, l2_flush_buffer, measure  # noqa: E402
from tune_knob import apply_sets  # noqa: E402  (tools/ is this script's directory)


def kernel_durations(fn, pre, device, calls: int = 7) -> list[list[tuple[str, float]]]:
    """Per call, its device kernels in launch order as (short name, µs); L2 flushed before each call."""
    flush = l2_flush_buffer(device)
    per_call = []
    for _ in range(calls):
        if pre:
            pre()
        flush.bitwise_not_()
        torch.cuda.synchronize(device)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize(device)
        evs = sorted((e for e in prof.events() if _is_device_event(e) and not _is_noise_name(e.name)),
                     key=lambda e: e.time_range.start)
        ks = [(short_kernel_name(e.name), _event_us(e, True)) for e in evs]
        per_call.append(ks)
    return per_call


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq-lens", default="1024,2048,4096,8192")
    ap.add_argument("--providers", default="la2,floor")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--modes", default="fwd,fwd_bwd")
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="ATTR=VALUE",
                    help="set a gluon_fwd knob first (e.g. PDL=False; True, False, None or an integer)")
    a = ap.parse_args(argv)
    apply_sets(a.set)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda")
    cfg = TimingConfig(host_decoupled=True)

    empty = torch.empty(1, device=device)
    m = measure(lambda: empty.add_(0), device=device, config=cfg)
    empty_us = m.median_ms * 1e3
    print(f"timer around one tiny kernel (add_ on 1 element): {empty_us:.2f} µs")

    rows, kernels = [], []
    for prov in a.providers.split(","):
        for n in (int(x) for x in a.seq_lens.split(",")):
            case = Case(a.batch, a.heads, n, a.head_dim, a.head_dim, "bf16", "alibi")
            for mode in a.modes.split(","):
                try:
                    _, _, _, fn, pre, kept = _build_call(prov, case, mode, device, seed=0)
                    ev = measure(fn, pre=pre, device=device, config=cfg).median_ms * 1e3
                    calls = kernel_durations(fn, pre, device)
                except Exception as exc:  # one provider's failure must not lose the others' rows
                    print(f"{prov} n={n} {mode}: FAILED {type(exc).__name__}: {exc}")
                    continue
                sums = [sum(us for _, us in c) for c in calls]
                ksum = statistics.median(sums)
                names = [name for name, _ in calls[0]]
                for i, name in enumerate(names):
                    durs = [c[i][1] for c in calls if len(c) == len(names)]
                    kernels.append(dict(provider=prov, seq_len=n, mode=mode, index=i, kernel=name,
                                        us=statistics.median(durs)))
                tokens = a.batch * n
                rows.append(dict(provider=prov, seq_len=n, mode=mode, event_us=ev, kernel_us=ksum,
                                 gap_us=ev - ksum, launches=len(names), empty_us=empty_us,
                                 mtok_s=tokens / ev))
                print(f"{prov:6s} n={n:6d} {mode:8s} event {ev:8.2f} µs  kernels {ksum:8.2f} µs "
                      f"({len(names)} launches)  gap {ev - ksum:6.2f}  "
                      + "  ".join(f"{k['kernel'][:28]}={k['us']:.1f}" for k in kernels
                                  if k['provider'] == prov and k['seq_len'] == n and k['mode'] == mode),
                      flush=True)
                del fn, pre, kept
                torch.cuda.empty_cache()
    df = pd.DataFrame(rows)
    df.to_csv(out / "short_overhead.csv", index=False)
    pd.DataFrame(kernels).to_csv(out / "short_overhead_kernels.csv", index=False)
    # fixed cost by a line through the rows: time = fixed + slope × blocks
    for (prov, mode), g in df.groupby(["provider", "mode"]):
        if len(g) >= 2:
            blocks = g.seq_len / 64
            for col in ("event_us", "kernel_us"):
                slope = ((blocks - blocks.mean()) * (g[col] - g[col].mean())).sum() / ((blocks - blocks.mean()) ** 2).sum()
                fixed = g[col].mean() - slope * blocks.mean()
                print(f"fit {prov:6s} {mode:8s} {col:9s}: fixed {fixed:6.2f} µs + {slope:.3f} µs per 64-token block")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
