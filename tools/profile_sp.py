"""Where does a lightning_attn_sp call spend its time? torch.profiler around a few sp calls per rank (issue #7).

    torchrun --nproc-per-node 2 tools/profile_sp.py --seq-len-total 32768 --out DIR

Prints, per rank, the top CUDA kernels and CPU ops of the fwd and fwd_bwd calls, the wall time per call with and
without a synchronize between calls, and writes a Chrome trace per rank and mode under DIR."""
import argparse
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from lightning_bench.distributed import lightning_attn_sp
from lightning_bench.kernels import decay_slopes

p = argparse.ArgumentParser()
p.add_argument("--seq-len-total", type=int, default=32768)
p.add_argument("--heads", type=int, default=16)
p.add_argument("--head-dim", type=int, default=128)
p.add_argument("--calls", type=int, default=5)
p.add_argument("--out", type=Path, required=True)
a = p.parse_args()
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
dist.init_process_group("nccl", device_id=torch.device("cuda", int(os.environ["LOCAL_RANK"])))
dev = torch.device("cuda")
n = a.seq_len_total // world
g = torch.Generator(device=dev).manual_seed(rank)
q, k, v = (torch.randn(1, a.heads, n, a.head_dim, device=dev, dtype=torch.bfloat16, generator=g).requires_grad_()
           for _ in range(3))
do = torch.randn_like(q)
sl = decay_slopes(a.heads).to(dev)


def fwd():
    with torch.no_grad():
        lightning_attn_sp(q, k, v, sl, check_group=False)


def fwd_bwd():
    lightning_attn_sp(q, k, v, sl, check_group=False).backward(do)


a.out.mkdir(parents=True, exist_ok=True)
for name, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    for sync_each in (True, False):
        dist.barrier(device_ids=[torch.cuda.current_device()])
        t0 = time.perf_counter()
        for _ in range(20):
            fn()
            if sync_each:
                torch.cuda.synchronize()
        torch.cuda.synchronize()
        print(f"rank {rank} {name}: {(time.perf_counter() - t0) / 20 * 1e3:.3f} ms/call wall "
              f"({'synchronize after each call' if sync_each else 'back-to-back'})", flush=True)
    dist.barrier(device_ids=[torch.cuda.current_device()])
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                            torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(a.calls):
            fn()
        torch.cuda.synchronize()
    prof.export_chrome_trace(str(a.out / f"trace-{name}-rank{rank}.json"))
    ka = prof.key_averages()
    if rank in (0, world - 1):
        print(f"== rank {rank} {name}, {a.calls} calls: by device time")
        print(ka.table(sort_by="self_device_time_total", row_limit=14, max_name_column_width=48))
        print(f"== rank {rank} {name}: by CPU time")
        print(ka.table(sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=48))
dist.destroy_process_group()
