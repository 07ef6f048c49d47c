"""Tuned launch parameters (kernels/lightning_attn2/tuning.py) and launch overrides: the table is read and merged
as documented, applied only where it should be, and every launch configuration gives the float64 reference's
answer (CPU interpreter; fp32)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from lightning_bench.kernels import decay_slopes, lightning_attn, lightning_attn_reference
from lightning_bench.kernels.lightning_attn2 import kernel as k2
from lightning_bench.kernels.lightning_attn2 import tuning

pytestmark = pytest.mark.usefixtures("nan_poison")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def rel(x, ref):
    x, ref = x.detach().double().cpu(), ref.detach().double().cpu()
    return float((x - ref).norm() / ref.norm().clamp_min(1e-300))


def test_gpu_slug_and_key():
    assert tuning.gpu_slug("NVIDIA H200") == "nvidia-h200"
    assert tuning.gpu_slug("NVIDIA A100-SXM4-80GB") == "nvidia-a100-sxm4-80gb"
    assert tuning.key("nvidia-h200", torch.bfloat16, 128, 128) == "nvidia-h200|bf16|d128|e128"


def test_packaged_table_is_valid():
    """Every committed entry names only known fields with values the kernels accept."""
    data = json.loads(tuning.PACKAGED.read_text())["entries"]
    assert data, "tuned.json has no entries"
    for key, entry in data.items():
        gpu, dtype, d, e = key.split("|")
        assert dtype in ("bf16", "fp16", "fp32") and d.startswith("d") and e.startswith("e")
        fields = {k: v for k, v in entry.items() if not k.startswith("_")}
        short = fields.pop("short", {})
        assert set(fields) <= set(k2.TUNABLE), set(fields) - set(k2.TUNABLE)
        assert set(short) <= set(k2.TUNABLE) | {"max_seq_len", "max_batch_heads"}, short
        assert short.get("max_seq_len", 1) >= 1 and short.get("max_batch_heads", 1) >= 1, short
        for name in ("block_n", "bwd_block_n"):
            assert fields.get(name, 64) in (16, 32, 64, 128)
        for name in ("fwd_be", "bwd_bd", "bwd_be"):
            v = fields.get(name, 64)
            assert v >= 16 and v & (v - 1) == 0
        assert fields.get("split_programs", 1) >= 1 and fields.get("split_min_blocks", 1) >= 1


def test_env_table_overrides_packaged_entry_by_entry(tmp_path, monkeypatch):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"entries": {"nvidia-h200|bf16|d128|e128": {"fwd_warps": 8, "_note": "x"},
                                            "my-gpu|fp16|d64|e64": {"block_n": 32}}}))
    monkeypatch.setenv(tuning.TUNE_ENV, str(path))
    monkeypatch.setattr(tuning, "device_slug", lambda device: "my-gpu")
    assert tuning.lookup(torch.device("cpu"), torch.float16, 64, 64) == {"block_n": 32}
    monkeypatch.setattr(tuning, "device_slug", lambda device: "nvidia-h200")
    got = tuning.lookup(torch.device("cpu"), torch.bfloat16, 128, 128)
    assert got["fwd_warps"] == 8 and "_note" not in got
    assert tuning.lookup(torch.device("cpu"), torch.bfloat16, 32, 32) == {}


def test_bad_env_table_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "bad.json"
    path.write_text("[1, 2")
    monkeypatch.setenv(tuning.TUNE_ENV, str(path))
    monkeypatch.setattr(tuning, "device_slug", lambda device: "my-gpu")
    with pytest.raises(ValueError, match=tuning.TUNE_ENV):
        tuning.lookup(torch.device("cpu"), torch.float32, 64, 64)


def test_config_uses_table_only_for_the_default_block(monkeypatch):
    monkeypatch.setattr(tuning, "lookup", lambda device, dtype, bd, be: {"fwd_warps": 8, "split_programs": 99})
    like = torch.empty(0)
    cfg = k2._Config(128, 128, k2.BLOCK_N, like)
    assert cfg.tuned and cfg.fwd_warps == 8 and cfg.split_programs == 99 and cfg.bwd_split_programs == 99
    assert "(tuned)" in cfg.describe()
    explicit = k2._Config(128, 128, 32, like)  # an explicit block_n (tests, users) keeps the built-in defaults
    assert not explicit.tuned and explicit.fwd_warps == 4 and explicit.bwd_block_n == 32


def test_launch_config_applies_and_restores():
    with k2.launch_config(block_n=32, bwd_block_n=16, fwd_warps=2):
        cfg = k2._Config(64, 64, k2.BLOCK_N)
        assert (cfg.block_n, cfg.bwd_block_n, cfg.fwd_warps, cfg.bwd_warps) == (32, 16, 2, 4)
    cfg = k2._Config(64, 64, k2.BLOCK_N)
    assert (cfg.block_n, cfg.bwd_block_n, cfg.fwd_warps) == (64, 64, 4)


@pytest.mark.parametrize("compiled_op", [False, True])
def test_backward_on_another_thread_uses_the_forwards_launch_config(monkeypatch, compiled_op):
    """Autograd runs a CUDA backward on its own device thread, where the caller's ``launch_config`` ContextVar is not
    set: the backward must take the overrides recorded by its forward (found on the H200: a tuning script's
    overridden backward timed the default launch). The thread here stands in for the device thread; the gradients
    are checked against float64."""
    import threading

    seen = []
    real = k2._bwd

    def spy(*args, **kwargs):
        seen.append(dict(k2._OVERRIDES.get()))
        return real(*args, **kwargs)

    monkeypatch.setattr(k2, "_bwd", spy)
    b, h, n, d = 1, 2, 70, 16
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(b, h, n, d, generator=g).to(DEVICE).requires_grad_() for _ in range(3))
    sl = decay_slopes(h).to(DEVICE)
    over = dict(bwd_fused=True, bwd_block_n=16, bwd_bd=16, bwd_be=16)
    with k2.launch_config(**over):
        if compiled_op:  # the custom-op autograd path (the one torch.compile traces), called eagerly
            fwd_op = getattr(torch.ops.lightning_bench, k2.FWD_OP)
            o, _ = fwd_op(q, k, v, sl, None, None, "bhnd", k2.BLOCK_N, False, "ieee")
        else:
            o = lightning_attn(q, k, v, sl)
    do = torch.randn_like(o)
    out = {}
    t = threading.Thread(target=lambda: out.update(g=torch.autograd.grad(o, (q, k, v), do)))
    t.start()
    t.join()
    assert seen == [over]
    assert k2._OVERRIDES.get() == {}
    r = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ref = torch.autograd.grad(lightning_attn_reference(*r, sl), r, do.double())
    for name, a, bb in zip(("dq", "dk", "dv"), out["g"], ref):
        assert rel(a, bb) <= 1e-5, name


def test_one_stage_fused_backward_is_refused_up_front():
    """The fused backward with one pipeline stage faulted on the H200 (illegal memory access, Triton 3.6): the
    configuration is refused with a ValueError naming the rule before any launch; one stage unfused stays allowed."""
    b, h, n, d = 1, 2, 40, 16
    q, k, v = (torch.randn(b, h, n, d).to(DEVICE).requires_grad_() for _ in range(3))
    with k2.launch_config(bwd_fused=True, bwd_stages=1):
        with pytest.raises(ValueError, match=r"bwd_stages must be ≥ 2 with bwd_fused=True, got 1"):
            lightning_attn(q, k, v, decay_slopes(h).to(DEVICE))
    sl = decay_slopes(h).to(DEVICE)
    with k2.launch_config(bwd_fused=False, bwd_stages=1):
        o = lightning_attn(q, k, v, sl)
        do = torch.randn_like(o)
        grads = torch.autograd.grad(o, (q, k, v), do)
    r = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ref = torch.autograd.grad(lightning_attn_reference(*r, sl), r, do.double())
    for name, a, bb in zip(("dq", "dk", "dv"), grads, ref):
        assert rel(a, bb) <= 1e-5, name


def test_launch_config_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown field"):
        with k2.launch_config(num_wraps=4):
            pass


@pytest.mark.parametrize("cfg", [
    dict(block_n=16, bwd_block_n=32, fwd_be=16, bwd_bd=16, bwd_be=32),
    dict(block_n=32, bwd_block_n=16, fwd_be=32, bwd_bd=32, bwd_be=16, split_programs=8, bwd_split_programs=4,
         split_min_blocks=1),
    # the three backward sweeps in one launch (_la2_bwd_fused_kernel), with and without segments
    dict(block_n=16, bwd_block_n=32, fwd_be=16, bwd_bd=16, bwd_be=32, bwd_fused=True),
    dict(block_n=32, bwd_block_n=16, fwd_be=32, bwd_bd=16, bwd_be=32, split_programs=8, bwd_split_programs=4,
         split_min_blocks=1, bwd_fused=True),
])
@pytest.mark.parametrize("split", [1, "auto", 3])
def test_every_launch_configuration_matches_reference(cfg, split):
    """Forward and backward with different block sizes and tiles (and split policies) give the same answer."""
    b, h, n, d, e = 1, 2, 101, 32, 48
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(b, h, n, x, generator=g).to(DEVICE).requires_grad_() for x in (d, d, e))
    s0 = torch.randn(b, h, d, e, generator=g).to(DEVICE).requires_grad_()
    sl = decay_slopes(h).to(DEVICE)
    with k2.launch_config(**cfg):
        o, ht = lightning_attn(q, k, v, sl, initial_state=s0, output_final_state=True, seq_split=split)
        do, dht = torch.randn_like(o), torch.randn_like(ht)
        grads = torch.autograd.grad((o, ht), (q, k, v, s0), (do, dht))
    r = [x.detach().double().requires_grad_() for x in (q, k, v, s0)]
    o_r, ht_r = lightning_attn_reference(*r[:3], sl, initial_state=r[3], output_final_state=True)
    ref = torch.autograd.grad((o_r, ht_r), r, (do.double(), dht.double()))
    assert rel(o, o_r) <= 1e-5 and rel(ht, ht_r) <= 1e-5
    for name, a, bb in zip(("dq", "dk", "dv", "d_initial_state"), grads, ref):
        assert rel(a, bb) <= 1e-5, name


@pytest.mark.parametrize("bh,tiles,n,programs,want", [
    (32, 1, 65536, 132, 4),    # b2 h16 d128 forward: 5 segments would be 160 programs, a second wave on 132 SMs
    (16, 1, 262144, 132, 8),   # b1 h16: 9 would be 144
    (64, 1, 65536, 256, 4),    # exact fit
    (200, 1, 65536, 132, 1),   # batch·heads alone fill the GPU: never split
    (32, 1, 4096, 132, 2),     # ≥ min_blocks (32) blocks of 64 rows per segment
])
def test_auto_split_keeps_one_wave(bh, tiles, n, programs, want):
    got = k2.seq_split_segments("auto", bh, tiles, n, 64, programs, 32)
    assert got == want
    assert got == 1 or got * bh * tiles <= programs


def test_short_sequences_use_the_short_fields(monkeypatch):
    """A tuned entry's "short" fields apply up to max_seq_len and not beyond; explicit overrides disable them."""
    monkeypatch.setattr(tuning, "lookup", lambda device, dtype, bd, be: {
        "fwd_be": 128, "fwd_warps": 8, "short": {"max_seq_len": 4096, "fwd_be": 64, "fwd_warps": 4, "bwd_fused": True}})
    cfg = k2._Config(128, 128, k2.BLOCK_N, torch.empty(0))
    short, long_ = cfg.at(4096), cfg.at(4097)
    assert long_ is cfg and (cfg.fwd_be, cfg.fwd_warps, cfg.bwd_fused) == (128, 8, False)
    assert (short.fwd_be, short.fwd_warps, short.bwd_fused) == (64, 4, True) and cfg.at(1) is short
    assert "seq_len ≤ 4096" in cfg.describe() and "fused" in cfg.describe()
    with k2.launch_config(fwd_warps=2):
        tuned = k2._Config(128, 128, k2.BLOCK_N, torch.empty(0))
        assert tuned.at(1) is tuned and tuned.fwd_warps == 2


