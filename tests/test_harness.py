"""Harness tests on the CPU: FLOP models, registry, CSV schema, failure rows, resume, interruption, CLI."""

from __future__ import annotations

import csv
import json
import math

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from lightning_bench import baselines, flops, results
from lightning_bench.baselines import base
from lightning_bench.cases import PRESETS, SweepSpec, preset
from lightning_bench.cli import main
from lightning_bench.sweep import SweepOptions, classify, run_sweep
from lightning_bench.timing import Measurement, TimingConfig, measure

FAST = TimingConfig(warmup_s=0.0, min_warmup_calls=1, min_samples=2, max_samples=3, max_time_s=0.01)


# ---------------------------------------------------------------- FLOP models (shared docs §5)
def test_flops_la2_chunk_known_values():
    # d = e = 128, B = 64: forward = 4·b·h·n·d·(B + d), backward = 10·b·h·n·d·(B + d)
    b, h, n, d = 2, 16, 8192, 128
    assert flops.flops("la2_chunk", "fwd", b, h, n, d, d) == 4 * b * h * n * d * (64 + d)
    assert flops.flops("la2_chunk", "bwd", b, h, n, d, d) == 10 * b * h * n * d * (64 + d)
    assert flops.flops("la2_chunk", "fwd_bwd", b, h, n, d, d) == 14 * b * h * n * d * (64 + d)
    # per token-head forward at d = e = 128, B = 64 is 98,304 FLOPs (docs §4 table)
    assert flops.flops("la2_chunk", "fwd", 1, 1, 1, 128, 128) == 98_304


def test_flops_other_models_known_values():
    assert flops.flops("linear_minimum", "fwd", 1, 1, 10, 4, 8) == 4 * 10 * 4 * 8
    assert flops.flops("linear_minimum", "fwd_bwd", 1, 1, 10, 4, 8) == 14 * 10 * 4 * 8
    assert flops.flops("naive_quadratic", "fwd", 1, 2, 10, 4, 4) == 2 * 2 * 100 * 8
    # causal softmax, FA convention: 4·b·h·n²·d / 2 for e = d; bwd = 2.5 × fwd
    fwd = flops.flops("softmax_causal", "fwd", 4, 32, 32768, 128, 128)
    assert fwd == 4 * 4 * 32 * 32768**2 * 128 / 2
    assert flops.flops("softmax_causal", "bwd", 4, 32, 32768, 128, 128) == 2.5 * fwd
    assert flops.flops("softmax_causal", "fwd_bwd", 4, 32, 32768, 128, 128) == 3.5 * fwd


def test_flops_bad_input():
    with pytest.raises(ValueError, match="model"):
        flops.flops("nope", "fwd", 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="mode"):
        flops.flops("la2_chunk", "backward", 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="seq_len"):
        flops.flops("la2_chunk", "fwd", 1, 1, 0, 1, 1)


def test_every_provider_has_a_known_flop_model():
    for p in baselines.list_providers():
        assert p.flop_model in flops.MODELS, p.name


# ---------------------------------------------------------------- registry
EXPECTED = {"la2", "naive_linear", "recurrent_linear", "flash_attn2", "xformers", "sdpa_cudnn", "fla", "la2_reference",
            "floor"}


def test_registry_lists_all_providers_with_reasons():
    names = {p.name for p in baselines.list_providers()}
    assert EXPECTED <= names
    for p in baselines.list_providers():
        ok, why = p.available()
        assert isinstance(ok, bool)
        if not ok:
            assert why, f"{p.name} unavailable without a reason"
    if not torch.cuda.is_available():
        for name in ("flash_attn2", "xformers", "sdpa_cudnn", "fla", "la2_reference"):
            ok, why = baselines.get_provider(name).available()
            assert not ok and why


def test_unknown_provider_names_the_known_ones():
    with pytest.raises(ValueError, match="la2"):
        baselines.get_provider("flashattention9")


