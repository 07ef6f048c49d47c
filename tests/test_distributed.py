"""Issue #7 on the CPU: sequence-parallel Lightning Attention across 2 gloo processes (kernels under the Triton
interpreter, and the float64 reference as the local attention for an exact check), the torchrun-sharded sweep and the
sequence-parallel benchmark, and their input errors.

The worker processes get TRITON_INTERPRET=1 from this process's environment (tests/conftest.py sets it on a machine
without CUDA) and NaN-poison every ``torch.empty``, so rows a computation never writes read as NaN.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
WORLD = 2

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rel(a, b) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm())


# ---------------------------------------------------------------- worker side (runs in the spawned processes)
def _narrow(x, layout, off, n):
    return x.narrow(2 if layout == "bhnd" else 1, off, n)


def _run_case(rank, c):
    from lightning_bench.distributed import lightning_attn_sp
    from lightning_bench.kernels import lightning_attn_reference

    lens, layout = c["lens"], c["layout"]
    off, n = sum(lens[:rank]), lens[rank]
    q, k, v = (_narrow(c[x], layout, off, n).clone().requires_grad_() for x in ("q", "k", "v"))
    do = _narrow(c["do"], layout, off, n)
    s0 = None if c["s0"] is None else c["s0"].clone().requires_grad_()
    out = lightning_attn_sp(q, k, v, c["slopes"], layout=layout, initial_state=s0,
                            output_final_state=c["final"], attn_fn=lightning_attn_reference if c["ref"] else None,
                            kernel_options=c["kopts"])
    o, fin = out if c["final"] else (out, None)
    loss = (o * do).sum()
    if fin is not None:
        loss = loss + (fin * c["w_fin"]).sum() / WORLD  # the ranks' losses sum to one loss on the final state
    loss.backward()
    return {"o": o.detach(), "dq": q.grad, "dk": k.grad, "dv": v.grad, "fin": None if fin is None else fin.detach(),
            "ds0": None if s0 is None else s0.grad}


def _expect_error(fn):
    try:
        fn()
    except (ValueError, TypeError) as ex:
        return type(ex).__name__, str(ex)
    return None


def _bad_inputs(rank):
    """Each entry: what this rank raised (type, message) for inputs that are bad on one rank or differ across ranks.
    With check_group (default) every rank must raise, so nothing is left waiting in a collective."""
    from lightning_bench.distributed import lightning_attn_sp
    from lightning_bench.kernels import decay_slopes

    def t(*shape, dtype=torch.float32):
        return torch.randn(*shape, dtype=dtype)

    s2 = decay_slopes(2)
    out = {}
    h = 2 if rank == 0 else 3
    out["heads_differ"] = _expect_error(lambda: lightning_attn_sp(t(1, h, 8, 16), t(1, h, 8, 16), t(1, h, 8, 16)))
    out["dtype_differs"] = _expect_error(lambda: lightning_attn_sp(
        *(t(1, 2, 8, 16, dtype=torch.float32 if rank == 0 else torch.float16) for _ in range(3))))
    out["layout_differs"] = _expect_error(lambda: lightning_attn_sp(
        t(1, 2, 8, 16), t(1, 2, 8, 16), t(1, 2, 8, 16), layout="bhnd" if rank == 0 else "bnhd"))
    out["slopes_on_one_rank"] = _expect_error(lambda: lightning_attn_sp(
        t(1, 2, 8, 16), t(1, 2, 8, 16), t(1, 2, 8, 16), s2 if rank == 0 else None))
    bad_slopes = s2.clone().requires_grad_() if rank == 1 else s2
    out["slopes_grad_on_rank1"] = _expect_error(lambda: lightning_attn_sp(
        t(1, 2, 8, 16), t(1, 2, 8, 16), t(1, 2, 8, 16), bad_slopes))
    s0 = torch.zeros(1, 2, 16, 16) if rank == 0 else torch.zeros(1, 2, 16, 8)
    out["initial_state_shape_rank1"] = _expect_error(lambda: lightning_attn_sp(
        t(1, 2, 8, 16), t(1, 2, 8, 16), t(1, 2, 8, 16), s2, initial_state=s0))
    out["final_state_differs"] = _expect_error(lambda: lightning_attn_sp(
        t(1, 2, 8, 16), t(1, 2, 8, 16), t(1, 2, 8, 16), output_final_state=rank == 0))
    out["kernel_options_rank1"] = _expect_error(lambda: lightning_attn_sp(
        t(1, 2, 8, 16), t(1, 2, 8, 16), t(1, 2, 8, 16), kernel_options={"block_n": 48} if rank == 1 else None))
    out["k_shape_on_rank0"] = _expect_error(lambda: lightning_attn_sp(
        t(1, 2, 8, 16), t(1, 2, 9 if rank == 0 else 8, 16), t(1, 2, 8, 16)))
    out["not_a_member"] = _expect_error(lambda: lightning_attn_sp(
        t(1, 2, 8, 16), t(1, 2, 8, 16), t(1, 2, 8, 16), group=_OTHER_GROUP[0]))
    # the group still works after all of that (no rank was left inside a collective)
    x = torch.ones(1, 2, 4, 16)
    out["after"] = lightning_attn_sp(x, x, x).detach()
    return out


_OTHER_GROUP = [None]


def _worker(rank, port, in_path):
    import torch.distributed as dist

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = True  # NaN-poison torch.empty
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        import warnings

        warnings.filterwarnings("ignore", message=".*deterministic.*")
        from lightning_bench.distributed import lightning_attn_sp

        data = torch.load(in_path)
        res = {name: _run_case(rank, c) for name, c in data["cases"].items()}
        # a group of one rank: exactly lightning_attn on the whole local tensors (no exchange)
        singles = [dist.new_group([r], backend="gloo") for r in range(WORLD)]
        _OTHER_GROUP[0] = singles[1 - rank]
        c = data["single"]
        res["_single"] = lightning_attn_sp(c["q"], c["k"], c["v"], c["slopes"], group=singles[rank]).detach()
        res["_errors"] = _bad_inputs(rank)
        torch.save(res, f"{in_path}.rank{rank}")
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------- parent side
def _case(layout, lens, d=16, e=16, decay="alibi", dtype=torch.float32, ref=False, s0=False, final=False, seed=0,
          slope_scale=1.0, kopts=None, h=2):
    from lightning_bench.kernels import decay_slopes

    g = torch.Generator().manual_seed(seed)
    b, n = 1, sum(lens)
    shp = (lambda x: (b, h, n, x)) if layout == "bhnd" else (lambda x: (b, n, h, x))
    dt = torch.float64 if ref else dtype
    q, k = (torch.randn(shp(d), generator=g).to(dt) for _ in range(2))
    v, do = (torch.randn(shp(e), generator=g).to(dt) for _ in range(2))
    slopes = None if decay == "none" else decay_slopes(h, decay) * slope_scale
    state = torch.randn(b, h, d, e, generator=g).to(torch.float64 if ref else torch.float32) if s0 else None
    w_fin = torch.randn(b, h, d, e, generator=g).to(state.dtype if state is not None else dt) if final else None
    return dict(q=q, k=k, v=v, do=do, slopes=slopes, lens=list(lens), layout=layout, ref=ref, s0=state,
                final=final, w_fin=w_fin, kopts=kopts)


CASES = {
    # the float64 reference as the local attention: the decomposition itself, to float64 rounding
    "ref_bhnd_alibi_equal_state": dict(layout="bhnd", lens=(48, 48), ref=True, s0=True, final=True),
    "ref_bnhd_nodecay_1_95": dict(layout="bnhd", lens=(1, 95), decay="none", ref=True, final=True, e=24),
    "ref_bhnd_strong_decay_70_26": dict(layout="bhnd", lens=(70, 26), ref=True, slope_scale=16.0),
    # our Triton kernels (interpreter, fp32): partial blocks (48 = 3×16 is not, 37 and 59 are), both layouts
    "kernel_bhnd_alibi_equal_state": dict(layout="bhnd", lens=(48, 48), s0=True, final=True),
    "kernel_bnhd_alibi_37_59": dict(layout="bnhd", lens=(37, 59)),
    "kernel_bhnd_odd_dims_h3": dict(layout="bhnd", lens=(33, 30), h=3, d=17, e=19, final=True),  # odd state size
    "kernel_bhnd_nodecay_59_37_final": dict(layout="bhnd", lens=(59, 37), decay="none", final=True, e=32),
    "kernel_bnhd_nodecay_equal_state": dict(layout="bnhd", lens=(48, 48), decay="none", s0=True),
    "kernel_bhnd_fp16_alibi": dict(layout="bhnd", lens=(40, 56), dtype=torch.float16),
    # the local kernels split each chunk into segments (seq_split), small blocks: the exchange sits between the
    # segment-state and the main kernels (forward), between the local-R and the dK/dV kernels (backward)
    "kernel_bnhd_seq_split_state": dict(layout="bnhd", lens=(64, 53), s0=True, final=True,
                                        kopts={"block_n": 16, "seq_split": 2}),
    "kernel_bhnd_nodecay_split3_state": dict(layout="bhnd", lens=(80, 100), decay="none", s0=True, final=True,
                                             kopts={"block_n": 16, "seq_split": 3}),
    "kernel_bhnd_strong_decay_split3": dict(layout="bhnd", lens=(96, 70), slope_scale=16.0, e=24,
                                            kopts={"block_n": 16, "seq_split": 3}),
    # value_dim above 128: lightning_attn's chunked path with its own autograd, correction with torch ops
    "kernel_bhnd_wide_e136_generic": dict(layout="bhnd", lens=(20, 27), e=136, final=True),
}


def _unsplit(c):
    """The one-device computation on the whole sequence: the same loss, autograd gradients."""
    from lightning_bench.kernels import lightning_attn, lightning_attn_reference

    leaves = [c[x].clone().requires_grad_() for x in ("q", "k", "v")]
    s0 = None if c["s0"] is None else c["s0"].clone().requires_grad_()
    fn = lightning_attn_reference if c["ref"] else lightning_attn
    o, fin = fn(*leaves, c["slopes"], layout=c["layout"], initial_state=s0, output_final_state=True)
    loss = (o * c["do"]).sum() + ((fin * c["w_fin"]).sum() if c["final"] else 0.0)
    loss.backward()
    return {"o": o.detach(), "dq": leaves[0].grad, "dk": leaves[1].grad, "dv": leaves[2].grad,
            "fin": fin.detach(), "ds0": None if s0 is None else s0.grad}


def _float64(c):
    from lightning_bench.kernels import lightning_attn_reference

    leaves = [c[x].double().requires_grad_() for x in ("q", "k", "v")]
    s0 = None if c["s0"] is None else c["s0"].double().requires_grad_()
    o, fin = lightning_attn_reference(*leaves, c["slopes"], layout=c["layout"], initial_state=s0,
                                      output_final_state=True)
    loss = (o * c["do"].double()).sum() + ((fin * c["w_fin"].double()).sum() if c["final"] else 0.0)
    loss.backward()
    return {"o": o.detach(), "dq": leaves[0].grad, "dk": leaves[1].grad, "dv": leaves[2].grad, "fin": fin.detach(),
            "ds0": None if s0 is None else s0.grad}


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    """Run every sequence-parallel case once in 2 gloo processes; returns (cases, per-rank results)."""
    import torch.multiprocessing as mp

    cases = {name: _case(**kw, seed=i) for i, (name, kw) in enumerate(CASES.items())}
    single = _case("bhnd", (40,), seed=99)
    path = tmp_path_factory.mktemp("sp") / "inputs.pt"
    torch.save({"cases": cases, "single": single}, path)
    mp.spawn(_worker, args=(_free_port(), str(path)), nprocs=WORLD, join=True)
    ranks = [torch.load(f"{path}.rank{r}") for r in range(WORLD)]
    return cases, single, ranks


def _joined(c, ranks, name, key):
    ax = 2 if c["layout"] == "bhnd" else 1
    return torch.cat([r[name][key] for r in ranks], dim=ax)


@pytest.mark.parametrize("name", list(CASES))
def test_sp_matches_unsplit_and_float64(spawned, name):
    cases, _, ranks = spawned
    c = cases[name]
    one, ref = _unsplit(c), _float64(c)
    if c["ref"]:
        tol_one, tol_ref = 1e-12, 1e-12  # float64 throughout: the same function up to float64 rounding
    elif c["q"].dtype == torch.float16:
        tol_one, tol_ref = 1e-2, (5e-3, 1e-2)  # fp16 rows of the tolerance table (o, gradients)
    else:
        tol_one, tol_ref = 2e-6, (1e-5, 1e-5)  # fp32 IEEE
    for key in ("o", "dq", "dk", "dv"):
        got = _joined(c, ranks, name, key)
        assert got.shape == one[key].shape
        assert torch.isfinite(got).all(), f"{key}: non-finite values (an unwritten, NaN-poisoned row?)"
        assert _rel(got, one[key]) <= tol_one, (key, _rel(got, one[key]))
        t = tol_ref if isinstance(tol_ref, float) else tol_ref[0 if key == "o" else 1]
        assert _rel(got, ref[key]) <= t, (key, _rel(got, ref[key]))
    if c["final"]:
        for r in ranks:  # every rank holds the final state of the whole sequence
            assert _rel(r[name]["fin"], ref["fin"]) <= (1e-12 if c["ref"] else 1e-5)
        assert torch.equal(ranks[0][name]["fin"], ranks[1][name]["fin"])
    if c["s0"] is not None:
        assert _rel(ranks[0][name]["ds0"], ref["ds0"]) <= (1e-12 if c["ref"] else 1e-5)
        assert ranks[1][name]["ds0"] is None  # the initial state belongs to rank 0's chunk


def test_sp_first_chunk_alone_is_plain_attention(spawned):
    # rank 0's output must not depend on later chunks: equal to the one-device call on its chunk alone
    from lightning_bench.kernels import lightning_attn

    cases, _, ranks = spawned
    c = cases["kernel_bnhd_alibi_37_59"]
    o0 = lightning_attn(_narrow(c["q"], "bnhd", 0, 37), _narrow(c["k"], "bnhd", 0, 37),
                        _narrow(c["v"], "bnhd", 0, 37), c["slopes"], layout="bnhd")
    assert torch.equal(ranks[0]["kernel_bnhd_alibi_37_59"]["o"], o0)


def test_group_of_one_rank_is_lightning_attn(spawned):
    from lightning_bench.kernels import lightning_attn

    _, single, ranks = spawned
    want = lightning_attn(single["q"], single["k"], single["v"], single["slopes"])
    for r in ranks:
        assert torch.equal(r["_single"], want)


ERRORS = {  # case → (words in the error of the rank with the bad input, words in every other rank's error)
    "heads_differ": ("heads", "heads"),
    "dtype_differs": ("dtype", "dtype"),
    "layout_differs": ("layout", "layout"),
    "slopes_on_one_rank": ("slopes", "slopes"),
    "slopes_grad_on_rank1": ("rank(s) [1]", "slopes must not require grad"),
    "initial_state_shape_rank1": ("rank(s) [1]", "initial_state"),
    "final_state_differs": ("output_final_state", "output_final_state"),
    "k_shape_on_rank0": ("k must match q", "rank(s) [0]"),
    "kernel_options_rank1": ("rank(s) [1]", "kernel_options['block_n']"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_inputs_raise_the_same_value_error_on_every_rank(spawned, case):
    _, _, ranks = spawned
    first, second = ERRORS[case]
    for rank, r in enumerate(ranks):
        got = r["_errors"][case]
        assert got is not None, f"rank {rank} raised nothing for {case}"
        kind, msg = got
        assert kind == "ValueError"
        assert (first if rank == 0 else second) in msg, (rank, msg)


def test_group_not_joined_and_group_still_usable(spawned):
    _, _, ranks = spawned
    for r in ranks:
        kind, msg = r["_errors"]["not_a_member"]
        assert kind == "ValueError" and "group" in msg
        assert torch.isfinite(r["_errors"]["after"]).all()  # collectives still line up after every error


def test_without_torch_distributed_names_group():
    import torch.distributed as dist

    from lightning_bench.distributed import lightning_attn_sp

    assert not dist.is_initialized()
    x = torch.randn(1, 2, 8, 16)
    with pytest.raises(ValueError, match="group: torch.distributed is not initialized"):
        lightning_attn_sp(x, x, x)


def test_sp_spec_validation_names_the_field():
    from lightning_bench.distributed.sp_sweep import SPSpec

    with pytest.raises(ValueError, match="seq_len_total .* multiples of the number of ranks"):
        SPSpec(seq_len_total=[97], seq_len_local=[]).validate(2)
    with pytest.raises(ValueError, match="mode"):
        SPSpec(modes=["bwd"]).validate(2)
    with pytest.raises(ValueError, match="head_dim"):
        SPSpec(head_dim=8).validate(2)
    with pytest.raises(ValueError, match="check_seq_len"):
        SPSpec(check_seq_len=101).validate(2)
    SPSpec().validate(2)


# ---------------------------------------------------------------- the two sequence-parallel kernels, alone
@pytest.mark.usefixtures("nan_poison")
@pytest.mark.parametrize("layout, decay, dtype", [("bhnd", True, torch.float32), ("bnhd", False, torch.float32),
                                                  ("bnhd", True, torch.float16), ("bhnd", False, torch.float16)])
def test_state_correction_and_state_grad_kernels_match_float64(layout, decay, dtype):
    from lightning_bench.kernels import decay_slopes
    from lightning_bench.kernels.lightning_attn2.sp_kernels import state_correction_, state_grad

    g = torch.Generator().manual_seed(3)
    b, h, n, d, e = 2, 3, 150, 16, 40  # partial last block of 64 rows; e not a power of two
    shp = (lambda x: (b, h, n, x)) if layout == "bhnd" else (lambda x: (b, n, h, x))
    q, o, do = (torch.randn(shp(x), generator=g).to(dtype) for x in (d, e, e))
    s_in = torch.randn(b, h, d, e, generator=g)
    slopes = decay_slopes(h) * 3 if decay else None
    view = (lambda x: x.double()) if layout == "bhnd" else (lambda x: x.transpose(1, 2).double())
    t = torch.arange(1, n + 1, dtype=torch.float64)
    a = torch.exp(-slopes.double()[:, None] * t) if decay else torch.ones(h, n, dtype=torch.float64)
    a = a[None, :, :, None]
    want_o = view(o) + a * (view(q) @ s_in.double())
    got_o = state_correction_(o.clone(), q, s_in, slopes, layout)
    tol = 1e-6 if dtype == torch.float32 else 1e-3  # fp16: the output is rounded to fp16
    assert _rel(view(got_o), want_o) <= tol
    want_g = (view(q) * a).transpose(-1, -2) @ view(do)
    for nseg in (None, 3):  # partial sums over segments (one here by default), combined with λ^(start_p)
        got_g = state_grad(q, do, slopes, layout, block_n=16, nseg=nseg)
        assert got_g.dtype == torch.float32 and got_g.shape == (b, h, d, e)
        assert _rel(got_g, want_g) <= (1e-6 if dtype == torch.float32 or not decay else 1e-3), nseg


# ---------------------------------------------------------------- results: merging the ranks' files
def _row(provider, seq_len, mode="fwd", rank=0, **kw):
    row = dict(provider=provider, impl="x", mode=mode, batch=1, heads=2, seq_len=seq_len, head_dim=16, value_dim=16,
               dtype="fp32", decay="alibi", status="ok", reason="", median_ms=1.0 + rank, device=f"cuda:{rank}",
               rank=rank, world_size=2, n_samples=2)
    row.update(kw)
    return row


def test_merge_rank_files_once_in_order_and_idempotent(tmp_path):
    from lightning_bench import results

    w0 = results.ResultWriter(tmp_path, results.rank_rows_file(0), results.rank_samples_file(0))
    w1 = results.ResultWriter(tmp_path, results.rank_rows_file(1), results.rank_samples_file(1))
    w1.write(_row("b", 64, rank=1), [1.0, 2.0])
    w0.write(_row("a", 32, rank=0), [3.0])
    w1.write(_row("a", 64, rank=1, status="oom", reason="CUDA out of memory"))
    w0.write(_row("b", 32, rank=0), [4.0])
    w0.close()
    w1.close()
    assert results.done_keys(tmp_path) == {results.row_key(_row(p, n)) for p in "ab" for n in (32, 64)}
    # a crash after the rows were appended but before the rank files were removed: merging again adds nothing
    keep = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    order = {"a": 0, "b": 1}
    assert results.merge_rank_files(tmp_path, order=lambda r: (int(r["seq_len"]), order[r["provider"]])) == 4
    assert not results.rank_files(tmp_path)
    for name, data in keep.items():
        (tmp_path / name).write_bytes(data)
    assert results.merge_rank_files(tmp_path) == 0
    with (tmp_path / "rows.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["provider"], r["seq_len"]) for r in rows] == [("a", "32"), ("b", "32"), ("a", "64"), ("b", "64")]
    assert [r["device"] for r in rows] == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert rows[2]["status"] == "oom" and rows[2]["rank"] == "1" and rows[2]["world_size"] == "2"
    samples = [json.loads(x) for x in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert sorted(s["samples_ms"][0] for s in samples) == [1.0, 3.0, 4.0]  # one line per ok row, none twice
    assert list(rows[0].keys()) == results.COLUMNS


# ---------------------------------------------------------------- torchrun end to end (CPU, gloo)
def _run(args, cwd, timeout=240):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["COLUMNS"] = "200"
    r = subprocess.run([sys.executable, "-m", "lightning_bench", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}"
    return r


def _csv(path):
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


SWEEP = ["--providers", "la2,naive_linear,recurrent_linear", "--mode", "fwd,fwd_bwd", "--no-plots",
         "--min-samples", "1", "--max-samples", "2", "--max-time", "0.01", "--warmup", "0", "--quiet"]


def test_sharded_sweep_under_torchrun_merges_every_row_once(tmp_path):
    from lightning_bench import results

    run = tmp_path / "run"
    # bf16 makes la2 fail on the CPU (the interpreter's bf16 dots are wrong): status rows, the sweep goes on
    _run(["sweep", "--devices", "0,1", "--seq-len", "32", "--dtype", "fp32,bf16", "--out", str(run), *SWEEP], tmp_path)
    first = _csv(run / "rows.csv")
    assert len(first) == 12 and not results.rank_files(run)
    assert {r["rank"] for r in first} == {"0", "1"} and {r["world_size"] for r in first} == {"2"}
    assert all(r["device"] == "cpu" and r["device_name"] for r in first)
    failed = [r for r in first if r["status"] != "ok"]
    assert {(r["provider"], r["dtype"], r["status"]) for r in failed} == {("la2", "bf16", "unsupported")}
    assert len(failed) == 2 and all(r["reason"] for r in failed)
    assert all(r["check"] == "passed" for r in first if r["status"] == "ok")
    env = json.loads((run / "env.json").read_text())
    assert env["sharding"]["world_size"] == 2 and [x["rank"] for x in env["sharding"]["ranks"]] == [0, 1]

    # a crash left rank 1's rows unmerged: --resume merges them (not re-measured) and measures only what is missing
    (run / "rows.csv").rename(run / "rows.rank1.csv")
    (run / "samples.jsonl").rename(run / "samples.rank1.jsonl")
    _run(["sweep", "--devices", "0,1", "--resume", str(run), "--seq-len", "32,48", "--dtype", "fp32", *SWEEP],
         tmp_path)
    rows = _csv(run / "rows.csv")
    keys = [results.row_key(r) for r in rows]
    assert len(keys) == len(set(keys)) == 18 and not results.rank_files(run)
    assert {(r["provider"], r["mode"], r["seq_len"], r["dtype"]) for r in rows} == {
        (p, m, n, dt) for p in ("la2", "naive_linear", "recurrent_linear") for m in ("fwd", "fwd_bwd")
        for n, dt in (("32", "fp32"), ("32", "bf16"), ("48", "fp32"))}
    old = {results.row_key(r): r["timestamp"] for r in first}
    assert all(r["timestamp"] == old[results.row_key(r)] for r in rows if r["seq_len"] == "32")
    assert {r["rank"] for r in rows if r["seq_len"] == "48"} == {"0", "1"}
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    n_ok = sum(r["status"] == "ok" for r in rows)
    assert len(samples) == n_ok == 16 and len({json.dumps(s["key"], sort_keys=True) for s in samples}) == 16


def test_sp_sweep_under_torchrun_writes_rows_per_rank(tmp_path):
    out = tmp_path / "sp"
    _run(["sweep-sp", "--devices", "0,1", "--out", str(out), "--quiet"], tmp_path)
    rows = _csv(out / "sp_rows.csv")
    by = {}
    for r in rows:
        by.setdefault(r["scaling"], []).append(r)
    (check,) = by["check"]
    assert check["status"] == "ok" and check["check"] == "passed"
    for t in ("o", "dq", "dk", "dv"):
        assert float(check[f"rel_l2_{t}"]) < 1e-5 and float(check[f"fp64_rel_l2_{t}"]) < 1e-5
    for scaling in ("strong", "weak"):
        got = sorted((r["mode"], r["rank"]) for r in by[scaling])
        assert got == [("fwd", "0"), ("fwd", "1"), ("fwd_bwd", "0"), ("fwd_bwd", "1")]
        for r in by[scaling]:
            assert r["status"] == "ok" and r["world_size"] == "2" and r["seq_len_total"] == "96"
            assert r["seq_len_local"] == "48"
            assert float(r["step_ms"]) >= float(r["median_ms"]) > 0  # the step is the slowest rank
            assert float(r["tokens_per_s"]) == pytest.approx(96 / (float(r["step_ms"]) * 1e-3))
            assert float(r["speedup"]) == pytest.approx(float(r["single_gpu_ms"]) / float(r["step_ms"]))
            assert float(r["comm_ms"]) > 0
    assert {(r["seq_len_total"], r["mode"]) for r in by["single"]} == {(n, m) for n in ("48", "96")
                                                                       for m in ("fwd", "fwd_bwd")}
    assert {r["mode"] for r in by["comm"]} == {"fwd", "bwd"} and len(by["comm"]) == 4
    summary = (out / "sp_summary.md").read_text()
    assert "| strong | fwd_bwd | 96 | 48 |" in summary and "passed" in summary


def test_sp_sweep_times_one_gpu_and_sp_rows_with_the_same_protocol(tmp_path):
    """The one-GPU baseline and the sequence-parallel rows share the sample loop (idle device before each sample,
    the same number of back-to-back calls per sample), so the speed-up compares like with like."""
    out = tmp_path / "sp2"
    _run(["sweep-sp", "--devices", "0,1", "--out", str(out), "--quiet", "--mode", "fwd", "--check-seq-len", "0",
          "--seq-len-local", "none", "--calls-per-sample", "3"], tmp_path)
    rows = [r for r in _csv(out / "sp_rows.csv") if r["scaling"] in ("single", "strong")]
    assert {r["scaling"] for r in rows} == {"single", "strong"}
    for r in rows:
        assert r["status"] == "ok", r
        assert "3 back-to-back calls per sample" in r["timer"], r["timer"]
        assert ("barrier" in r["timer"]) == (r["scaling"] == "strong"), r["timer"]


def test_devices_option_rejects_bad_lists(tmp_path):
    from click.testing import CliRunner

    from lightning_bench.cli import main

    for args in (["sweep", "--devices", "0,0"], ["sweep", "--devices", "a,b"], ["sweep-sp", "--devices", "-1"]):
        r = CliRunner().invoke(main, args + ["--out", str(tmp_path / "x")])
        assert r.exit_code == 2 and "--devices" in r.output, r.output
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_h200x2_script_is_valid_bash():
    script = ROOT / "tools" / "run_sp_h200x2.sh"
    r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = script.read_text()
    for needle in ("NCCL_NVLS_ENABLE=0", "TORCH_SYMM_MEM_DISABLE_MULTICAST=1", "sweep-sp", "--devices 0,1",
                   "--preset quick"):
        assert needle in text


# ---------------------------------------------------------------- the exchange kernels alone (no process group)
@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("want_final", [False, True])
def test_exchange_kernels_match_float64(decay, want_final):
    """pack_end_state on every rank, the rows stacked as an all-gather would, combine_gathered on every rank: the
    entering states, the final state and the weights against float64 formulas (chunks of different lengths, a
    split chunk, an initial state on rank 0)."""
    from lightning_bench.kernels import decay_slopes
    from lightning_bench.kernels.lightning_attn2.sp_kernels import combine_gathered, pack_end_state

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    b, h, d, e = 2, 3, 16, 24
    lens, nsegs = [37, 1, 64, 50], [3, 1, 1, 2]
    g = torch.Generator().manual_seed(5)
    sl = (decay_slopes(h) * 40).to(dev) if decay else None  # strong decay: weights from ~1 down to underflow
    s64 = sl.double() if decay else torch.zeros(h, dtype=torch.float64, device=dev)
    s0 = torch.randn(b, h, d, e, generator=g).to(dev)
    rows, ends64 = [], []
    for r, (n, nseg) in enumerate(zip(lens, nsegs)):
        seg = -(-n // nseg)
        src = torch.randn(b * h, nseg, d, e, generator=g).to(dev)
        rows.append(pack_end_state(src, nseg, seg, n, s0 if r == 0 else None, sl, b, h, d, e))
        end_p = torch.tensor([min((p + 1) * seg, n) for p in range(nseg)], dtype=torch.float64, device=dev)
        w = torch.exp(-s64[:, None] * (n - end_p)[None, :])  # [h, nseg]
        e_r = torch.einsum("hp,bhpde->bhde", w, src.double().view(b, h, nseg, d, e))
        if r == 0:
            e_r = e_r + torch.exp(-s64 * n)[None, :, None, None] * s0.double()
        ends64.append(e_r)
        got = rows[-1][: b * h * d * e].view(b, h, d, e)
        assert float((got.double() - e_r).norm() / e_r.norm()) < 1e-6
        assert int(rows[-1].view(torch.int64)[-1]) == n
    gathered = torch.stack(rows)
    ends = torch.tensor(lens, dtype=torch.float64, device=dev).cumsum(0)
    total = float(ends[-1])
    for rank in range(len(lens)):
        w_in, w_fin, s_in, final = combine_gathered(gathered, sl, rank, b, h, d, e, want_final)
        start = float(ends[rank] - lens[rank])
        ref_w_in = torch.where(torch.arange(len(lens), device=dev)[:, None] < rank,
                               torch.exp(-s64[None, :] * (start - ends)[:, None].clamp_min(0)),
                               torch.zeros((), dtype=torch.float64, device=dev))
        ref_w_fin = torch.exp(-s64[None, :] * (total - ends)[:, None])
        assert torch.allclose(w_in.double(), ref_w_in, rtol=1e-5, atol=1e-30)
        assert torch.allclose(w_fin.double(), ref_w_fin, rtol=1e-5, atol=1e-30)
        if rank == 0:
            assert s_in is None
        else:
            ref = sum(ref_w_in[j][None, :, None, None] * ends64[j] for j in range(len(lens)))
            assert float((s_in.double() - ref).norm() / ref.norm()) < 1e-5
        if want_final:
            ref = sum(ref_w_fin[j][None, :, None, None] * ends64[j] for j in range(len(lens)))
            assert float((final.double() - ref).norm() / ref.norm()) < 1e-5
        else:
            assert final is None


@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("has_g,has_dfin", [(True, True), (True, False), (False, True), (False, False)])
def test_grad_contributions_kernel_matches_float64(decay, has_g, has_dfin):
    from lightning_bench.kernels import decay_slopes
    from lightning_bench.kernels.lightning_attn2.sp_kernels import grad_contributions

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    b, h, d, e, nseg, seg, world = 2, 3, 16, 24, 3, 13, 4
    g = torch.Generator().manual_seed(9)
    sl = (decay_slopes(h) * 8).to(dev) if decay else None
    s64 = sl.double() if decay else torch.zeros(h, dtype=torch.float64, device=dev)
    src = torch.randn(b * h, nseg, d, e, generator=g).to(dev) if has_g else None
    dfin = torch.randn(b, h, d, e, generator=g).to(dev) if has_dfin else None
    w_in, w_fin = (torch.rand(world, h, generator=g).to(dev) for _ in range(2))
    out = grad_contributions(src, nseg, seg, dfin, w_in, w_fin, sl, b, h, d, e)
    ref = torch.zeros(world, b, h, d, e, dtype=torch.float64, device=dev)
    if has_g:
        lam = torch.exp(-s64[:, None] * (torch.arange(nseg, device=dev) * seg)[None, :].double())  # [h, nseg]
        gin = torch.einsum("hp,bhpde->bhde", lam, src.double().view(b, h, nseg, d, e))
        ref += w_in.double()[:, None, :, None, None] * gin[None]
    if has_dfin:
        ref += w_fin.double()[:, None, :, None, None] * dfin.double()[None]
    if not (has_g or has_dfin):
        assert float(out.abs().max()) == 0.0
    else:
        assert float((out.double() - ref).norm() / ref.norm()) < 1e-6


def test_ds_in_source_per_rank():
    """Where each rank on the Gluon backward takes its dS_in from: nowhere on rank 0, the dv pass's final state on the
    last rank only when no final-state gradient can reach it (its dE is then zero), the reduction pass elsewhere."""
    from lightning_bench.distributed.sp import _ds_in_source

    assert [_ds_in_source(r, 2, False) for r in range(2)] == ["none", "dv_final"]
    assert [_ds_in_source(r, 2, True) for r in range(2)] == ["none", "pass"]
    assert [_ds_in_source(r, 4, False) for r in range(4)] == ["none", "pass", "pass", "dv_final"]
    assert _ds_in_source(0, 1, False) == "none"


def test_gluon_sp_plans_only_on_cuda():
    """The Gluon backward on a rank needs CUDA tensors (and no gradient for initial_state): on the CPU (the gloo
    tests) every rank keeps the Triton backward."""
    from lightning_bench.distributed.sp import _gluon_sp_plans

    q = torch.zeros(1, 2, 1024, 128, dtype=torch.bfloat16)
    assert _gluon_sp_plans(q, q, q, q, None, "bhnd", 64, "auto", False) is None
    assert _gluon_sp_plans(q, q, q, q, None, "bhnd", 64, "auto", True) is None


def test_sp_backward_form(monkeypatch):
    """The ranks' backward form: the Triton backward by default (measured fastest on 2× H200), the two Gluon forms
    on request, anything else a ValueError naming the variable and the forms."""
    from lightning_bench.distributed import sp

    monkeypatch.delenv(sp.SP_BWD_ENV, raising=False)
    assert sp.sp_backward_form() == "triton"
    for form in ("split", "side_by_side", "triton"):
        monkeypatch.setenv(sp.SP_BWD_ENV, form)
        assert sp.sp_backward_form() == form
    monkeypatch.setenv(sp.SP_BWD_ENV, "gluon")
    with pytest.raises(ValueError, match="LIGHTNING_BENCH_SP_BWD='gluon'.*triton, split, side_by_side"):
        sp.sp_backward_form()