def test_short_fields_stop_at_max_batch_heads(monkeypatch):
    """With ``max_batch_heads`` the short fields apply only up to that many batch·heads (the long entry's programs
    fill the GPU beyond it); a call that does not say how many uses the seq_len bound alone."""
    monkeypatch.setattr(tuning, "lookup", lambda device, dtype, bd, be: {
        "fwd_be": 128, "short": {"max_seq_len": 4096, "max_batch_heads": 96, "bwd_fused": True}})
    cfg = k2._Config(128, 128, k2.BLOCK_N, torch.empty(0))
    assert cfg.at(4096, 96).bwd_fused and not cfg.at(4096, 97).bwd_fused and cfg.at(4096, 128) is cfg
    assert cfg.at(4097, 32) is cfg and cfg.at(2048) is cfg.at(2048, 32)
    assert "seq_len ≤ 4096 and batch·heads ≤ 96" in cfg.describe()


@pytest.mark.parametrize("bh_over", [False, True])
def test_lightning_attn_picks_the_entry_by_batch_heads(monkeypatch, bh_over):
    """A call with more batch·heads than the short entry's bound runs the long entry's backward (separate sweeps),
    one within it the fused one; gradients match float64 either way."""
    monkeypatch.setattr(tuning, "lookup", lambda device, dtype, bd, be: {
        "block_n": 16, "bwd_bd": 16, "bwd_be": 16, "short": {"max_seq_len": 64, "max_batch_heads": 4,
                                                             "bwd_fused": True}})
    monkeypatch.setattr(k2, "_CONFIGS", {})
    used = []
    real = k2._config

    def spy(*args, **kwargs):
        c = real(*args, **kwargs)
        used.append(c.bwd_fused)
        return c

    monkeypatch.setattr(k2, "_config", spy)
    b, h, n, d = (3 if bh_over else 2), 2, 48, 16
    g = torch.Generator().manual_seed(b)
    q, k, v = (torch.randn(b, h, n, d, generator=g).to(DEVICE).requires_grad_() for _ in range(3))
    sl = decay_slopes(h).to(DEVICE)
    o = lightning_attn(q, k, v, sl)
    do = torch.randn_like(o)
    grads = torch.autograd.grad(o, (q, k, v), do)
    assert used and all(f == (not bh_over) for f in used), used
    r = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ref = torch.autograd.grad(lightning_attn_reference(*r, sl), r, do.double())
    for name, a, bb in zip(("dq", "dk", "dv"), grads, ref):
        assert rel(a, bb) <= 1e-5, name