# ---------------------------------------------------------------- torch baselines compute the right function
@pytest.mark.parametrize("decay", ["none", "alibi"])
@pytest.mark.parametrize("name", ["naive_linear", "recurrent_linear"])
def test_torch_linear_baselines_match_reference(name, decay):
    from lightning_bench.baselines.base import Case
    from lightning_bench.kernels import lightning_attn_reference
    from lightning_bench.sweep import make_inputs

    case = Case(batch=2, heads=3, seq_len=77, head_dim=16, value_dim=24, dtype="fp32", decay=decay)
    inputs = make_inputs(case, torch.device("cpu"), seed=1)
    prepared = baselines.get_provider(name).prepare(case, inputs)
    o = prepared.to_bhnd(prepared.forward())
    ref = lightning_attn_reference(inputs.q.double(), inputs.k.double(), inputs.v.double(), inputs.slopes)
    rel = ((o.double() - ref).norm() / ref.norm()).item()
    assert rel < 1e-5


# ---------------------------------------------------------------- the byte floor provider
@pytest.mark.parametrize("interpret", [True, False])
def test_floor_provider_streams_the_exact_elementwise_function_and_its_gradients(monkeypatch, interpret):
    """o = q⊙k⊙v and its three gradients against float64, through the Triton kernels (interpreter) and the torch
    fallback, on a size that is not a multiple of the kernel's block (the masked tail) with NaN-poisoned memory."""
    from lightning_bench.baselines import floor as F
    from lightning_bench.baselines.base import Case
    from lightning_bench.sweep import make_inputs

    if interpret:
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    else:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(F, "_BLOCK", 256)
    case = Case(batch=2, heads=3, seq_len=45, head_dim=16, value_dim=16, dtype="fp32", decay="alibi")
    inputs = make_inputs(case, torch.device("cpu"), seed=3)
    poisoned = torch.empty_like
    monkeypatch.setattr(torch, "empty_like", lambda t, **kw: poisoned(t, **kw).fill_(float("nan")))
    prepared = baselines.get_provider("floor").prepare(case, inputs)
    assert ("triton" in prepared.impl) == interpret
    o = prepared.forward()
    o.backward(inputs.do)
    q, k, v, do = (x.double() for x in (inputs.q, inputs.k, inputs.v, inputs.do))
    want = (q * k * v, do * k * v, do * q * v, do * q * k)
    for got, ref in zip((o, *(t.grad for t in prepared.leaves)), want):
        assert torch.isfinite(got).all()
        assert torch.allclose(got.double(), ref, rtol=1e-6, atol=1e-6)


def test_floor_provider_declines_unequal_dims_and_declares_no_flops():
    from lightning_bench.baselines.base import Case, Unsupported
    from lightning_bench.sweep import make_inputs

    case = Case(batch=1, heads=1, seq_len=8, head_dim=16, value_dim=32, dtype="fp32", decay="none")
    with pytest.raises(Unsupported, match="head_dim == value_dim"):
        baselines.get_provider("floor").prepare(case, make_inputs(case, torch.device("cpu"), seed=0))
    assert math.isnan(flops.flops("none", "fwd_bwd", 1, 1, 8, 16, 16))
    from lightning_bench.baselines.floor import floor_op
    with pytest.raises(ValueError, match="k must match"):
        floor_op(torch.zeros(2, 3), torch.zeros(3, 2), torch.zeros(2, 3))


# ---------------------------------------------------------------- timing
def test_measure_counts_and_statistics_on_cpu():
    calls = {"n": 0, "pre": 0}

    def fn():
        calls["n"] += 1
        return sum(range(1000))

    def pre():
        calls["pre"] += 1

    m = measure(fn, pre=pre, device=torch.device("cpu"),
                config=TimingConfig(warmup_s=0, min_warmup_calls=2, min_samples=5, max_samples=7, max_time_s=1e-6))
    assert m.n_samples == 5  # clipped up to min_samples
    assert calls["n"] == 1 + m.warmup_calls + 5
    assert calls["pre"] == calls["n"]  # pre runs before every call
    assert all(s > 0 for s in m.samples_ms)
    assert m.quantile(0.2) <= m.median_ms <= m.quantile(0.8)


def test_measurement_quantiles_known_values():
    m = Measurement(samples_ms=[5.0, 1.0, 3.0, 2.0, 4.0], first_call_ms=9.0, timer="t", l2_policy="p")
    assert m.median_ms == 3.0
    assert m.quantile(0.0) == 1.0 and m.quantile(1.0) == 5.0
    assert m.quantile(0.25) == 2.0


