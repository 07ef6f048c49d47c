"""Presets and the case grid: preset / CLI options → a list of :class:`Case`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from .baselines.base import DTYPES, Case
from .flops import MODES

DECAYS = ("none", "alibi", "alibi_layer", "linear")


@dataclass
class SweepSpec:
    """What to sweep: every combination of the lists below, for every provider and mode."""

    seq_len: list[int]
    batch: list[int] = field(default_factory=lambda: [2])
    heads: list[int] = field(default_factory=lambda: [16])
    head_dim: list[int] = field(default_factory=lambda: [128])
    value_dim: list[int | None] = field(default_factory=lambda: [None])  # None: same as head_dim
    dtype: list[str] = field(default_factory=lambda: ["bf16"])
    decay: list[str] = field(default_factory=lambda: ["alibi"])
    modes: list[str] = field(default_factory=lambda: ["fwd", "fwd_bwd"])
    providers: list[str] | None = None  # None: all registered
    description: str = ""
    # CUDA timing mode: True = host-decoupled (GPU time of the call, shared docs §7 rule 5 "time the device, not the
    # host"), False = end-to-end eager time (host launch latency included when it exceeds the GPU work)
    host_decoupled: bool = False
    # further grids swept with the same providers and modes: each dict replaces some of the fields above
    # (e.g. [{"batch": [8], "head_dim": [64]}]), so one preset can hold shapes that are not a single product
    parts: list[dict] = field(default_factory=list)

    def validate(self) -> None:
        for name in ("seq_len", "batch", "heads", "head_dim"):
            vals = getattr(self, name)
            if not vals:
                raise ValueError(f"{name} must list at least one value")
            bad = [v for v in vals if not isinstance(v, int) or v < 1]
            if bad:
                raise ValueError(f"{name} values must be integers ≥ 1, got {bad}")
        bad = [v for v in self.value_dim if v is not None and (not isinstance(v, int) or v < 1)]
        if bad:
            raise ValueError(f"value_dim values must be integers ≥ 1, got {bad}")
        bad = [d for d in self.dtype if d not in DTYPES]
        if bad:
            raise ValueError(f"dtype must be among {sorted(DTYPES)}, got {bad}")
        bad = [d for d in self.decay if d not in DECAYS]
        if bad:
            raise ValueError(f"decay must be among {DECAYS}, got {bad}")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"mode must be among {MODES}, got {self.modes}")

    def cases(self) -> list[Case]:
        self.validate()
        out = []
        grids = [self] + [replace(self, parts=[], **part) for part in self.parts]
        for g in grids[1:]:
            g.validate()
        for g in grids:
            for c in g._grid():
                if c not in out:
                    out.append(c)
        return out

    def _grid(self) -> list[Case]:
        out = []
        for b, h, d, e, dt, dec, n in itertools.product(self.batch, self.heads, self.head_dim, self.value_dim,
                                                          self.dtype, self.decay, self.seq_len):
            out.append(Case(batch=b, heads=h, seq_len=n, head_dim=d, value_dim=e if e is not None else d, dtype=dt,
                            decay=dec))
        return out


def _pow2(lo: int, hi: int) -> list[int]:
    out, n = [], lo
    while n <= hi:
        out.append(n)
        n *= 2
    return out


TGS_TOKENS = 262144  # tokens per call of the "tgs" preset (batch × seq_len)

PRESETS: dict[str, SweepSpec] = {
    "default": SweepSpec(
        seq_len=_pow2(1024, 16384), batch=[2], heads=[16], head_dim=[128], modes=["fwd", "fwd_bwd"],
        description="batch 2, heads 16, head_dim 128, bf16, ALiBi decay, seq_len 1K..16K, fwd and fwd_bwd",
    ),
    "quick": SweepSpec(
        seq_len=[1024, 4096], batch=[2], heads=[16], head_dim=[128], modes=["fwd", "fwd_bwd"],
        description="smoke test on a GPU: batch 2, heads 16, head_dim 128, bf16, seq_len 1K and 4K",
    ),
    "paper": SweepSpec(
        seq_len=_pow2(512, 32768), batch=[4], heads=[32], head_dim=[128], modes=["fwd", "bwd", "fwd_bwd"],
        description="the reference repository's benchmark: batch 4, heads 32, head_dim 128, bf16, seq_len 512..32K",
    ),
    "cpu": SweepSpec(
        seq_len=[64, 128, 256], batch=[1], heads=[2], head_dim=[32], dtype=["fp32"], modes=["fwd", "fwd_bwd"],
        description="no CUDA: batch 1, heads 2, head_dim 32, fp32, seq_len 64..256; CPU timings, kernels interpreted",
    ),
    # CI performance gate (issue #6; `lightning-bench gate`): our kernel only, 16 rows, about a minute on an H200 with
    # --energy-window 0 (estimate in results/baselines/README.md). batch 2 × heads 16 (32 (batch, head) programs, under
    # one wave of 132 SMs) and batch 8 × heads 16 (128); head_dim 64 and 128 compile different block configurations.
    # Long sequences on purpose: la2 calls under ~0.7 ms are launch-bound and 15–25 % noisy on the H200 (IQR/median of
    # the committed paper run), too noisy to see 10 %; these cells take ~0.1–15 ms (35–100 samples each).
    # issue #4's target table: small batch·heads (b2 h16, 32 (batch, head) pairs for 132 SMs) from 1K to 128K tokens,
    # plus the large-batch training shape (b8 h16 = 128 pairs, head_dim 64); our kernel, fla, the OpenNLPLab reference
    # and the two softmax kernels it must beat from 2K up. About 5 minutes on an H200 (fla autotunes once per shape).
    "perf": SweepSpec(
        seq_len=_pow2(1024, 131072), batch=[2], heads=[16], head_dim=[128], modes=["fwd", "fwd_bwd"],
        providers=["la2", "fla", "la2_reference", "flash_attn2", "sdpa_cudnn", "floor"],
        parts=[{"batch": [8], "head_dim": [64], "seq_len": [4096, 16384, 65536]}],
        host_decoupled=True,
        description="performance targets: b2 h16 d128 bf16 ALiBi, seq_len 1K..128K, and b8 h16 d64 at 4K/16K/64K; "
                    "la2, fla, OpenNLPLab, SDPA flash (FA2), SDPA cuDNN and the byte floor; fwd and fwd_bwd; GPU time "
                    "(host-decoupled; the host's enqueue time per call is the column host_ms)",
    ),
    # The paper's Table 1 setting (arXiv 2401.04658 §4, shared docs §8): a fixed number of tokens per call, so a longer
    # sequence means a smaller batch, and a linear-time kernel should run at one speed (flat LA2, falling FA2 and LA1).
    "tgs": SweepSpec(
        seq_len=[1024], batch=[TGS_TOKENS // 1024], heads=[16], head_dim=[128], modes=["fwd", "fwd_bwd"],
        providers=["la2", "la1", "fla", "flash_attn2", "floor"],
        parts=[{"batch": [TGS_TOKENS // n], "seq_len": [n]} for n in _pow2(2048, 131072)],
        host_decoupled=True,
        description=f"the paper's Table 1 setting: {TGS_TOKENS} tokens per call (batch × seq_len; batch 256 at 1K … "
                    "2 at 128K), heads 16, head_dim 128, bf16 ALiBi; la2, la1, fla, SDPA flash (FA2), byte floor; fwd and "
                    "fwd_bwd; GPU time (host-decoupled)",
    ),
    "gate": SweepSpec(
        seq_len=[32768, 65536], batch=[2, 8], heads=[16], head_dim=[64, 128], dtype=["bf16"],
        decay=["alibi"], modes=["fwd", "fwd_bwd"], providers=["la2"], host_decoupled=True,
        description="performance gate: la2, bf16, ALiBi, batch 2/8, heads 16, head_dim 64/128, seq_len 32K/64K, "
                    "fwd and fwd_bwd (16 rows)",
    ),
}


def spec_from_run(run_dir) -> SweepSpec:
    """The :class:`SweepSpec` a run directory was started with (its ``env.json``), for ``--resume``.

    Raises:
        ValueError: no env.json, or one without a spec.
    """
    import json
    from pathlib import Path

    path = Path(run_dir) / "env.json"
    if not path.exists():
        raise ValueError(f"--resume {run_dir}: no env.json there to read the run's configuration from")
    saved = json.loads(path.read_text()).get("spec")
    if not isinstance(saved, dict):
        raise ValueError(f"--resume {run_dir}: env.json has no 'spec'; give the options explicitly with --preset")
    fields = {f for f in SweepSpec.__dataclass_fields__}
    return SweepSpec(**{k: v for k, v in saved.items() if k in fields})


def preset(name: str) -> SweepSpec:
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return replace(PRESETS[name])