@pytest.mark.parametrize("n", [40, 200])
def test_short_configuration_matches_reference_on_both_sides_of_the_threshold(monkeypatch, n):
    """With a "short" entry (fused backward, other tiles) below 64 rows, outputs and gradients still match the
    float64 reference below and above the threshold, packed sequences included."""
    monkeypatch.setattr(tuning, "lookup", lambda device, dtype, bd, be: {
        "block_n": 16, "fwd_be": 16, "bwd_bd": 16, "bwd_be": 16, "split_programs": 64, "split_min_blocks": 2,
        "short": {"max_seq_len": 64, "fwd_be": 32, "bwd_fused": True, "split_min_blocks": 64}})
    monkeypatch.setattr(k2, "_CONFIGS", {})
    b, h, d, e = 2, 2, 32, 32
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(b, h, n, x, generator=g).to(DEVICE).requires_grad_() for x in (d, d, e))
    sl = decay_slopes(h).to(DEVICE)
    o = lightning_attn(q, k, v, sl, seq_split="auto")
    do = torch.randn_like(o)
    grads = torch.autograd.grad(o, (q, k, v), do)
    r = [x.detach().double().requires_grad_() for x in (q, k, v)]
    o_r = lightning_attn_reference(*r, sl)
    ref = torch.autograd.grad(o_r, r, do.double())
    assert rel(o, o_r) <= 1e-5
    for name, a, bb in zip(("dq", "dk", "dv"), grads, ref):
        assert rel(a, bb) <= 1e-5, name
    cfg = k2._config(d, e, k2.BLOCK_N, q, n)
    assert cfg.bwd_fused == (n <= 64) and (cfg.fwd_segments("auto", b * h, n)[0] > 1) == (n > 64)