def test_timing_config_rejects_bad_bounds():
    with pytest.raises(ValueError, match="max_samples"):
        TimingConfig(min_samples=10, max_samples=5)
    with pytest.raises(ValueError, match="min_samples"):
        TimingConfig(min_samples=0)


# ---------------------------------------------------------------- spec validation
def test_spec_validation_names_the_field():
    with pytest.raises(ValueError, match="dtype"):
        SweepSpec(seq_len=[64], dtype=["fp8"]).validate()
    with pytest.raises(ValueError, match="seq_len"):
        SweepSpec(seq_len=[0]).validate()
    with pytest.raises(ValueError, match="mode"):
        SweepSpec(seq_len=[64], modes=["forward"]).validate()
    with pytest.raises(ValueError, match="decay"):
        SweepSpec(seq_len=[64], decay=["exp"]).validate()


def test_paper_preset_is_the_reference_benchmark():
    p = preset("paper")
    assert (p.batch, p.heads, p.head_dim, p.dtype) == ([4], [32], [128], ["bf16"])
    assert p.seq_len == [512, 1024, 2048, 4096, 8192, 16384, 32768]
    assert set(p.modes) == {"fwd", "bwd", "fwd_bwd"}
    assert "quick" in PRESETS


def test_tgs_preset_keeps_tokens_per_call_fixed():
    """The paper's Table 1 setting: batch × seq_len is the same in every case, from 1K to 128K."""
    from lightning_bench.cases import TGS_TOKENS

    cases = preset("tgs").cases()
    assert [c.seq_len for c in cases] == [1024 * 2**i for i in range(8)]
    assert {c.batch * c.seq_len for c in cases} == {TGS_TOKENS}
    assert {(c.heads, c.head_dim, c.dtype, c.decay) for c in cases} == {(16, 128, "bf16", "alibi")}
    assert {"la2", "la1", "flash_attn2"} <= set(preset("tgs").providers)


# ---------------------------------------------------------------- failure rows, schema, resume, interruption
class _Boom(RuntimeError):
    pass


@pytest.fixture
def fake_providers():
    """Providers that fail in each way the sweep must survive, plus one that counts its calls."""
    from lightning_bench.baselines.base import Prepared, Provider, Unsupported, leaf, register

    state = {"calls": 0, "interrupt_at_seq": None}

    def ok_prepare(case, inputs):
        q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)

        def forward():
            state["calls"] += 1
            if state["interrupt_at_seq"] == case.seq_len:
                raise KeyboardInterrupt
            from lightning_bench.baselines.naive_linear import _mask

            return torch.matmul(torch.matmul(q, k.transpose(-1, -2)) * _mask(case, inputs.slopes, q.device, q.dtype),
                                v)

        return Prepared(forward=forward, leaves=[q, k, v], grad_out=inputs.do, impl="fake-ok")

    def oom_prepare(case, inputs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 TiB")

    def err_forward_prepare(case, inputs):
        def forward():
            raise _Boom("kernel exploded\nsecond line")

        return Prepared(forward=forward, leaves=[], grad_out=inputs.do, impl="fake-err")

    def unsupported_prepare(case, inputs):
        raise Unsupported("head_dim 7 is not supported")

    def wrong_prepare(case, inputs):
        q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)
        return Prepared(forward=lambda: v * 2, leaves=[q, k, v], grad_out=inputs.do, impl="fake-wrong")

    specs = {
        "t_ok": (ok_prepare, lambda: (True, "")),
        "t_oom": (oom_prepare, lambda: (True, "")),
        "t_err": (err_forward_prepare, lambda: (True, "")),
        "t_unsup": (unsupported_prepare, lambda: (True, "")),
        "t_wrong": (wrong_prepare, lambda: (True, "")),
        "t_missing": (ok_prepare, lambda: (False, "libfoo is not installed")),
    }
    for name, (prep, avail) in specs.items():
        register(Provider(name=name, family="linear", flop_model="la2_chunk", description="test", availability=avail,
                          prepare=prep))
    yield state
    for name in specs:
        base._REGISTRY.pop(name, None)
    base.clear_availability_cache()


