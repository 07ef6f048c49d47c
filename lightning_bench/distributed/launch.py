"""torchrun glue: who am I (RANK / WORLD_SIZE / LOCAL_RANK), the process group, and launching N ranks.

Every multi-process entry point of the package runs under ``torchrun`` (``python -m torch.distributed.run``); there is
no process pool of our own. ``--devices 0,1`` on a command re-launches the same command through torchrun with one
rank per listed device (``CUDA_VISIBLE_DEVICES`` set to them), and NVLink multicast kept off in the environment of
everything launched (some shared multi-GPU hosts require it: a program that uses it can take the host's GPUs out of
service).
"""

from __future__ import annotations

import datetime as _dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

# NVLink SHARP / multicast off in NCCL, PyTorch symmetric memory and NVSHMEM (set unless the caller set them).
MULTICAST_OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}


def multicast_off_env(env: dict | None = None) -> dict:
    """``env`` (default: a copy of os.environ) with the NVLink-multicast switches set to off where not set."""
    out = dict(os.environ if env is None else env)
    for k, v in MULTICAST_OFF.items():
        out.setdefault(k, v)
    return out


def torchrun_env() -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) from the variables torchrun sets, or None outside torchrun.

    Raises:
        ValueError: RANK / WORLD_SIZE / LOCAL_RANK present but not integers, or inconsistent.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    try:
        rank = int(os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them), got "
                         f"{os.environ.get('RANK')!r}, {os.environ.get('WORLD_SIZE')!r}, "
                         f"{os.environ.get('LOCAL_RANK')!r}") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}: need 0 ≤ RANK < WORLD_SIZE")
    return rank, world, local


def is_main_process() -> bool:
    """True outside torchrun and on global rank 0 under it (for printing once)."""
    env = torchrun_env()
    return env is None or env[0] == 0


@dataclass
class Shard:
    """This process's place in a torchrun job: global rank, world size, local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str
    owns_group: bool = False  # this call initialised the process group (and should destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        import torch.distributed as dist

        if self.backend == "nccl":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def all_gather_object(self, obj) -> list:
        import torch.distributed as dist

        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj):
        """Rank 0's ``obj`` on every rank."""
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        import torch.distributed as dist

        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_from_env(timeout_s: float = 3600.0, min_world: int = 1) -> Shard | None:
    """Under torchrun: pin this rank to ``cuda:LOCAL_RANK`` (CPU without CUDA), set the multicast-off variables,
    and initialise the default process group (NCCL on CUDA, gloo on the CPU) if it is not already. Returns None
    outside torchrun or when WORLD_SIZE < ``min_world``.

    ``timeout_s`` is the process group's collective timeout: a sharded sweep waits at its final barrier until the
    slowest rank is done, so the default is long.

    Raises:
        ValueError: LOCAL_RANK beyond the visible CUDA devices (names CUDA_VISIBLE_DEVICES).
    """
    import torch.distributed as dist

    env = torchrun_env()
    if env is None or env[1] < min_world:
        return None
    rank, world, local = env
    for k, v in MULTICAST_OFF.items():
        os.environ.setdefault(k, v)
    if torch.cuda.is_available():
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s) are visible "
                             f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); one rank per GPU")
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=_dt.timedelta(seconds=timeout_s))
        owns = True
    else:
        backend = str(dist.get_backend()).lower()
    return Shard(rank=rank, world_size=world, local_rank=local, device=device, backend=backend, owns_group=owns)


def parse_devices(text: str | None) -> list[int] | None:
    """``"0,1"`` → [0, 1]. On a machine with CUDA every index must be a visible device.

    Raises:
        ValueError: not a comma-separated list of distinct integers ≥ 0, or an index past the visible GPUs.
    """
    if text is None:
        return None
    try:
        devs = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ValueError(f"--devices must be a comma-separated list of device indices, e.g. 0,1; got {text!r}") \
            from None
    if not devs or len(set(devs)) != len(devs) or min(devs) < 0:
        raise ValueError(f"--devices must list distinct device indices ≥ 0, got {text!r}")
    if torch.cuda.is_available() and max(devs) >= torch.cuda.device_count():
        raise ValueError(f"--devices {text}: only {torch.cuda.device_count()} CUDA device(s) visible here")
    return devs


def package_root() -> Path:
    """The directory holding the ``lightning_bench`` package that is running (put first on the ranks' PYTHONPATH,
    so they import this same source tree)."""
    return Path(__file__).resolve().parent.parent.parent


def torchrun_command(nproc: int, module_args: list[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc-per-node N -m lightning_bench ARGS…``."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "lightning_bench", *module_args]


def launch_env(devices: list[int]) -> dict:
    """Environment of the launched ranks: multicast off, CUDA_VISIBLE_DEVICES = the chosen devices (mapped through
    an existing CUDA_VISIBLE_DEVICES), this package first on PYTHONPATH."""
    env = multicast_off_env()
    if torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible:
            ids = [x for x in visible.split(",") if x.strip()]
            env["CUDA_VISIBLE_DEVICES"] = ",".join(ids[i] for i in devices)
        else:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in devices)
    root = str(package_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def launch(devices: list[int], module_args: list[str]) -> int:
    """Run ``lightning_bench MODULE_ARGS`` under torchrun, one rank per device in ``devices`` (one CPU process per
    entry without CUDA), and return its exit status."""
    cmd = torchrun_command(len(devices), module_args)
    print("launching: " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, env=launch_env(devices))
    interrupts = 0
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the ranks got the same Ctrl-C: let them write what they have and exit
            interrupts += 1
            if interrupts == 1:
                print("interrupted: waiting for the ranks to stop (Ctrl-C again to terminate them)", file=sys.stderr)
            else:
                proc.terminate()