def test_gluon_disabled_reaches_the_backward_on_another_thread(monkeypatch):
    """``gluon_fwd.disabled()`` around the forward (the la2_triton ablation) must hold in the backward too, which
    autograd runs on its device thread (found on the H200: la2_triton's backward ran the Gluon backward)."""
    import threading

    from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G

    seen = []
    real = G.backward_plans
    monkeypatch.setattr(G, "backward_plans", lambda *a, **kw: seen.append(G._ENABLED.get()) or real(*a, **kw))
    g = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(1, 2, 2048, 16, generator=g).to(DEVICE).requires_grad_() for _ in range(3))
    sl = decay_slopes(2).to(DEVICE)
    with G.disabled():
        o = lightning_attn(q, k, v, sl)
    t = threading.Thread(target=lambda: torch.autograd.grad(o, (q, k, v), torch.ones_like(o)))
    t.start()
    t.join()
    assert seen == [False]  # consulted with the forward's setting
    assert G._ENABLED.get() is True


@pytest.mark.parametrize("n,fused,want_gluon", [(1024, True, False), (2048, True, True), (1024, False, True)])
def test_gluon_backward_rule_keeps_the_short_fused_triton_backward(monkeypatch, n, fused, want_gluon):
    """_bwd takes the Gluon backward (three runs of the forward kernel) where it is eligible, except ≤ 1024 tokens
    where the launch table gives the fused Triton backward (measured faster there on the H200)."""
    from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G

    calls = []
    monkeypatch.setattr(G, "backward_plans", lambda *a, **kw: ["plan"] * 3)
    monkeypatch.setattr(G, "backward", lambda q, k, v, *a, **kw: calls.append(1) or (q * 0, k * 0, v * 0))
    q = torch.randn(1, 2, n, 16).to(DEVICE)
    with k2.launch_config():  # no override: the rule alone decides
        real_config = k2._config

        def config(*a, **kw):
            c = copy.copy(real_config(*a, **kw))
            c.bwd_fused = fused
            return c

        monkeypatch.setattr(k2, "_config", config)
        if want_gluon:
            dq, dk, dv, ds0 = k2._bwd(q, q, q, q, None, None, None, False, "bhnd", k2.BLOCK_N, seq_split="auto")
            assert calls == [1] and ds0 is None and not dq.any()
        else:
            monkeypatch.setattr(k2, "_la2_bwd_fused_kernel", _Launched(calls))
            k2._bwd(q, q, q, q, None, None, None, False, "bhnd", k2.BLOCK_N, seq_split="auto")
            assert calls == ["triton"]


class _Launched:
    """Stands in for a Triton kernel: records that it was launched."""

    def __init__(self, calls):
        self.calls = calls

    def __getitem__(self, grid):
        return lambda *a, **kw: self.calls.append("triton")
