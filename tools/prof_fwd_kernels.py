"""Per-kernel GPU time of one forward call (torch.profiler / CUPTI), for kernel variants of tools/variants_fwd.py:
where a split forward's time goes (segment-end pass, state scan, main pass, gaps).

    python tools/prof_fwd_kernels.py --out DIR [--variants old,base] [--cases 2048:e32w4s2P2,65536:e128w8s3P4]
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import variants_fwd as vf  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--variants", default="old,base")
    ap.add_argument("--cases", default="2048:e32w4s2P2,2048:e128w8s3P4,2048:e32w4s3,65536:e128w8s3P4")
    a = ap.parse_args(argv)
    from lightning_bench.kernels import decay_slopes

    a.out.mkdir(parents=True, exist_ok=True)
    names = a.variants.split(",")
    mods = [(name, vf.build(name, vf.VARIANTS.get(name, []))) for name in names]
    confs = {c[0]: c for c in vf.SHORT + vf.LONG}
    lines = []
    try:
        for case in a.cases.split(","):
            n, cname = case.split(":")
            n = int(n)
            _, over, split = confs[cname]
            b, h, d = 2, 16, 128
            q, k, v = (torch.randn(b, h, n, d, device="cuda").to(torch.bfloat16) * 0.5 for _ in range(3))
            sl = decay_slopes(h).cuda()
            for name, m in mods:
                with m.launch_config(**over):
                    fn = lambda m=m: m._fwd(q, k, v, sl, None, False, "bhnd", 64, None, "ieee", split)
                    for _ in range(5):
                        fn()
                    torch.cuda.synchronize()
                    reps = 20
                    spin = torch.cuda._sleep  # hold the stream so the host queues all calls (GPU time only)
                    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                        spin(50_000_000)
                        for _ in range(reps):
                            fn()
                        torch.cuda.synchronize()
                evs = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
                per = defaultdict(float)
                starts, ends = [], []
                for e in evs:
                    if "sleep" in e.name:
                        continue
                    per[e.name] += e.device_time / reps
                    starts.append(e.time_range.start)
                    ends.append(e.time_range.end)
                span = (max(ends) - min(starts)) / reps
                tot = sum(per.values())
                line = (f"{n:6d} {cname:12s} {name:10s} span/call {span:8.1f} us  kernels {tot:8.1f} us  " +
                        "  ".join(f"{k.split('_kernel')[0].replace('_la2_', '')}={v:.1f}" for k, v in sorted(per.items())))
                print(line, flush=True)
                lines.append(line)
    finally:
        for name in names:
            (vf.PKG / f"_variant_{name}.py").unlink(missing_ok=True)
        (a.out / "prof.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
