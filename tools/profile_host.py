"""Where a la2 call's host time goes: enqueue time per call (perf_counter around the call, synchronised between calls
so the queue never blocks the host) and a cProfile of the same calls, for fwd and fwd_bwd at a few shapes.

    python3 tools/profile_host.py --out DIR [--shapes "b,h,d,n;..."] [--calls 200]

Writes DIR/host_ms.csv (one row per shape and mode: median / p20 / p80 enqueue ms) and DIR/profile-<shape>-<mode>.txt
(the cProfile listing, top functions by own time and by cumulative time). GPU only (the Gluon path needs sm_90).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pathlib
import pstats
import statistics
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from lightning_bench.kernels import lightning_attn  # noqa: E402
from lightning_bench.kernels.slopes import decay_slopes  # noqa: E402


def _call(q, k, v, slopes, do, mode):
    o = lightning_attn(q, k, v, slopes)
    if mode == "fwd_bwd":
        o.backward(do)
    return o


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--shapes", default="2,16,128,1024;2,16,128,8192;8,16,64,4096")
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        ap.error("needs a CUDA GPU (it times the host side of GPU launches)")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = ["batch,heads,head_dim,seq_len,mode,calls,host_ms_median,host_ms_p20,host_ms_p80"]
    for spec in args.shapes.split(";"):
        b, h, d, n = (int(x) for x in spec.split(","))
        gen = torch.Generator(device="cuda").manual_seed(0)
        mk = lambda: torch.randn(b, h, n, d, device="cuda", dtype=torch.bfloat16, generator=gen)  # noqa: E731
        slopes = decay_slopes(h).cuda()
        q, k, v, do = (mk() for _ in range(4))
        for mode in ("fwd", "fwd_bwd"):
            leaves = [t.detach().requires_grad_(mode == "fwd_bwd") for t in (q, k, v)]
            for _ in range(10):  # compile and warm
                _call(*leaves, slopes, do, mode)
            torch.cuda.synchronize()
            times = []
            prof = cProfile.Profile()
            for _ in range(args.calls):
                for t in leaves:
                    t.grad = None
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                prof.enable()
                _call(*leaves, slopes, do, mode)
                prof.disable()
                times.append((time.perf_counter() - t0) * 1e3)
            torch.cuda.synchronize()
            qs = statistics.quantiles(times, n=10)
            rows.append(f"{b},{h},{d},{n},{mode},{args.calls},{statistics.median(times):.4f},{qs[1]:.4f},{qs[7]:.4f}")
            print(f"b{b} h{h} d{d} n={n} {mode}: host {statistics.median(times):.3f} ms/call "
                  f"(p20 {qs[1]:.3f}, p80 {qs[7]:.3f}; profiled, so a little above the sweep's host_ms)", flush=True)
            buf = io.StringIO()
            st = pstats.Stats(prof, stream=buf)
            st.sort_stats("tottime").print_stats(30)
            st.sort_stats("cumulative").print_stats(45)
            (args.out / f"profile-b{b}h{h}d{d}n{n}-{mode}.txt").write_text(buf.getvalue())
    (args.out / "host_ms.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
