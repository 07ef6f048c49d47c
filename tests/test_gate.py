"""`lightning-bench gate` (issue #6): decisions on synthetic samples with known answers, multiple-comparison
correction, drift normalisation, A/A and power estimators, exit codes, outputs, baselines and --rerun (CPU)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lightning_bench import gate as g
from lightning_bench.cli import main
from lightning_bench.results import ResultWriter

FIXTURES = Path(__file__).parent / "fixtures" / "compare"
SHAPE = dict(batch=2, heads=4, head_dim=16, value_dim=16, dtype="fp32", decay="alibi")
FAST_TIMING = {"warmup_s": 0.0, "min_warmup_calls": 1, "min_samples": 6, "max_samples": 6, "max_time_s": 0.01,
               "flush_l2": False}


# ---------------------------------------------------------------- synthetic result sets
def _row(provider, mode, seq_len, samples=None, status="ok", peak=64.0, shape=None, **kw):
    shape = shape or SHAPE
    row = dict(provider=provider, impl="test", mode=mode, seq_len=seq_len, status=status, reason=kw.pop("reason", ""),
               **shape)
    if status == "ok":
        s = np.asarray(samples, float)
        med = float(np.median(s))
        row.update(n_samples=len(s), median_ms=med, p20_ms=float(np.quantile(s, 0.2)),
                   p80_ms=float(np.quantile(s, 0.8)), tokens_per_s=shape["batch"] * seq_len / (med * 1e-3),
                   peak_mem_mib=peak)
    row.update(kw)
    return row


def make_set(path: Path, rows, gpu="NVIDIA H200", copy_ms=None, timing=None) -> Path:
    """A result set written through the real ResultWriter, with env.json (GPU name) and optionally a ceilings.json
    whose reference workload (copy) took ``copy_ms`` at the start and the end of the run."""
    w = ResultWriter(path)
    for row, samples in rows:
        w.write(row, None if samples is None else [float(x) for x in samples])
    w.close()
    env = {"timestamp_utc": "2026-11-30T00:00:00+00:00", "git": {"commit": "abc123", "dirty": False},
           "gpu": None if gpu is None else {"name": gpu}}
    if timing is not None:
        env["timing"] = timing
    (path / "env.json").write_text(json.dumps(env))
    if copy_ms is not None:
        point = {"copy_median_ms": copy_ms, "matmul_median_ms": 1.4, "timestamp_utc": "x"}
        (path / "ceilings.json").write_text(json.dumps({"copy_median_ms": copy_ms, "matmul_median_ms": 1.4,
                                                        "reference_start": point, "reference_end": point}))
    return path


def _times(rng, n=60, base=1.0, sd=0.01):
    return base * (1 + sd * rng.standard_normal(n))


CELLS = [("p1", "fwd", 256), ("p1", "fwd_bwd", 256), ("p1", "fwd", 1024), ("p1", "fwd_bwd", 1024)]


def _pair(tmp_path, slow=None, factor=1.0, seed=0, n=60, sd=0.01, base_copy=None, cand_copy=None, peak_b=64.0,
          cells=CELLS):
    """Baseline and candidate with the same cells; the ``slow`` cell (index) of the candidate times ``factor``."""
    rng = np.random.default_rng(seed)
    ra, rb = [], []
    for i, (p, m, n_) in enumerate(cells):
        base = 1.0 + i
        a = _times(rng, n, base, sd)
        b = _times(rng, n, base, sd) * (factor if slow in (i, "all") else 1.0)
        ra.append((_row(p, m, n_, a), a))
        rb.append((_row(p, m, n_, b, peak=peak_b if i == 0 else 64.0), b))
    A = make_set(tmp_path / "base", ra, copy_ms=base_copy)
    B = make_set(tmp_path / "cand", rb, copy_ms=cand_copy)
    return A, B


def _gate(*args):
    return CliRunner().invoke(main, ["gate", *map(str, args)])


# ---------------------------------------------------------------- decisions with known answers
def test_ten_percent_slower_with_tight_noise_is_a_regression_exit_1(tmp_path):
    A, B = _pair(tmp_path, slow=1, factor=1.10)
    r = _gate("--baseline", A, "--candidate", B, "--json", tmp_path / "g.json")
    assert r.exit_code == 1, r.output
    assert "REGRESSION" in r.output
    doc = json.loads((tmp_path / "g.json").read_text())
    verdicts = {(c["mode"], c["seq_len"]): c["verdict"] for c in doc["cells"]}
    assert verdicts == {("fwd", 256): "pass", ("fwd_bwd", 256): "regression", ("fwd", 1024): "pass",
                        ("fwd_bwd", 1024): "pass"}
    reg = [c for c in doc["cells"] if c["verdict"] == "regression"][0]
    assert reg["ratio"] == pytest.approx(1.10, rel=0.01)
    assert 1 < reg["ci_low"] < 1.10 < reg["ci_high"]
    assert reg["p_adjusted"] < 1e-6 and reg["n_baseline"] == reg["n_candidate"] == 60
    assert doc["decision"] == "regression" and doc["exit_code"] == 1


@pytest.mark.parametrize("seed", range(3))
def test_same_distribution_passes_exit_0(tmp_path, seed):
    A, B = _pair(tmp_path, seed=seed, sd=0.05)
    r = _gate("--baseline", A, "--candidate", B)
    assert r.exit_code == 0, r.output
    assert "PASS" in r.output


def test_three_percent_shift_is_real_but_below_the_minimum_effect(tmp_path):
    A, B = _pair(tmp_path, slow="all", factor=1.03, sd=0.002)
    res = g.run_gate(A, B)
    assert res.exit_code == 0
    assert all(c["significant"] and c["ci_low"] > 1 for c in res.cells)  # statistically real ...
    assert all(c["verdict"] == "pass" and "within" in c["reason"] for c in res.cells)  # ... but under 5 %
    assert _gate("--baseline", A, "--candidate", B).exit_code == 0
    assert _gate("--baseline", A, "--candidate", B, "--min-effect", "0.02").exit_code == 1
    assert _gate("--baseline", A, "--candidate", B, "--min-effect", "time=2%").exit_code == 1


def test_wide_noise_does_not_fail_on_a_ten_percent_median_shift(tmp_path):
    A, B = _pair(tmp_path, slow=0, factor=1.10, sd=0.4, n=8, seed=4)
    res = g.run_gate(A, B)
    c = res.cells[0]
    assert c["verdict"] == "pass" and not c["significant"]
    assert res.exit_code == 0


def test_too_few_samples_for_the_family_is_noted(tmp_path):
    # 5 vs 5 samples: the smallest possible Mann–Whitney p (0.0079) is above 0.01 / 4 cells, so even a 50 % slowdown
    # with no overlap cannot be flagged; the gate says so instead of passing silently
    A, B = _pair(tmp_path, slow=0, factor=1.5, n=5)
    res = g.run_gate(A, B)
    assert res.cells[0]["ratio"] == pytest.approx(1.5, rel=0.05) and res.cells[0]["verdict"] == "pass"
    assert any("cannot be flagged" in n and "5/5" in n for n in res.notes)
    assert g.min_attainable_p(5, 5) == pytest.approx(2 / math.comb(10, 5))
    assert not any("cannot be flagged" in n for n in g.run_gate(*_pair(tmp_path / "big")).notes)


def test_improvement_does_not_fail(tmp_path):
    A, B = _pair(tmp_path, slow=2, factor=0.8)
    res = g.run_gate(A, B)
    assert [c["verdict"] for c in res.cells] == ["pass", "pass", "improvement", "pass"]
    assert res.exit_code == 0 and res.decision == "pass"


def test_memory_metric(tmp_path):
    A, B = _pair(tmp_path, peak_b=64.0 * 1.2)  # the first cell uses 20 % more memory, times unchanged
    assert _gate("--baseline", A, "--candidate", B).exit_code == 0  # time only by default
    r = _gate("--baseline", A, "--candidate", B, "--metrics", "time,peak_mem", "--json", tmp_path / "m.json")
    assert r.exit_code == 1, r.output
    mem = [c for c in json.loads((tmp_path / "m.json").read_text())["cells"] if c["metric"] == "peak_mem"]
    assert [c["verdict"] for c in mem] == ["regression", "pass", "pass", "pass"]
    assert mem[0]["ratio"] == pytest.approx(1.2)
    # a threshold above the change passes; tiny absolute changes never fail
    assert _gate("--baseline", A, "--candidate", B, "--metrics", "peak_mem", "--min-effect",
                 "peak_mem=0.25").exit_code == 0
    out = g.decide_memory([{"key": (), "a": 4.0, "b": 4.8}, {"key": (), "a": "", "b": 5.0}], 0.10)
    assert out[0]["verdict"] == "pass" and out[1]["verdict"] == "inconclusive"


def test_tokens_per_s_metric_is_the_inverted_time_test(tmp_path):
    A, B = _pair(tmp_path, slow=3, factor=1.10)
    res = g.run_gate(A, B, g.GateSettings(metrics="tokens_per_s"))
    c = res.cells[3]
    assert c["verdict"] == "regression" and c["ratio"] == pytest.approx(1 / 1.10, rel=0.01)
    assert c["ci_high"] < 1 and c["candidate"] < c["baseline"]
    assert res.exit_code == 1


# ---------------------------------------------------------------- drift normalisation
def test_normalisation_turns_a_slower_machine_into_a_pass(tmp_path):
    # every cell 10 % slower, and so is the reference workload (copy 0.55 vs 0.50 ms): a slower machine, not code
    A, B = _pair(tmp_path, slow="all", factor=1.10, base_copy=0.50, cand_copy=0.55)
    raw = g.run_gate(A, B)
    assert raw.exit_code == 1 and all(c["verdict"] == "regression" for c in raw.cells)
    assert any("--normalize" in n for n in raw.notes)  # the reference differs: the gate says so
    res = g.run_gate(A, B, g.GateSettings(normalize=True))
    assert res.exit_code == 0
    assert res.normalization["applied"] and res.normalization["factor"] == pytest.approx(1.10)
    for c in res.cells:
        assert c["verdict"] == "pass"
        assert c["ratio"] == pytest.approx(1.0, abs=0.01) and c["ratio_raw"] == pytest.approx(1.10, rel=0.01)
    r = _gate("--baseline", A, "--candidate", B, "--normalize")
    assert r.exit_code == 0, r.output
    # matmul reference is the same on both sides: no correction, the regression stands
    assert g.run_gate(A, B, g.GateSettings(normalize=True, reference="matmul")).exit_code == 1


def test_normalisation_without_a_reference_is_skipped_with_a_note(tmp_path):
    A, B = _pair(tmp_path, slow="all", factor=1.10, base_copy=0.50, cand_copy=None)
    res = g.run_gate(A, B, g.GateSettings(normalize=True))
    assert not res.normalization["applied"] and res.normalization["factor"] == 1.0
    assert any("not normalised" in n and "candidate" in n for n in res.notes)
    assert res.exit_code == 1


def test_reference_times_from_start_end_and_legacy_files():
    ref = g.reference_times({"reference_start": {"copy_median_ms": 0.5, "matmul_median_ms": 1.0},
                             "reference_end": {"copy_median_ms": 0.52, "matmul_median_ms": 1.1}})
    assert ref["copy"] == pytest.approx(math.sqrt(0.5 * 0.52)) and ref["points"] == ["start", "end"]
    assert ref["drift"]["copy"] == pytest.approx(1.04)
    legacy = g.reference_times(json.loads((Path(__file__).parents[1] / "results/h200/paper/ceilings.json")
                                          .read_text()))
    assert legacy["points"] == ["legacy"] and legacy["copy"] == pytest.approx(0.5053, rel=1e-3)
    assert g.reference_times(None) is None and g.reference_times({"gpu": "x"}) is None


def test_record_reference_adds_start_and_end_points(tmp_path, monkeypatch):
    from lightning_bench import ceilings

    t = iter([0.50, 0.55])
    monkeypatch.setattr(ceilings, "measure_ceilings", lambda device=None: {
        "copy_median_ms": next(t), "matmul_median_ms": 1.4, "timestamp_utc": "now", "gpu": "fake"})
    path = tmp_path / "ceilings.json"
    ceilings.record_reference(path, "start")
    ceilings.record_reference(path, "end")
    data = json.loads(path.read_text())
    assert data["reference_start"]["copy_median_ms"] == 0.50 and data["reference_end"]["copy_median_ms"] == 0.55
    assert g.reference_times(data)["drift"]["copy"] == pytest.approx(1.10)
    with pytest.raises(ValueError, match="start"):
        ceilings.record_reference(path, "middle")


# ---------------------------------------------------------------- multiple comparisons
def test_holm_and_bonferroni_known_values():
    p = [0.002, 0.0045, 0.04, float("nan")]
    holm = g.adjust_pvalues(p, "holm")
    bonf = g.adjust_pvalues(p, "bonferroni")
    assert np.allclose(holm[:3], [0.006, 0.009, 0.04]) and math.isnan(holm[3])
    assert np.allclose(bonf[:3], [0.006, 0.0135, 0.12])
    assert (holm[:3] <= 0.01).sum() == 2 and (bonf[:3] <= 0.01).sum() == 1  # Holm is uniformly more powerful
    assert np.allclose(g.adjust_pvalues(p, "none")[:3], p[:3])
    # step-down monotonicity: the adjusted values never decrease along the sorted p-values
    q = g.adjust_pvalues([0.01, 0.001, 0.03, 0.02, 0.5], "holm")
    assert np.allclose(q, [0.04, 0.005, 0.06, 0.06, 0.5])


def test_correction_controls_the_family_wise_false_alarm_rate():
    rng = np.random.default_rng(3)
    samples = {("p", "fwd", str(i)): rng.lognormal(0, 0.05, 40) for i in range(10)}
    kw = dict(min_effect=0.0, confidence=0.95, n_boot=200)  # no effect floor: the test alone guards
    holm = g.estimate_false_alarm_rate(samples, reps=200, settings=g.GateSettings(correction="holm", **kw), seed=1)
    none = g.estimate_false_alarm_rate(samples, reps=200, settings=g.GateSettings(correction="none", **kw), seed=1)
    assert holm["gate_false_alarm_rate"] <= 0.05 + 0.03  # nominal family-wise level, with sampling slack
    assert none["gate_false_alarm_rate"] > 2 * max(holm["gate_false_alarm_rate"], 0.02)  # uncorrected: many more


def test_bonferroni_is_more_conservative_than_holm_in_the_gate(tmp_path):
    # four cells all 8 % slower with moderate noise and few samples: Holm's step-down rejects at least as many
    A, B = _pair(tmp_path, slow="all", factor=1.08, sd=0.03, n=8, seed=2)
    holm = g.run_gate(A, B, g.GateSettings(confidence=0.95))
    bonf = g.run_gate(A, B, g.GateSettings(confidence=0.95, correction="bonferroni"))
    nh = sum(c["significant"] for c in holm.cells)
    nb = sum(c["significant"] for c in bonf.cells)
    assert nh >= nb
    for ch, cb in zip(holm.cells, bonf.cells):
        assert ch["p_adjusted"] <= cb["p_adjusted"] + 1e-15


# ---------------------------------------------------------------- calibration estimators
def test_false_alarm_estimator_is_at_most_the_nominal_level():
    rng = np.random.default_rng(0)
    samples = {("p", "fwd", str(i)): rng.gamma(20, 0.05, 60) for i in range(8)}
    for method in ("resample", "split"):
        out = g.estimate_false_alarm_rate(samples, reps=150, method=method, settings=g.GateSettings(n_boot=200))
        assert out["gate_false_alarm_rate"] <= 0.01
        assert out["cells"] == 8 and out["reps"] == 150 and 0 < out["gate_false_alarm_upper95"] <= 0.05


def test_power_estimator_catches_ten_percent_with_tight_noise():
    rng = np.random.default_rng(1)
    samples = {("p", "fwd", str(i)): _times(rng, 50, 1 + i, 0.01) for i in range(5)}
    st = g.GateSettings(n_boot=300)
    each = g.estimate_power(samples, factor=1.10, reps=40, settings=st)
    assert each["power_min"] >= 0.95 and each["cells_power_ge_95"] == 1.0 and not each["weakest"]
    allc = g.estimate_power(samples, factor=1.10, reps=20, plant="all", settings=st)
    assert allc["gate_power"] == 1.0
    small = g.estimate_power(samples, factor=1.03, reps=20, settings=st)
    assert small["power_max"] == 0.0  # a 3 % change is below the 5 % minimum effect
    noisy = {k: _times(rng, 10, 1.0, 0.3) for k in samples}
    assert g.estimate_power(noisy, factor=1.10, reps=20, settings=st)["power_median"] < 0.5


def test_calibration_cli_on_real_h200_samples(tmp_path):
    r = CliRunner().invoke(main, ["gate-calibrate", str(FIXTURES / "la2_after"), "--provider", "la2", "--reps", "20",
                                  "--power-reps", "10", "--n-boot", "200", "--json", str(tmp_path / "c.json")])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["false_alarm"]["cells"] == 9 and doc["false_alarm"]["gate_false_alarm_rate"] == 0.0
    assert 0 <= doc["power"]["power_min"] <= doc["power"]["power_median"] <= 1
    assert "A/A false alarm" in r.output


# ---------------------------------------------------------------- real data
def test_real_before_after_pair_in_both_directions():
    fwd = dict(la2_before=FIXTURES / "la2_before", la2_after=FIXTURES / "la2_after")
    res = g.run_gate(fwd["la2_before"], fwd["la2_after"])  # the fix made la2 faster: improvements only
    assert res.exit_code == 0
    v = {(c["provider"], c["mode"], c["seq_len"]): c["verdict"] for c in res.cells}
    assert v[("la2", "fwd", 512)] == "improvement" and v[("flash_attn2", "fwd", 512)] == "pass"
    # bwd at 32768 moved +3 % between the two runs: significant, but below the minimum effect
    c = [c for c in res.cells if (c["mode"], c["seq_len"]) == ("bwd", 32768)][0]
    assert c["significant"] and 1.0 < c["ratio"] < 1.05 and c["verdict"] == "pass"
    back = g.run_gate(fwd["la2_after"], fwd["la2_before"])  # undoing the fix is caught
    assert back.exit_code == 1
    assert {(c["mode"], c["seq_len"]) for c in back.regressions} >= {("fwd", 512), ("fwd_bwd", 2048)}


# ---------------------------------------------------------------- exit code 2
def test_invalid_inputs_exit_2_naming_the_problem(tmp_path):
    A, B = _pair(tmp_path)
    r = _gate("--baseline", tmp_path / "nope", "--candidate", B)
    assert r.exit_code == 2 and "--baseline" in r.output and "does not exist" in r.output
    (tmp_path / "empty").mkdir()
    r = _gate("--baseline", A, "--candidate", tmp_path / "empty")
    assert r.exit_code == 2 and "--candidate" in r.output and "rows.csv" in r.output
    r = _gate("--baseline", A)
    assert r.exit_code == 2 and "--candidate" in r.output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "rows.csv").write_text("provider,mode,seq_len\nx,fwd,1\n")
    r = _gate("--baseline", A, "--candidate", bad, "--json", tmp_path / "e.json")
    assert r.exit_code == 2 and "missing columns" in r.output and "bad" in r.output
    assert json.loads((tmp_path / "e.json").read_text())["exit_code"] == 2
    (tmp_path / "nosamples").mkdir()
    (tmp_path / "nosamples" / "rows.csv").write_text((A / "rows.csv").read_text())
    r = _gate("--baseline", tmp_path / "nosamples", "--candidate", B)
    assert r.exit_code == 2 and "samples.jsonl" in r.output
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "rows.csv").write_text((A / "rows.csv").read_text())
    (tmp_path / "garbled" / "samples.jsonl").write_text('{"times": [1, 2]}\n')
    r = _gate("--baseline", tmp_path / "garbled", "--candidate", B)
    assert r.exit_code == 2 and "schema mismatch" in r.output
    r = _gate("--baseline", A / "env.json", "--candidate", B)
    assert r.exit_code == 2 and "is a file" in r.output
    r = _gate("--baseline", A, "--candidate", B, "--min-effect", "time=lots")
    assert r.exit_code == 2 and "min-effect" in r.output
    r = _gate("--baseline", A, "--candidate", B, "--metrics", "speed")
    assert r.exit_code == 2 and "speed" in r.output
    assert "Traceback" not in r.output


def test_no_overlapping_cells_exit_2(tmp_path):
    rng = np.random.default_rng(0)
    a, b = _times(rng), _times(rng)
    A = make_set(tmp_path / "a", [(_row("p1", "fwd", 256, a), a)])
    B = make_set(tmp_path / "b", [(_row("p2", "fwd", 256, b), b)])
    r = _gate("--baseline", A, "--candidate", B)
    assert r.exit_code == 2 and "no overlapping cells" in r.output
    C = make_set(tmp_path / "c", [(_row("p1", "fwd", 256, status="oom", reason="OOM"), None)])
    D = make_set(tmp_path / "d", [(_row("p1", "fwd", 256, status="oom", reason="OOM"), None)])
    r = _gate("--baseline", C, "--candidate", D)
    assert r.exit_code == 2 and "none is ok in both" in r.output
    r = _gate("--baseline", A, "--candidate", A, "--provider", "zzz")
    assert r.exit_code == 2 and "zzz" in r.output


def test_status_changes(tmp_path):
    rng = np.random.default_rng(0)
    a, b, c = _times(rng), _times(rng), _times(rng)
    A = make_set(tmp_path / "a", [(_row("p1", "fwd", 256, a), a), (_row("p1", "fwd", 512, b), b),
                                  (_row("p2", "fwd", 256, c), c)])
    B = make_set(tmp_path / "b", [(_row("p1", "fwd", 256, a), a),
                                  (_row("p1", "fwd", 512, status="oom", reason="CUDA out of memory"), None),
                                  (_row("p2", "fwd", 256, status="skipped", reason="not installed"), None)])
    res = g.run_gate(A, B)
    assert res.exit_code == 1
    v = {(s["provider"], s["seq_len"]): s["verdict"] for s in res.status_changes}
    assert v == {("p1", 512): "status regression", ("p2", 256): "not measured"}
    with pytest.raises(g.GateInputError, match="none is ok in both"):  # nothing measured: not a silent pass
        g.run_gate(A, B, g.GateSettings(providers=("p2",)))


# ---------------------------------------------------------------- outputs
def test_github_step_summary_and_markdown(tmp_path, monkeypatch):
    A, B = _pair(tmp_path, slow=0, factor=1.2)
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    r = _gate("--baseline", A, "--candidate", B, "--markdown", tmp_path / "gate.md")
    assert r.exit_code == 1
    text = summary.read_text()
    assert text.startswith("# earlier step\n")  # appended, not overwritten
    assert "## Performance gate: REGRESSION" in text and "**regression**" in text and "| provider |" in text
    assert (tmp_path / "gate.md").read_text() in text
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    r = _gate("--baseline", A, "--candidate", A)
    assert r.exit_code == 0 and summary.read_text() == text


def test_json_schema(tmp_path):
    A, B = _pair(tmp_path, slow=1, factor=1.1, base_copy=0.5, cand_copy=0.5)
    r = _gate("--baseline", A, "--candidate", B, "--metrics", "time,peak_mem", "--normalize", "--json",
              tmp_path / "g.json")
    assert r.exit_code == 1
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["schema"] == "lightning-bench-gate/1"
    assert set(doc) >= {"decision", "exit_code", "baseline", "candidate", "settings", "normalization", "summary",
                        "cells", "status_changes", "only_baseline", "only_candidate", "notes", "rerun"}
    assert doc["settings"]["metrics"] == ["time", "peak_mem"] and doc["settings"]["alpha"] == pytest.approx(0.01)
    assert doc["settings"]["min_effect"] == {"time": 0.05, "tokens_per_s": 0.05, "peak_mem": 0.10}
    assert doc["baseline"]["gpu"] == "NVIDIA H200" and doc["baseline"]["slug"] == "nvidia-h200"
    assert doc["normalization"]["applied"] and doc["normalization"]["factor"] == 1.0
    assert doc["summary"]["cells"] == 8 and doc["summary"]["regressions"] == 1
    cell = doc["cells"][0]
    for k in ("provider", "mode", "batch", "heads", "seq_len", "head_dim", "value_dim", "dtype", "decay", "metric",
              "baseline", "candidate", "ratio", "ci_low", "ci_high", "p_value", "p_adjusted", "n_baseline",
              "n_candidate", "verdict", "reason"):
        assert k in cell
    assert isinstance(cell["batch"], int) and cell["metric"] == "time"
    mem = [c for c in doc["cells"] if c["metric"] == "peak_mem"][0]
    assert mem["ci_low"] is None and mem["p_value"] is None  # NaN → null


# ---------------------------------------------------------------- baselines
def test_baseline_layout_resolution(tmp_path):
    A, B = _pair(tmp_path, slow=1, factor=1.2)
    root = tmp_path / "baselines"
    (root / "nvidia-h200").mkdir(parents=True)
    for f in A.iterdir():
        (root / "nvidia-h200" / f.name).write_bytes(f.read_bytes())
    assert _gate("--baseline", root, "--candidate", B).exit_code == 1  # the root: the candidate's GPU picks it
    assert _gate("--baseline", root / "nvidia-h200.csv", "--candidate", B).exit_code == 1  # the spelling
    assert _gate("--baseline", root / "nvidia-h200" / "rows.csv", "--candidate", B).exit_code == 1
    env = json.loads((B / "env.json").read_text())
    env["gpu"] = {"name": "NVIDIA A100-SXM4-80GB"}
    (B / "env.json").write_text(json.dumps(env))
    r = _gate("--baseline", root, "--candidate", B)
    assert r.exit_code == 2 and "nvidia-a100-sxm4-80gb" in r.output and "update-baseline" in r.output
    assert g.gpu_slug("NVIDIA H200") == "nvidia-h200" and g.gpu_slug({"gpu": None}) == "cpu"


def test_update_baseline_refuses_overwrite_without_force(tmp_path):
    A, B = _pair(tmp_path, slow=0, factor=1.2)
    root = tmp_path / "baselines"
    root.mkdir()
    (root / "README.md").write_text("baselines\n")
    r = _gate("--update-baseline", "--candidate", A, "--baseline", root)
    assert r.exit_code == 0, r.output
    target = root / "nvidia-h200"
    assert "new baseline" in r.output
    assert {p.name for p in target.iterdir()} == {"rows.csv", "samples.jsonl", "env.json", "baseline.json"}
    info = json.loads((target / "baseline.json").read_text())
    assert info["source"] == str(A) and info["commit"] == "abc123" and info["previous"] is None
    before = (target / "rows.csv").read_text()
    r = _gate("--update-baseline", "--candidate", B, "--baseline", root)
    assert r.exit_code == 2 and "--force" in r.output and "already exists" in r.output
    assert (target / "rows.csv").read_text() == before  # untouched
    r = _gate("--update-baseline", "--candidate", B, "--baseline", root, "--force")
    assert r.exit_code == 0, r.output
    assert "replaced baseline" in r.output and "what changed" in r.output and "regression" in r.output
    assert (target / "rows.csv").read_text() == (B / "rows.csv").read_text()
    assert not list(root.glob(".*.new"))
    assert _gate("--baseline", root, "--candidate", B).exit_code == 0  # the new baseline is the candidate itself
    r = _gate("--update-baseline", "--baseline", root)
    assert r.exit_code == 2 and "--candidate" in r.output


# ---------------------------------------------------------------- --rerun (CPU, naive_linear, tiny shapes)
TINY = dict(batch=1, heads=2, head_dim=16, value_dim=16, dtype="fp32", decay="alibi")


def _tiny_pair(tmp_path, base_ms):
    """naive_linear fwd at seq_len 32: the baseline at ``base_ms``, the candidate 20 % slower (synthetic)."""
    rng = np.random.default_rng(0)
    a = _times(rng, 30, base_ms, 0.005)
    b = a * 1.2
    A = make_set(tmp_path / "base", [(_row("naive_linear", "fwd", 32, a, shape=TINY), a)], gpu=None)
    B = make_set(tmp_path / "cand", [(_row("naive_linear", "fwd", 32, b, shape=TINY), b)], gpu=None,
                 timing=FAST_TIMING)
    return A, B


def test_rerun_clears_a_regression_that_does_not_reproduce(tmp_path):
    # the stored times (1000 ms) are far above what the tiny CPU call really takes: re-measured, it is not slower
    A, B = _tiny_pair(tmp_path, 1000.0)
    r = _gate("--baseline", A, "--candidate", B, "--rerun", "--rerun-out", tmp_path / "rr", "--json",
              tmp_path / "g.json", "--min-samples", "3")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "g.json").read_text())
    c = doc["cells"][0]
    assert c["first_verdict"] == "regression" and c["verdict"] == "not confirmed"
    assert c["rerun"]["n_candidate"] == 6 and c["rerun"]["ratio"] < 0.5
    assert doc["rerun"]["configs"] == 1 and doc["rerun"]["confirmed"] == 0
    rows = (tmp_path / "rr" / "round-1" / "rows.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("naive_linear,") and ",fwd," in rows[1]  # exactly that config


def test_rerun_confirms_a_regression_that_reproduces(tmp_path):
    A, B = _tiny_pair(tmp_path, 1e-6)  # stored times far below reality: the re-measurement is slower too
    res = g.run_gate(A, B, g.GateSettings(min_samples=3), rerun=True, rerun_rounds=2, rerun_out=tmp_path / "rr")
    assert res.exit_code == 1
    c = res.cells[0]
    assert c["first_verdict"] == "regression" and c["verdict"] == "regression" and "confirmed" in c["reason"]
    assert c["rerun"]["n_candidate"] == 12  # two rounds pooled
    assert [Path(d).name for d in res.rerun["dirs"]] == ["round-1", "round-2"]
    r = _gate("--baseline", A, "--candidate", B, "--rerun", "--rerun-out", tmp_path / "rr")  # never reuse one
    assert r.exit_code == 2 and "already holds a re-measurement" in r.output


def test_rerun_with_nothing_flagged_measures_nothing(tmp_path):
    A, B = _pair(tmp_path)
    res = g.run_gate(A, B, rerun=True, rerun_out=tmp_path / "rr")
    assert res.exit_code == 0 and res.rerun["configs"] == 0 and not (tmp_path / "rr").exists()


# ---------------------------------------------------------------- preset
def test_gate_preset_covers_our_kernel_fwd_and_fwd_bwd():
    from lightning_bench.cases import preset

    spec = preset("gate")
    assert spec.providers == ["la2"] and spec.modes == ["fwd", "fwd_bwd"] and spec.dtype == ["bf16"]
    assert len(spec.cases()) * len(spec.modes) == 16
    assert {(c.batch, c.heads) for c in spec.cases()} == {(2, 16), (8, 16)}
    r = CliRunner().invoke(main, ["sweep", "--help"])
    assert "gate" in r.output


# ---------------------------------------------------------------- --rerun on both sides (sweep subprocesses)
def _package_copy(tmp_path) -> Path:
    """A source directory holding a copy of this checkout's lightning_bench (stands in for the baseline's code)."""
    import shutil
    src = tmp_path / "base-src"
    shutil.copytree(Path(g.__file__).parent, src / "lightning_bench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


def test_baseline_source_resolution(tmp_path):
    A, _ = _tiny_pair(tmp_path, 1.0)
    rs = g.load_result_set(A, "--baseline", need_samples=False)
    assert g.resolve_baseline_source("none", rs, tmp_path / "x")[0] is None
    src, why = g.resolve_baseline_source("auto", rs, tmp_path / "x")  # its commit 'abc123' is unknown to git
    assert src is None and "candidate side only" in why and "abc123" in why
    (tmp_path / "empty").mkdir()
    with pytest.raises(g.GateInputError, match="without lightning_bench/__init__.py"):
        g.resolve_baseline_source(str(tmp_path / "empty"), rs, tmp_path / "x")
    with pytest.raises(g.GateInputError, match="git cannot resolve"):
        g.resolve_baseline_source("no-such-revision-xyz", rs, tmp_path / "x")
    pkg = _package_copy(tmp_path)
    assert g.resolve_baseline_source(str(pkg), rs, tmp_path / "x")[0] == pkg.resolve()


def test_planted_switch_name_matches_the_kernel():
    from lightning_bench.kernels.lightning_attn2 import kernel as k2
    assert g.PLANTED_SLOWDOWN_ENV == k2.PLANTED_SLOWDOWN_ENV


def test_rerun_both_sides_clears_a_flag_when_both_measure_alike(tmp_path):
    # stored: candidate 2.5x slower (synthetic); re-measured: the same code on both sides, interleaved. A µs-scale CPU
    # call is noisy on a loaded machine (one side read 1.5x the other once), so the minimum effect here is 90 %: the
    # test is about the plumbing and the verdict, not about CPU timing precision
    rng = np.random.default_rng(0)
    a = _times(rng, 30, 1000.0, 0.005)
    b = a * 2.5
    A = make_set(tmp_path / "base", [(_row("naive_linear", "fwd", 32, a, shape=TINY), a)], gpu=None)
    B = make_set(tmp_path / "cand", [(_row("naive_linear", "fwd", 32, b, shape=TINY), b)], gpu=None,
                 timing=FAST_TIMING)
    pkg = _package_copy(tmp_path)
    r = _gate("--baseline", A, "--candidate", B, "--rerun", "--rerun-baseline", str(pkg), "--rerun-rounds", "2",
              "--rerun-out", tmp_path / "rr", "--json", tmp_path / "g.json", "--min-samples", "3",
              "--min-effect", "time=0.9")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "g.json").read_text())
    c = doc["cells"][0]
    assert c["first_verdict"] == "regression" and c["verdict"] == "not confirmed"
    assert c["rerun"]["sides"] == "both" and c["rerun"]["n_baseline"] == 12 and c["rerun"]["n_candidate"] == 12
    assert c["rerun"]["baseline"] < 100  # the re-measured baseline, not the stored 1000 ms
    assert doc["rerun"]["sides"] == "both" and doc["rerun"]["normalization"]["factor"] == 1.0
    for side in ("baseline", "candidate"):
        for k in (1, 2):
            rows = (tmp_path / "rr" / f"round-{k}" / side / "rows.csv").read_text().splitlines()
            assert len(rows) == 2 and rows[1].startswith("naive_linear,")
    assert "both sides" in r.output


def test_rerun_both_sides_confirms_a_planted_slowdown_of_the_candidate_only(tmp_path, monkeypatch):
    # la2 under the interpreter; the planted switch (kernel run twice) stands for the candidate's change and must
    # not reach the baseline side: re-measured, the candidate is ~2x slower than the baseline
    shape = dict(batch=1, heads=2, head_dim=16, value_dim=16, dtype="fp32", decay="alibi")
    rng = np.random.default_rng(1)
    a = _times(rng, 30, 5.0, 0.01)
    b = a * 1.5
    A = make_set(tmp_path / "base", [(_row("la2", "fwd", 64, a, shape=shape), a)], gpu=None)
    B = make_set(tmp_path / "cand", [(_row("la2", "fwd", 64, b, shape=shape), b)], gpu=None, timing=FAST_TIMING)
    monkeypatch.setenv(g.PLANTED_SLOWDOWN_ENV, "1.0")
    res = g.run_gate(A, B, g.GateSettings(min_samples=3), rerun=True, rerun_rounds=2, rerun_out=tmp_path / "rr",
                     rerun_baseline=str(_package_copy(tmp_path)))
    c = res.cells[0]
    assert res.rerun["sides"] == "both", res.notes
    assert c["rerun"]["ratio"] > 1.2, c["rerun"]
    assert res.exit_code == 1 and c["verdict"] == "regression" and "confirmed" in c["reason"]


def test_baseline_source_from_the_recorded_git_commit(tmp_path):
    import subprocess
    r = subprocess.run(["git", "-C", str(g.SOURCE_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout")
    A, _ = _tiny_pair(tmp_path, 1.0)
    env = json.loads((A / "env.json").read_text())
    env["git"] = {"commit": r.stdout.strip(), "dirty": False}
    (A / "env.json").write_text(json.dumps(env))
    rs = g.load_result_set(A, "--baseline", need_samples=False)
    src, why = g.resolve_baseline_source("auto", rs, tmp_path / "src")
    assert src == tmp_path / "src" and r.stdout.strip()[:12] in why
    assert (src / "lightning_bench" / "__init__.py").is_file() and (src / "lightning_bench" / "gate.py").is_file()


def test_gate_notes_different_timing_modes(tmp_path):
    A, B = _tiny_pair(tmp_path, 1.0)
    env = json.loads((B / "env.json").read_text())
    env.setdefault("timing", {})["host_decoupled"] = True
    (B / "env.json").write_text(json.dumps(env))
    res = g.run_gate(A, B, g.GateSettings(min_samples=3))
    assert any("different timing modes" in n for n in res.notes)
    env["timing"]["host_decoupled"] = False
    (B / "env.json").write_text(json.dumps(env))
    assert not any("timing modes" in n for n in g.run_gate(A, B, g.GateSettings(min_samples=3)).notes)
