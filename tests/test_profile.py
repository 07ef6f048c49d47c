"""`lightning-bench profile`: torch.profiler table and trace, dispatch verification, ncu CSV parsing, the CLI.

CPU: the providers run on tiny shapes (our kernels under the Triton interpreter, see conftest.py); the CUDA-only
parts (kernel-event filtering, dispatch verdicts) are tested on synthetic profiler events and kernel names taken
from the H200 (/work/shared/docs/h200-facts.md).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from torch.autograd import DeviceType

from lightning_bench import profile as lbp
from lightning_bench.baselines.base import Case

CUDA = torch.cuda.is_available()
TINY = Case(batch=1, heads=2, seq_len=64, head_dim=16, value_dim=16, dtype="fp32", decay="alibi")

# Kernel names seen on the H200 (torch 2.11 + cu130), per provider and phase, as torch.profiler reports them.
H200 = {
    "flash_attn2": {
        "fwd": ["void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4, false, false, "
                "cutlass::bfloat16_t, Flash_kernel_traits<128, 128, 64, 4, cutlass::bfloat16_t> >, false, true, "
                "false, false, false, true, false, false>(pytorch_flash::Flash_fwd_params)"],
        "bwd": ["flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel", "flash_bwd_dot_do_o_kernel",
                "flash_bwd_convert_dq_kernel"],
    },
    "sdpa_cudnn": {
        "fwd": ["cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_7_64x128x128_4x1x1_kernel0_0"],
        "bwd": ["cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16_knob_3_64x128x128_4x1x1_kernel0_0",
                "cudnn::fusion::compute_dot_do_o_specialized"],
    },
    "xformers": {
        "fwd": ["fmha_cutlassF_bf16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<cutlass::"
                "bfloat16_t, cutlass::arch::Sm80, true, 64, 64, 128, true, true>::Params)"],
        "bwd": ["fmha_cutlassB_bf16_aligned_64x64_k128_sm80(PyTorchMemEffAttention::AttentionBackwardKernel<"
                "cutlass::arch::Sm80, cutlass::bfloat16_t, true, false, true, 64, 64, 128, false>::Params)"],
    },
    "la2_reference": {"fwd": ["_fwd_kernel"], "bwd": ["_bwd_intra_kernel", "_bwd_inter_kernel"]},
    "fla": {"fwd": ["chunk_fwd_kernel_h", "chunk_fwd_kernel_o"],
            "bwd": ["chunk_bwd_kernel_dh", "chunk_bwd_kernel_dqkwg", "chunk_bwd_kernel_dv"]},
    "la2": {"fwd": ["_la2_fwd_kernel"], "bwd": ["_la2_bwd_dq_kernel", "_la2_bwd_dk_kernel", "_la2_bwd_dv_kernel"]},
}
FMHA_F = "fmha_cutlassF_bf16_aligned_64x64_rf_sm80"


def _all_names(provider: str) -> list[str]:
    return [n for names in H200[provider].values() for n in names]


# ------------------------------------------------------------------------------------------------ real profiles


def _check_files_and_table(res: lbp.ProfileResult, out: Path) -> None:
    t = res.table
    assert list(t.columns) == lbp.TABLE_COLUMNS
    assert len(t) > 0
    assert math.isclose(float(t["share"].sum()), 1.0, rel_tol=1e-9)
    assert (t["calls"] >= 1).all() and (t["total_us"] >= 0).all()
    assert (t["mean_us"] * t["calls"] - t["total_us"]).abs().max() < 1e-6
    assert list(t["total_us"]) == sorted(t["total_us"], reverse=True)
    assert res.kernel_names == list(t["name"])
    assert not any(n.startswith("lightning_bench::") for n in res.kernel_names)
    for f in ("kernels.csv", "trace.json", "dispatch.json"):
        assert (out / f).is_file(), f
    assert res.trace_path == out / "trace.json"
    trace = json.loads((out / "trace.json").read_text())
    assert isinstance(trace["traceEvents"], list) and trace["traceEvents"]
    assert any(e.get("name") == lbp.CALL_LABEL for e in trace["traceEvents"])
    import pandas as pd

    csv = pd.read_csv(out / "kernels.csv")
    assert list(csv.columns) == lbp.TABLE_COLUMNS and len(csv) == len(t)
    disp = json.loads((out / "dispatch.json").read_text())
    assert disp["provider"] == res.provider and disp["mode"] == res.mode and disp["impl"] == res.impl
    assert disp["kernels"] == res.kernel_names
    assert disp["ok"] == res.dispatch_ok


def test_profile_naive_linear(tmp_path):
    res = lbp.profile_provider("naive_linear", TINY, "fwd_bwd", out_dir=tmp_path, warmup=1, iters=2)
    _check_files_and_table(res, tmp_path)
    assert res.impl.startswith("torch ") and res.iters == 2 and res.mode == "fwd_bwd"
    if CUDA:
        assert res.table_kind == "cuda_kernels" and res.dispatch_ok is None  # no kernel claim for PyTorch ops
    else:
        assert res.table_kind == "cpu_ops"
        assert "aten::bmm" in res.kernel_names  # the matmuls of (QKᵀ ⊙ M) V and their backward
        assert lbp.PYTHON_ROW in res.kernel_names
        assert res.dispatch_ok is None and res.dispatch_message == "dispatch verification needs CUDA kernels"
        assert json.loads((tmp_path / "dispatch.json").read_text())["table_kind"] == "cpu_ops"
        # 2 calls × (2 forward + 4 backward bmm)
        assert int(res.table.set_index("name").loc["aten::bmm", "calls"]) == 12


@pytest.mark.parametrize("mode", ["fwd", "bwd", "fwd_bwd"])
def test_profile_la2(tmp_path, mode):
    res = lbp.profile_provider("la2", TINY, mode, out_dir=tmp_path, warmup=1, iters=2)
    _check_files_and_table(res, tmp_path)
    if CUDA:
        assert res.dispatch_ok is True, res.dispatch_message
        assert any(n.startswith("_la2_") for n in res.kernel_names)
    else:
        assert "interpreter" in res.impl
        # the interpreter runs inside our named range (forward without autograd) or the autograd function
        expect = {"fwd": {"lightning_attn2.fwd"}, "bwd": {"_LightningAttn2Backward"},
                  "fwd_bwd": {"_LightningAttn2", "_LightningAttn2Backward"}}[mode]
        assert expect <= set(res.kernel_names)
        assert res.dispatch_ok is None


def test_profile_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown provider 'nope'; known: la2"):
        lbp.profile_provider("nope", TINY, "fwd", out_dir=tmp_path)
    with pytest.raises(ValueError, match="mode must be one of"):
        lbp.profile_provider("naive_linear", TINY, "forward", out_dir=tmp_path)
    with pytest.raises(ValueError, match="iters"):
        lbp.profile_provider("naive_linear", TINY, "fwd", out_dir=tmp_path, iters=0)
    if not CUDA:
        with pytest.raises(RuntimeError, match="not available here: needs a CUDA GPU"):
            lbp.profile_provider("flash_attn2", TINY, "fwd", out_dir=tmp_path)
    assert not (tmp_path / "kernels.csv").exists()


# ------------------------------------------------------------------------------------------------ patterns


@pytest.mark.parametrize("provider", sorted(H200))
def test_expected_patterns_match_h200_names(provider):
    for phase, pats in lbp.EXPECTED_KERNELS[provider].items():
        for p in pats:
            assert any(re.search(p, n) for n in H200[provider][phase]), (provider, phase, p)
    # every pattern of the other phase does not match this phase's kernels alone where names differ by phase
    for p in lbp.EXPECTED_KERNELS[provider]["bwd"]:
        assert not any(re.search(p, n) for n in H200[provider]["fwd"]), (provider, p)


@pytest.mark.parametrize("provider", sorted(H200))
def test_expected_patterns_reject_other_backends(provider):
    others = [n for q in H200 if q != provider for n in _all_names(q)]
    for phase, pats in lbp.EXPECTED_KERNELS[provider].items():
        for p in pats:
            hits = [n for n in others if re.search(p, n)]
            assert not hits, (provider, phase, p, hits)


def test_specific_pattern_pitfalls():
    flash = lbp.EXPECTED_KERNELS["flash_attn2"]
    assert not any(re.search(p, FMHA_F) for ps in flash.values() for p in ps)
    cudnn_f = H200["sdpa_cudnn"]["fwd"][0]  # contains "flash_fprop": not FlashAttention
    assert not any(re.search(p, cudnn_f) for ps in flash.values() for p in ps)
    ref = lbp.EXPECTED_KERNELS["la2_reference"]["fwd"][0]
    for n in ("_la2_fwd_kernel", "chunk_fwd_kernel_o", "pytorch_flash::flash_fwd_kernel"):
        assert not re.search(ref, n), n
    assert re.search(ref, "_fwd_kernel_0d1d2d3d")  # Triton < 3 signature suffix
    assert not re.search(lbp.EXPECTED_KERNELS["la2"]["fwd"][0], "_fwd_kernel")
    # la2's forward on sm_90 is one of the Gluon kernels (kernels/lightning_attn2/gluon_fwd.py); la2_triton's never
    from lightning_bench.kernels.lightning_attn2 import gluon_fwd
    names = ["_la2_fwd_gluon_kernel", "_la2_fwd_gluon_ws_kernel", "_la2_fwd_gluon_wg2_kernel"]
    if gluon_fwd.IMPORT_ERROR is None:  # the kernels launch under their function names
        assert [getattr(gluon_fwd, n).__name__ for n in names] == names
    for n in names:
        assert re.search(lbp.EXPECTED_KERNELS["la2"]["fwd"][0], n), n
        assert re.search(lbp.EXPECTED_KERNELS["la2_unsplit"]["fwd"][0], n), n
        assert not re.search(lbp.EXPECTED_KERNELS["la2_triton"]["fwd"][0], n), n


def test_short_kernel_name():
    assert lbp.short_kernel_name(H200["flash_attn2"]["fwd"][0]) == "pytorch_flash::flash_fwd_kernel"
    assert lbp.short_kernel_name(H200["xformers"]["fwd"][0]) == FMHA_F
    assert lbp.short_kernel_name("_la2_fwd_kernel") == "_la2_fwd_kernel"
    assert lbp.short_kernel_name("cudnn::fusion::compute_dot_do_o_specialized<1, 2>(Params)") == \
        "cudnn::fusion::compute_dot_do_o_specialized"


# ------------------------------------------------------------------------------------------------ verification


def _fake(provider, mode, names, *, impl="", device="cuda:0"):
    table = lbp._table_from_samples([(n, 10.0 + i) for i, n in enumerate(names)])
    return lbp.ProfileResult(provider=provider, impl=impl, mode=mode, device=device, table=table,
                             kernel_names=list(table["name"]))


SDPA_FLASH = "SDPA flash backend = FlashAttention-2 in PyTorch [flash-attn not installed] (torch 2.11.0, ...)"
SDPA_EFF = "SDPA efficient backend = xformers' CUTLASS kernel [xformers 0.0.35 CUDA ops do not load: ...]"


@pytest.mark.parametrize("provider,impl", [("la2", "lightning_bench triton (bhnd)"),
                                           ("la2_reference", "lightning_attn 0.0.5 lightning_attn_func (decay)"),
                                           ("fla", "fla 0.6.0 chunk_simple_gla"), ("flash_attn2", SDPA_FLASH),
                                           ("sdpa_cudnn", "SDPA cuDNN backend"), ("xformers", SDPA_EFF)])
def test_verify_dispatch_ok(provider, impl):
    noise = ["void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>(int)"]
    for mode, phases in (("fwd", ["fwd"]), ("bwd", ["bwd"]), ("fwd_bwd", ["fwd", "bwd"])):
        names = [n for ph in phases for n in H200[provider][ph]] + noise
        ok, msg = lbp.verify_dispatch(_fake(provider, mode, names, impl=impl))
        assert ok is True, msg
        assert "launched the expected kernels" in msg


def test_verify_dispatch_mismatch():
    # la2 fwd_bwd that ran no backward kernels (neither the Triton ones nor the Gluon kernel's three passes)
    ok, msg = lbp.verify_dispatch(_fake("la2", "fwd_bwd", ["_la2_fwd_kernel"]))
    assert ok is False and "MISMATCH" in msg and "_la2_fwd_kernel" in msg
    ok, msg = lbp.verify_dispatch(_fake("la2_triton", "fwd_bwd", ["_la2_fwd_kernel"]))
    assert ok is False and "MISMATCH" in msg and "_la2_bwd_dq_kernel" in msg and "_la2_fwd_kernel" in msg
    # la2's backward as the Gluon kernel run three times (gluon_fwd.backward) is the expected dispatch
    ok, msg = lbp.verify_dispatch(_fake("la2", "fwd_bwd", ["_la2_fwd_gluon_ws_kernel", "_la2_fwd_gluon_wg2_kernel"]))
    assert ok is True, msg
    # "flash_attn2" that really ran the CUTLASS (efficient) kernel
    ok, msg = lbp.verify_dispatch(_fake("flash_attn2", "fwd", [H200["xformers"]["fwd"][0]], impl=SDPA_FLASH))
    assert ok is False and "flash_fwd" in msg and "another backend" in msg and FMHA_F in msg
    # cuDNN pinned but flash kernels alongside the cuDNN ones
    ok, msg = lbp.verify_dispatch(_fake("sdpa_cudnn", "fwd", H200["sdpa_cudnn"]["fwd"] + H200["flash_attn2"]["fwd"]))
    assert ok is False and "another backend" in msg
    # the reference provider must not be satisfied by our kernels
    ok, _ = lbp.verify_dispatch(_fake("la2_reference", "fwd", ["_la2_fwd_kernel"]))
    assert ok is False
    # nothing launched at all
    ok, msg = lbp.verify_dispatch(_fake("fla", "fwd", []))
    assert ok is False and "no CUDA kernel" in msg


def test_verify_dispatch_undecidable():
    assert lbp.verify_dispatch(_fake("la2", "fwd", ["_LightningAttn2"], device="cpu")) == \
        (None, "dispatch verification needs CUDA kernels")
    ok, msg = lbp.verify_dispatch(_fake("naive_linear", "fwd", ["ampere_sgemm_128x64_nn"]))
    assert ok is None and "no expected kernels declared" in msg and "ampere_sgemm_128x64_nn" in msg


def test_xformers_native_impl_accepts_its_flash_kernels():
    impl = "xformers 0.0.35 memory_efficient_attention (bnhd)"
    ok, msg = lbp.verify_dispatch(_fake("xformers", "fwd", ["flash_fwd_kernel"], impl=impl))
    assert ok is True, msg
    ok, _ = lbp.verify_dispatch(_fake("xformers", "fwd", ["flash_fwd_kernel"], impl=SDPA_EFF))
    assert ok is False


# ------------------------------------------------------------------------------------------------ event filtering


class _RaisingDeviceTime(SimpleNamespace):
    @property
    def self_device_time_total(self):
        raise AssertionError("device type check")


def _dev(name, us, annotation=False, **kw):
    return SimpleNamespace(name=name, device_type=DeviceType.CUDA, self_device_time_total=us, is_async=False,
                           is_user_annotation=annotation, cpu_children=[], kernels=[], **kw)


def _cpu(name, us=1.0, children=(), kernels=(), annotation=False):
    return SimpleNamespace(name=name, device_type=DeviceType.CPU, self_cpu_time_total=us, is_async=False,
                           is_user_annotation=annotation, cpu_children=list(children), kernels=list(kernels))


def test_table_from_cuda_events_filters_noise():
    flush_kernel = ("void at::native::vectorized_elementwise_kernel<4, at::native::bitwise_not_kernel_cuda("
                    "at::TensorIteratorBase&)::{lambda(signed char)#1}>(int, signed char*)")
    fill_in_flush = "void at::native::vectorized_elementwise_kernel<4, at::native::FlushOnlyFunctor<signed char>>"
    provider_fill = "void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>"
    flush_op = _cpu("aten::bitwise_not_", kernels=[SimpleNamespace(name=fill_in_flush, device=0, duration=3.0)])
    events = [
        _cpu(lbp.CALL_LABEL, annotation=True), _cpu(lbp.FLUSH_LABEL, annotation=True, children=[flush_op]),
        flush_op, _cpu("aten::bmm", 50.0), _cpu("my_annotation", annotation=True),
        _dev(lbp.CALL_LABEL, 500.0),  # GPU mirror of our label (is_user_annotation not set: name-based filter)
        _dev("my_annotation", 400.0),  # GPU mirror of a CPU user annotation
        _dev("ProfilerStep#3", 300.0),
        _dev("some_gpu_user_annotation", 250.0, annotation=True),  # flagged by the profiler itself
        _dev("x", 0.0, time_range=SimpleNamespace(elapsed_us=lambda: 7.0)),  # no device-time attribute value
        _dev(flush_kernel, 90.0), _dev(fill_in_flush, 3.0),
        _dev("_la2_fwd_kernel", 10.0), _dev("_la2_fwd_kernel", 14.0), _dev("_la2_bwd_dq_kernel", 20.0),
        _dev(provider_fill, 2.0),
        _RaisingDeviceTime(name="_la2_bwd_dv_kernel", device_type=DeviceType.CUDA, is_async=False,
                           is_user_annotation=False, self_cuda_time_total=6.0, cpu_children=[], kernels=[]),
    ]
    table, excluded = lbp.table_from_events(events, cuda=True)
    rows = table.set_index("name")
    assert set(rows.index) == {"_la2_fwd_kernel", "_la2_bwd_dq_kernel", "_la2_bwd_dv_kernel", provider_fill, "x"}
    assert rows.loc["_la2_fwd_kernel", "calls"] == 2 and rows.loc["_la2_fwd_kernel", "total_us"] == 24.0
    assert rows.loc["_la2_fwd_kernel", "mean_us"] == 12.0
    assert rows.loc["_la2_bwd_dv_kernel", "total_us"] == 6.0  # fell back to the older attribute name
    assert rows.loc["x", "total_us"] == 7.0  # fell back to the event's time range
    assert math.isclose(table["share"].sum(), 1.0)
    assert table["name"].iloc[0] == "_la2_fwd_kernel"
    assert excluded["harness_l2_flush"] == 2 and excluded["annotations"] == 4


def test_table_from_cpu_events():
    events = [_cpu(lbp.CALL_LABEL, 5.0, annotation=True), _cpu("aten::mm", 30.0), _cpu("aten::mm", 10.0),
              _cpu("profiler::_record_function_exit", 1.0), _cpu(lbp.CALL_LABEL, 5.0, annotation=True),
              _dev("some_kernel", 99.0)]
    table, excluded = lbp.table_from_events(events, cuda=False)
    assert list(table["name"]) == ["aten::mm", lbp.PYTHON_ROW]
    assert list(table["calls"]) == [2, 2] and list(table["share"]) == [0.8, 0.2]
    assert excluded["profiler"] == 1
    empty, _ = lbp.table_from_events([], cuda=True)
    assert empty.empty and list(empty.columns) == lbp.TABLE_COLUMNS


# ------------------------------------------------------------------------------------------------ ncu

NCU_CSV = """==PROF== Connected to process 4242 (/usr/bin/python3.12)
==PROF== Profiling "_la2_fwd_kernel" - 0: 0%....50%....100% - 9 passes
==PROF== Profiling "_la2_bwd_dq_kernel" - 1: 0%....50%....100% - 9 passes
"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"
"0","4242","python3.12","127.0.0.1","_la2_fwd_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","dram__bytes.sum","byte","67,108,864"
"0","4242","python3.12","127.0.0.1","_la2_fwd_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","gpu__time_duration.sum","nsecond","32,000"
"0","4242","python3.12","127.0.0.1","_la2_fwd_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","sm__inst_executed_pipe_tensor.sum","inst","1,000,000"
"0","4242","python3.12","127.0.0.1","_la2_fwd_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","sm__sass_thread_inst_executed_op_ffma_pred_on.sum","inst","16,000,000"
"1","4242","python3.12","127.0.0.1","_la2_bwd_dq_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","dram__bytes.sum","Mbyte","50.00"
"1","4242","python3.12","127.0.0.1","_la2_bwd_dq_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","gpu__time_duration.sum","usecond","25.00"
"1","4242","python3.12","127.0.0.1","_la2_bwd_dq_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","sm__inst_executed_pipe_tensor.sum","inst","500000"
"1","4242","python3.12","127.0.0.1","_la2_bwd_dq_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","sm__sass_thread_inst_executed_op_ffma_pred_on.sum","inst","0"
"2","4242","python3.12","127.0.0.1","_la2_fwd_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","dram__bytes.sum","byte","67,108,864"
"2","4242","python3.12","127.0.0.1","_la2_fwd_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","gpu__time_duration.sum","nsecond","32,000"
"2","4242","python3.12","127.0.0.1","_la2_fwd_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","sm__inst_executed_pipe_tensor.sum","inst","1,000,000"
"2","4242","python3.12","127.0.0.1","_la2_fwd_kernel","1","7","(128, 1, 1)","(2, 32, 1)","0","9.0","Command line profiler metrics","sm__sass_thread_inst_executed_op_ffma_pred_on.sum","inst","16,000,000"
==PROF== Disconnected from process 4242
"""


def test_parse_ncu_csv():
    df = lbp.parse_ncu_csv(NCU_CSV)
    assert list(df["id"]) == [0, 1, 2] and list(df["kernel"]) == ["_la2_fwd_kernel", "_la2_bwd_dq_kernel",
                                                                  "_la2_fwd_kernel"]
    fwd = df.iloc[0]
    assert fwd["duration_us"] == pytest.approx(32.0) and fwd["dram_bytes"] == 67_108_864
    assert fwd["bandwidth_gbs"] == pytest.approx(67_108_864 / 32_000)  # bytes per ns = GB/s
    assert fwd["ffma_gflops"] == pytest.approx(2 * 16e6 / 32_000)
    assert fwd["tensor_inst_per_us"] == pytest.approx(1e6 / 32.0)
    dq = df.iloc[1]  # auto-scaled units: Mbyte, usecond
    assert dq["dram_bytes"] == pytest.approx(50e6) and dq["duration_us"] == pytest.approx(25.0)
    assert dq["bandwidth_gbs"] == pytest.approx(50e6 / 25_000)
    summary = lbp.summarize_ncu(df).set_index("kernel")
    assert summary.loc["_la2_fwd_kernel", "launches"] == 2
    assert summary.loc["_la2_fwd_kernel", "bandwidth_gbs"] == pytest.approx(67_108_864 / 32_000)
    assert summary.loc["_la2_bwd_dq_kernel", "mean_duration_us"] == pytest.approx(25.0)
    with pytest.raises(ValueError, match="no ncu CSV header"):
        lbp.parse_ncu_csv("==PROF== No kernels were profiled.\n")


def test_ncu_command_and_unavailable(tmp_path, monkeypatch):
    cmd = lbp.ncu_command("/usr/local/cuda/bin/ncu", "la2", TINY, "fwd_bwd", log_file=tmp_path / "raw.csv")
    s = " ".join(cmd)
    assert "--clock-control none" in s and "--csv" in s and "-k regex:_la2_" in s
    assert "--metrics " + ",".join(lbp.NCU_METRICS) in s
    assert "--profile-from-start off" in s and "-m lightning_bench.profile --child --provider la2" in s
    assert "--seq-len 64" in s and "--head-dim 16" in s and "--dtype fp32" in s
    monkeypatch.setattr(lbp, "find_ncu", lambda: None)
    assert lbp.ncu_capture("la2", TINY, "fwd", tmp_path) == (None, "ncu not found (not on PATH, no "
                                                              "/usr/local/cuda/bin/ncu)")
    monkeypatch.setattr(lbp, "find_ncu", lambda: "/usr/bin/ncu")
    if not CUDA:
        res, why = lbp.ncu_capture("la2", TINY, "fwd", tmp_path)
        assert res is None and "needs a CUDA device" in why
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    res, why = lbp.ncu_capture("fla", TINY, "fwd", tmp_path)
    assert res is None and "our Triton kernels" in why


def _fake_ncu(tmp_path, body: str) -> str:
    script = tmp_path / "ncu"
    script.write_text(f"#!{sys.executable}\nimport sys\nargs = sys.argv[1:]\n"
                      "log = args[args.index('--log-file') + 1]\n" + body)
    script.chmod(0o755)
    return str(script)


def test_ncu_capture_with_fake_ncu(tmp_path, monkeypatch):
    """The whole capture path (command, log file, parsing, FLOP model) with a stand-in ncu that writes the CSV."""
    (tmp_path / "in.csv").write_text(NCU_CSV)
    ok_ncu = _fake_ncu(tmp_path, f"open(log, 'w').write(open({str(tmp_path / 'in.csv')!r}).read())\n"
                                 "assert '--child' in args and 'regex:_la2_' in args\n")
    monkeypatch.setattr(lbp, "find_ncu", lambda: ok_ncu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    out = tmp_path / "out"
    res, msg = lbp.ncu_capture("la2", TINY, "fwd_bwd", out)
    assert res is not None, msg
    assert list(res.table["kernel"]) == ["_la2_fwd_kernel", "_la2_bwd_dq_kernel"]
    assert res.total_duration_us == pytest.approx(89.0) and res.flop_model == "la2_chunk"
    from lightning_bench.flops import flops

    fl = flops("la2_chunk", "fwd_bwd", 1, 2, 64, 16, 16)
    assert res.model_flops == fl and res.model_tflops == pytest.approx(fl / 89e-6 / 1e12)
    assert "3 launches of 2 kernels" in msg
    for f in ("ncu_raw.csv", "ncu_launches.csv", "ncu_kernels.csv"):
        assert (out / f).is_file()
    perm = _fake_ncu(tmp_path, "print('==ERROR== ERR_NVGPUCTRPERM - The user does not have permission');"
                               "sys.exit(1)\n")
    monkeypatch.setattr(lbp, "find_ncu", lambda: perm)
    res, msg = lbp.ncu_capture("la2", TINY, "fwd", out)
    assert res is None and "ERR_NVGPUCTRPERM" in msg
    none = _fake_ncu(tmp_path, "open(log, 'w').write('==PROF== Connected\\n==WARNING== No kernels were profiled.\\n')\n")
    monkeypatch.setattr(lbp, "find_ncu", lambda: none)
    res, msg = lbp.ncu_capture("la2", TINY, "fwd", out)
    assert res is None and "captured no kernel" in msg and "No kernels were profiled" in msg


def test_ncu_child_entry_runs():
    """The subprocess ncu runs: builds the sweep's call and runs it (here on the CPU, without profiler ranges)."""
    env = dict(os.environ, TRITON_INTERPRET="1") if not CUDA else dict(os.environ)
    root = str(Path(lbp.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    args = lbp.child_args("naive_linear", TINY, "fwd_bwd", warmup=1, iters=1)
    proc = subprocess.run([sys.executable, "-m", "lightning_bench.profile", *args], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "child ok: naive_linear fwd_bwd" in proc.stdout and "seq_len=64" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "lightning_bench.profile", "--child", "--provider", "nope"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "unknown provider 'nope'" in bad.stderr


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_profile(tmp_path):
    from lightning_bench.cli import main

    out = tmp_path / "prof"
    r = CliRunner().invoke(main, ["profile", "--provider", "naive_linear", "--seq-len", "64", "--batch", "1",
                                  "--heads", "2", "--head-dim", "16", "--dtype", "fp32", "--mode", "fwd",
                                  "--warmup", "1", "--iters", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for f in ("kernels.csv", "trace.json", "dispatch.json"):
        assert (out / f).is_file()
    assert "naive_linear" in r.output and "share" in r.output
    if not CUDA:
        assert "CPU profile" in r.output and "aten::bmm" in r.output
        assert "dispatch verification needs CUDA kernels" in r.output


@pytest.mark.skipif(CUDA, reason="checks the CPU defaults")
def test_cli_profile_cpu_defaults_and_several_providers(tmp_path):
    from lightning_bench.cli import main

    r = CliRunner().invoke(main, ["profile", "--provider", "naive_linear,flash_attn2", "--mode", "fwd",
                                  "--warmup", "0", "--iters", "1", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "seq_len=64" in r.output and "dtype='fp32'" in r.output  # the sweep's CPU preset shapes
    assert (tmp_path / "naive_linear" / "kernels.csv").is_file()
    summary = (tmp_path / "dispatch_summary.csv").read_text()
    assert "flash_attn2" in summary and "not profiled" in summary and "needs a CUDA GPU" in summary


def test_cli_profile_errors(tmp_path):
    from lightning_bench.cli import main

    r = CliRunner().invoke(main, ["profile", "--provider", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown provider 'nope'" in r.output
    r = CliRunner().invoke(main, ["profile", "--provider", "la2", "--mode", "backward"])
    assert r.exit_code == 2 and "backward" in r.output
    if not CUDA:
        r = CliRunner().invoke(main, ["profile", "--provider", "sdpa_cudnn", "--out", str(tmp_path)])
        assert r.exit_code == 1 and "not available here" in r.output


def test_ncu_short_units_from_the_h200_run():
    """ncu 2025.3 on the H200 printed durations as "ns" with --print-units base (seen 2026-11-29)."""
    from lightning_bench.profile import parse_ncu_csv, summarize_ncu

    text = "\n".join([
        '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size",'
        '"Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"',
        '"0","762","python3.12","h","_la2_fwd_kernel","1","7","(128, 1, 1)","(32, 2, 1)","0","9.0","m",'
        '"dram__bytes.sum","byte","127,385,088"',
        '"0","762","python3.12","h","_la2_fwd_kernel","1","7","(128, 1, 1)","(32, 2, 1)","0","9.0","m",'
        '"gpu__time_duration.sum","ns","158,176"',
    ])
    table = summarize_ncu(parse_ncu_csv(text))
    row = table.iloc[0]
    assert row.mean_duration_us == pytest.approx(158.176)
    assert row.bandwidth_gbs == pytest.approx(127385088 / 158.176e-6 / 1e9)
    with pytest.raises(ValueError, match="unit"):
        parse_ncu_csv(text.replace('"ns"', '"fortnights"'))


def test_dispatch_of_call_on_the_cpu_is_undecided():
    from lightning_bench.profile import dispatch_of_call

    ok, message, names = dispatch_of_call("la2", "x", "fwd", lambda: None, None, torch.device("cpu"))
    assert ok is None and "CUDA" in message and names == []