def _spec(providers, seq=(32, 48), modes=("fwd", "fwd_bwd")):
    return SweepSpec(seq_len=list(seq), batch=[1], heads=[2], head_dim=[16], dtype=["fp32"], decay=["alibi"],
                     modes=list(modes), providers=list(providers))


def _opts(tmp_path, **kw):
    return SweepOptions(out_dir=tmp_path / "run", timing=FAST, energy_window_s=0, plots=False, quiet=True, **kw)


def _rows(run_dir):
    with open(run_dir / "rows.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_failures_become_status_rows_and_the_sweep_goes_on(tmp_path, fake_providers):
    names = ["t_oom", "t_err", "t_unsup", "t_wrong", "t_missing", "t_ok"]
    res = run_sweep(_spec(names), _opts(tmp_path))
    rows = _rows(res.run_dir)
    assert len(rows) == len(names) * 2 * 2  # providers × seq_lens × modes, nothing lost
    by = {}
    for r in rows:
        by.setdefault(r["provider"], set()).add(r["status"])
    assert by == {"t_oom": {"oom"}, "t_err": {"error"}, "t_unsup": {"unsupported"}, "t_wrong": {"numerics_failed"},
                  "t_missing": {"skipped"}, "t_ok": {"ok"}}
    for r in rows:
        if r["status"] != "ok":
            assert r["reason"], r
            assert r["median_ms"] == "" and r["tokens_per_s"] == ""  # failures are never numbers
    err = next(r for r in rows if r["provider"] == "t_err")
    assert "kernel exploded" in err["reason"] and "_Boom" in err["reason"]
    assert "libfoo" in next(r for r in rows if r["provider"] == "t_missing")["reason"]
    wrong = next(r for r in rows if r["provider"] == "t_wrong")
    assert float(wrong["rel_l2"]) > 1e-2


def test_csv_schema_and_ok_row_values(tmp_path, fake_providers):
    res = run_sweep(_spec(["t_ok"], seq=(40,)), _opts(tmp_path))
    with open(res.run_dir / "rows.csv", newline="") as f:
        header = next(csv.reader(f))
    for col in results.REQUIRED_COLUMNS:
        assert col in header
    rows = _rows(res.run_dir)
    assert [r["mode"] for r in rows] == ["fwd", "fwd_bwd"]
    for r in rows:
        assert r["status"] == "ok" and r["check"] == "passed"
        med, p20, p80 = float(r["median_ms"]), float(r["p20_ms"]), float(r["p80_ms"])
        assert 0 < p20 <= med <= p80
        assert int(r["n_samples"]) >= FAST.min_samples
        assert float(r["first_call_ms"]) > 0
        n_tokens = int(r["batch"]) * int(r["seq_len"])
        assert math.isclose(float(r["tokens_per_s"]), n_tokens / (med * 1e-3), rel_tol=1e-9)
        fl = flops.flops("la2_chunk", r["mode"], 1, 2, 40, 16, 16)
        assert math.isclose(float(r["flops"]), fl) and math.isclose(float(r["tflops"]), fl / (med * 1e-3) / 1e12)
        # NVML/CUDA-only values are missing on the CPU, never 0
        for col in ("peak_mem_mib", "energy_j", "avg_power_w", "sm_clock_mhz", "temp_c"):
            assert r[col] == "", (col, r[col])
    samples = [json.loads(line) for line in (res.run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 and all(len(s["samples_ms"]) == int(r["n_samples"]) for s, r in zip(samples, rows))
    env = json.loads((res.run_dir / "env.json").read_text())
    for key in ("packages", "git", "device", "timestamp_utc", "providers"):
        assert key in env


def test_resume_skips_rows_already_done(tmp_path, fake_providers):
    run_sweep(_spec(["t_ok"], seq=(32,)), _opts(tmp_path))
    first = _rows(tmp_path / "run")
    calls_before = fake_providers["calls"]
    res = run_sweep(_spec(["t_ok"], seq=(32, 48)), _opts(tmp_path, resume=True))
    rows = _rows(tmp_path / "run")
    assert res.rows_skipped_resume == 2 and res.rows_written == 2
    assert rows[:2] == first  # nothing rewritten
    assert sorted((r["seq_len"], r["mode"]) for r in rows) == [("32", "fwd"), ("32", "fwd_bwd"), ("48", "fwd"),
                                                               ("48", "fwd_bwd")]
    assert fake_providers["calls"] > calls_before


def test_existing_run_dir_needs_resume(tmp_path, fake_providers):
    run_sweep(_spec(["t_ok"], seq=(32,), modes=("fwd",)), _opts(tmp_path))
    with pytest.raises(ValueError, match="--resume"):
        run_sweep(_spec(["t_ok"], seq=(32,), modes=("fwd",)), _opts(tmp_path))


def test_interrupt_leaves_a_valid_csv_and_resume_finishes(tmp_path, fake_providers):
    fake_providers["interrupt_at_seq"] = 48
    res = run_sweep(_spec(["t_ok"], seq=(32, 48, 64)), _opts(tmp_path))
    assert res.interrupted
    df = pd.read_csv(tmp_path / "run" / "rows.csv")  # parses: every line complete
    assert set(df["seq_len"]) == {32} and (df["status"] == "ok").all()
    fake_providers["interrupt_at_seq"] = None
    res = run_sweep(_spec(["t_ok"], seq=(32, 48, 64)), _opts(tmp_path, resume=True))
    assert not res.interrupted
    df = pd.read_csv(tmp_path / "run" / "rows.csv")
    assert sorted(df["seq_len"].tolist()) == [32, 32, 48, 48, 64, 64]


def test_classify_maps_exceptions():
    from lightning_bench.baselines.base import Unsupported

    assert classify(torch.OutOfMemoryError("CUDA out of memory")) == "oom"
    assert classify(RuntimeError("No available kernel. Aborting execution.")) == "unsupported"
    assert classify(Unsupported("x")) == "unsupported"
    assert classify(RuntimeError("boom")) == "error"


def test_writer_rejects_unknown_status_and_columns(tmp_path):
    w = results.ResultWriter(tmp_path)
    with pytest.raises(ValueError, match="status"):
        w.write({"provider": "x", "status": "great"})
    with pytest.raises(ValueError, match="schema"):
        w.write({"provider": "x", "status": "ok", "speed": 1})
    w.close()


# ---------------------------------------------------------------- plots and CLI
def test_plots_from_a_run(tmp_path, fake_providers):
    from lightning_bench.plots import make_plots

    res = run_sweep(_spec(["t_ok", "naive_linear"], seq=(32, 64)), _opts(tmp_path))
    paths = make_plots(res.run_dir)
    names = {p.name.split("_b1")[0] for p in paths}
    assert names == {"time", "tokens_per_s"}  # no peak-memory figure on the CPU (no allocator statistics)
    for p in paths:
        assert p.stat().st_size > 5000


def test_cli_providers_lists_everything():
    r = CliRunner().invoke(main, ["providers"])
    assert r.exit_code == 0, r.output
    for name in EXPECTED:
        assert name in r.output


def test_cli_sweep_end_to_end_on_cpu(tmp_path):
    out = tmp_path / "cli_run"
    r = CliRunner().invoke(main, ["sweep", "--seq-len", "32,64", "--heads", "2", "--head-dim", "16",
                                  "--providers", "la2,naive_linear,recurrent_linear,flash_attn2",
                                  "--min-samples", "2", "--max-samples", "2", "--max-time", "0.01", "--warmup", "0",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "rows.csv")
    assert len(df) == 4 * 2 * 2
    linear = df[df["provider"] != "flash_attn2"]
    if not torch.cuda.is_available():
        assert "CPU" in r.output
        assert (linear["status"] == "ok").all(), linear[["provider", "status", "reason"]]
        assert (linear["check"] == "passed").all()
        assert (df[df["provider"] == "flash_attn2"]["status"] == "skipped").all()
        la2 = df[df["provider"] == "la2"]
        assert la2["impl"].str.contains("interpreter").all()
    assert (out / "env.json").exists()
    assert list(out.glob("time_*.png"))


@pytest.mark.parametrize("args,needle", [
    (["--dtype", "fp8"], "dtype"),
    (["--seq-len", "12x"], "seq-len"),
    (["--providers", "nope"], "nope"),
    (["--mode", "forward"], "mode"),
])
def test_cli_bad_input_gives_a_clear_error(tmp_path, args, needle):
    r = CliRunner().invoke(main, ["sweep", "--out", str(tmp_path / "x"), *args])
    assert r.exit_code == 2
    assert needle in r.output
    assert "Traceback" not in r.output


def test_cli_help_explains_options():
    r = CliRunner().invoke(main, ["sweep", "--help"])
    assert r.exit_code == 0
    for opt in ("--seq-len", "--batch", "--heads", "--head-dim", "--value-dim", "--dtype", "--mode", "--decay",
                "--providers", "--out", "--resume", "--preset", "paper"):
        assert opt in r.output


def test_cli_resume_continues_with_the_runs_own_configuration(tmp_path):
    """--resume without options must reuse the spec saved in env.json (seq_len 96 here is not in the CPU preset)."""
    out = tmp_path / "run"
    base = ["--heads", "2", "--head-dim", "16", "--providers", "naive_linear", "--min-samples", "2",
            "--max-samples", "2", "--max-time", "0.01", "--warmup", "0", "--no-plots", "--quiet"]
    r = CliRunner().invoke(main, ["sweep", "--seq-len", "32", *base, "--out", str(out)])
    assert r.exit_code == 0, r.output
    env = json.loads((out / "env.json").read_text())
    env["spec"]["seq_len"] = [32, 96]  # as if the run had been started with both and interrupted after 32
    (out / "env.json").write_text(json.dumps(env))
    r = CliRunner().invoke(main, ["sweep", "--resume", str(out), "--min-samples", "2", "--max-samples", "2",
                                  "--max-time", "0.01", "--warmup", "0", "--no-plots", "--quiet"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "rows.csv")
    assert sorted(df["seq_len"].unique().tolist()) == [32, 96]
    assert set(df["provider"]) == {"naive_linear"} and set(df["head_dim"]) == {16}


def test_cli_resume_without_env_json_is_a_clear_error(tmp_path):
    (tmp_path / "rows.csv").write_text(",".join(results.COLUMNS) + "\n")
    r = CliRunner().invoke(main, ["sweep", "--resume", str(tmp_path)])
    assert r.exit_code == 2 and "env.json" in r.output


def test_la2_bf16_on_the_cpu_is_unsupported_with_the_reason():
    from lightning_bench.baselines.base import Case, Unsupported
    from lightning_bench.sweep import make_inputs

    if torch.cuda.is_available():
        pytest.skip("CPU-only behaviour")
    case = Case(batch=1, heads=2, seq_len=16, head_dim=16, value_dim=16, dtype="bf16", decay="none")
    with pytest.raises(Unsupported, match="interpreter"):
        baselines.get_provider("la2").prepare(case, make_inputs(case, torch.device("cpu"), 0))


def test_reference_has_no_kernel_head_dim_limit():
    from lightning_bench.kernels import lightning_attn_reference

    q = torch.randn(1, 1, 5, 8, dtype=torch.float64)
    o = lightning_attn_reference(q, q, torch.randn(1, 1, 5, 300, dtype=torch.float64))
    assert o.shape == (1, 1, 5, 300)


def test_cli_sweep_records_host_decoupled_timing(tmp_path):
    out = tmp_path / "hd"
    r = CliRunner().invoke(main, ["sweep", "--seq-len", "32", "--heads", "2", "--head-dim", "16", "--providers",
                                  "naive_linear", "--min-samples", "2", "--max-samples", "2", "--max-time", "0.01",
                                  "--warmup", "0", "--host-decoupled", "--no-plots", "--out", str(out)])
    assert r.exit_code == 0, r.output
    env = json.loads((out / "env.json").read_text())
    if torch.cuda.is_available():
        assert env["timing"]["host_decoupled"] is True
    else:  # CPU timing has no stream to hold: said and recorded as off
        assert env["timing"]["host_decoupled"] is False and "--host-decoupled applies to CUDA timing only" in r.output


def test_timing_mode_defaults_per_preset_and_host_time_is_recorded(tmp_path):
    """perf and gate time GPU work by default (shared docs §7 rule 5), the others end to end; every row records the
    host's enqueue time per call (host_ms)."""
    import csv as _csv
    import time as _time

    from lightning_bench.cases import PRESETS
    from lightning_bench.timing import TimingConfig, measure
    assert PRESETS["perf"].host_decoupled is True and PRESETS["gate"].host_decoupled is True
    assert not any(PRESETS[p].host_decoupled for p in ("default", "quick", "paper", "cpu"))
    m = measure(lambda: _time.sleep(0.002), device=torch.device("cpu"),
                config=TimingConfig(warmup_s=0.0, min_samples=2, max_samples=2, max_time_s=0.01))
    assert 1.8 <= m.extra["host_ms"] < 50
    out = tmp_path / "e2e"
    r = CliRunner().invoke(main, ["sweep", "--seq-len", "32", "--heads", "2", "--head-dim", "16", "--providers",
                                  "naive_linear", "--min-samples", "2", "--max-samples", "2", "--max-time", "0.01",
                                  "--warmup", "0", "--end-to-end", "--no-plots", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "env.json").read_text())["timing"]["host_decoupled"] is False
    with (out / "rows.csv").open() as f:
        rows = [row for row in _csv.DictReader(f) if row["status"] == "ok"]
    assert rows and all(float(row["host_ms"]) > 0 for row in rows)


def test_cli_summary_and_plot_name_a_missing_or_bad_rows_csv(tmp_path):
    for cmd in ("summary", "plot"):
        r = CliRunner().invoke(main, [cmd, str(tmp_path)])
        assert r.exit_code == 2 and "has no rows.csv" in r.output and "Traceback" not in r.output
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    for cmd in ("summary", "plot"):
        r = CliRunner().invoke(main, [cmd, str(tmp_path)])
        assert r.exit_code == 2 and "missing columns" in r.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_host_decoupled_timing_excludes_host_latency():
    """A call that spends 2 ms on the host before a tiny kernel: end-to-end it takes ≥ 2 ms, host-decoupled the
    events see the kernel alone."""
    import time as _time

    from lightning_bench.timing import TimingConfig, measure
    dev = torch.device("cuda")
    x = torch.zeros(1024, device=dev)

    def fn():
        _time.sleep(0.002)
        x.add_(1)

    cfg = dict(warmup_s=0.0, min_samples=10, max_samples=10, max_time_s=0.05, flush_l2=False)
    e2e = measure(fn, device=dev, config=TimingConfig(**cfg))
    dec = measure(fn, device=dev, config=TimingConfig(host_decoupled=True, **cfg))
    assert e2e.median_ms >= 1.9 and dec.median_ms < 0.5, (e2e.median_ms, dec.median_ms)
    assert "host-decoupled" in dec.timer


def test_git_commit_prefers_the_operators_commit(monkeypatch):
    from lightning_bench import envinfo
    monkeypatch.setenv("LIGHTNING_BENCH_GIT_COMMIT", "0123abc")
    info = envinfo.git_commit()
    assert info["commit"] == "0123abc" and info["source"] == "LIGHTNING_BENCH_GIT_COMMIT"
    monkeypatch.delenv("LIGHTNING_BENCH_GIT_COMMIT")
    info = envinfo.git_commit()
    assert info["source"] in ("git", None) and info["commit"] != "0123abc"


def test_sweep_preset_choices_are_the_presets():
    """The CLI lists the presets by hand (importing them would load torch for every command): keep both in step."""
    from lightning_bench.cli import sweep

    opt = next(o for o in sweep.params if o.name == "preset")
    assert sorted(opt.type.choices) == sorted(PRESETS)


def test_env_json_records_the_lightning_bench_switches(monkeypatch):
    """env.json keeps the LIGHTNING_BENCH_* variables in effect (they change what runs: the Gluon kernels, the host
    path, a planted slowdown), and nothing else of the environment."""
    from lightning_bench import envinfo

    monkeypatch.setenv("LIGHTNING_BENCH_FAST_HOST", "0")
    monkeypatch.setenv("LIGHTNING_BENCH_GLUON", "1")
    monkeypatch.setenv("SOME_SECRET_TOKEN", "x")
    got = envinfo.collect(torch.device("cpu"), argv=[])["lightning_bench_env"]
    assert got["LIGHTNING_BENCH_FAST_HOST"] == "0" and got["LIGHTNING_BENCH_GLUON"] == "1"
    assert all(k.startswith("LIGHTNING_BENCH_") for k in got)
