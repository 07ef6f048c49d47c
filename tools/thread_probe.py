"""Does Python thread-local state survive between backward calls on autograd's CUDA device thread? Records, for
each call of ``gluon_fwd.bind_context`` during ``--calls`` eager fwd + bwd calls, the OS thread id and whether
``gluon_fwd._THREAD`` (a ``threading.local``) still held the previous call's binding; also how long the backward's
launch path takes on that thread vs. on the calling thread (``--calls`` each).

    python tools/thread_probe.py [--shape 2,16,2048] [--calls 200]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host_profile import setup  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="2,16,2048")
    ap.add_argument("--calls", type=int, default=200)
    a = ap.parse_args()
    b, h, n = (int(x) for x in a.shape.split(","))
    _, cases = setup(b, h, n)
    seen = []
    real = G.bind_context
    timing = {}
    real_bwd = G.backward

    def bind(device):
        seen.append((threading.get_ident(), getattr(G._THREAD, "bound", None) is not None,
                     threading.current_thread().name))
        return real(device)

    def bwd(*args, **kw):
        t0 = time.perf_counter()
        out = real_bwd(*args, **kw)
        timing.setdefault(threading.current_thread().name, []).append(time.perf_counter() - t0)
        return out

    G.bind_context, G.backward = bind, bwd
    main_name = threading.current_thread().name
    for mode in ("multi", "one"):
        with torch.autograd.set_multithreading_enabled(mode == "multi"):
            for _ in range(a.calls):
                cases["fwd_bwd"]()
        torch.cuda.synchronize()
    G.bind_context, G.backward = real, real_bwd
    for ident in sorted({s[0] for s in seen}):
        rows = [s for s in seen if s[0] == ident]
        print(f"thread {ident} ({rows[0][2]}{', the caller' if rows[0][2] == main_name else ''}): "
              f"{len(rows)} bind_context calls, thread-local binding present in {sum(r[1] for r in rows)}")
    for name, ts in timing.items():
        ts = sorted(ts)
        print(f"gluon_fwd.backward on {name}: median {ts[len(ts) // 2] * 1e6:.1f} µs over {len(ts)} calls")


if __name__ == "__main__":
    main()
