"""`lightning-bench compare`: matching, bootstrap CI of the ratio of medians, verdicts, fallbacks, errors, output."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

from lightning_bench import compare
from lightning_bench.cli import main
from lightning_bench.compare import compare_runs, print_terminal, to_markdown
from lightning_bench.results import ResultWriter

FIXTURES = Path(__file__).parent / "fixtures" / "compare"
SHAPE = dict(batch=2, heads=4, head_dim=16, value_dim=16, dtype="fp32", decay="alibi")


def _row(provider, mode, seq_len, samples=None, status="ok", peak=64.0, **kw):
    row = dict(provider=provider, impl="test", mode=mode, seq_len=seq_len, status=status, reason=kw.pop("reason", ""),
               **SHAPE)
    if status == "ok":
        s = np.asarray(samples, float)
        med = float(np.median(s))
        tokens = SHAPE["batch"] * seq_len
        row.update(n_samples=len(s), median_ms=med, p20_ms=float(np.quantile(s, 0.2)),
                   p80_ms=float(np.quantile(s, 0.8)), tokens_per_s=tokens / (med * 1e-3), peak_mem_mib=peak)
    row.update(kw)
    return row


def make_run(path: Path, rows: list[tuple[dict, list[float] | None]]) -> Path:
    """A run directory written through the real ResultWriter (rows.csv + samples.jsonl)."""
    w = ResultWriter(path)
    for row, samples in rows:
        w.write(row, None if samples is None else [float(x) for x in samples])
    w.close()
    return path


def _times(rng, n=60, base=1.0, sd=0.02):
    return base * (1 + sd * rng.standard_normal(n))


def _pair(tmp_path, b_from_a, n=60, seed=1, **kw):
    rng = np.random.default_rng(seed)
    a = _times(rng, n)
    b = b_from_a(a, rng)
    ra = make_run(tmp_path / "A", [(_row("p1", "fwd", 256, a), a)])
    rb = make_run(tmp_path / "B", [(_row("p1", "fwd", 256, b), b)])
    df = compare_runs(ra, rb, **kw)
    assert len(df) == 1
    return df.iloc[0], df


# ---------------------------------------------------------------- verdicts on known answers
def test_ten_percent_slower_is_flagged_and_ci_contains_truth(tmp_path):
    r, df = _pair(tmp_path, lambda a, rng: a * 1.10 * (1 + 0.003 * rng.standard_normal(len(a))))
    assert r["match"] == "matched" and r["verdict"] == "slower" and r["beyond_noise"]
    assert r["ratio"] == pytest.approx(1.10, rel=0.01)
    assert r["change"] == pytest.approx(r["ratio"] - 1)
    assert 1 < r["ci_low"] <= 1.10 <= r["ci_high"]
    assert r["ci_high"] - r["ci_low"] < 0.05
    assert r["p_value"] < 1e-6
    assert (r["n_a"], r["n_b"]) == (60, 60)
    assert r["a"] == pytest.approx(np.median(_times(np.random.default_rng(1))))
    assert r["a_p20"] < r["a"] < r["a_p80"] and r["b_p20"] < r["b"] < r["b_p80"]
    assert df.attrs["metric"] == "median_ms" and df.attrs["confidence"] == 0.95


def test_twenty_percent_faster(tmp_path):
    r, _ = _pair(tmp_path, lambda a, rng: a * 0.8)
    assert r["verdict"] == "faster" and r["ratio"] == pytest.approx(0.8)
    assert r["ci_low"] <= 0.8 <= r["ci_high"] < 1


@pytest.mark.parametrize("seed", range(5))
def test_same_distribution_is_noise(tmp_path, seed):
    r, _ = _pair(tmp_path, lambda a, rng: _times(rng, len(a)), seed=seed)
    assert r["verdict"] == "same (noise)" and not r["beyond_noise"]
    assert abs(r["ratio"] - 1) < 0.02
    assert r["ci_low"] < r["ratio"] < r["ci_high"]


def test_one_percent_shift_is_below_min_effect(tmp_path):
    shift = lambda a, rng: a * 1.01 * (1 + 0.001 * rng.standard_normal(len(a)))  # noqa: E731
    r, _ = _pair(tmp_path, shift)
    assert r["ci_low"] > 1  # statistically real ...
    assert r["verdict"] == "same (noise)" and not r["beyond_noise"]  # ... but below the 2 % default
    r, _ = _pair(tmp_path / "x", shift, min_effect=0.005)
    assert r["verdict"] == "slower"


def test_wide_noise_keeps_a_real_mean_shift_unflagged(tmp_path):
    # 30 % noise, n = 10, 5 % shift: the CI straddles 1, so no verdict even though |change| > min_effect
    r, _ = _pair(tmp_path, lambda a, rng: _times(rng, len(a), base=1.05, sd=0.3), n=10, seed=3)
    assert r["ci_low"] < 1 < r["ci_high"]
    assert r["verdict"] == "same (noise)"


def test_confidence_widens_interval_and_seed_is_deterministic(tmp_path):
    slow = lambda a, rng: a * 1.1 * (1 + 0.01 * rng.standard_normal(len(a)))  # noqa: E731
    r90, _ = _pair(tmp_path / "a", slow, confidence=0.90)
    r99, _ = _pair(tmp_path / "b", slow, confidence=0.99)
    assert r99["ci_low"] < r90["ci_low"] and r99["ci_high"] > r90["ci_high"]
    again, _ = _pair(tmp_path / "c", slow, confidence=0.90)
    assert (again["ci_low"], again["ci_high"]) == (r90["ci_low"], r90["ci_high"])
    other, _ = _pair(tmp_path / "d", slow, confidence=0.90, seed=1, n=60)
    assert other["ci_low"] == r90["ci_low"]


def test_bootstrap_interval_covers_about_the_confidence():
    rng = np.random.default_rng(7)
    hits = 0
    trials = 100
    for _ in range(trials):
        a, b = rng.lognormal(0, 0.05, 41), rng.lognormal(0, 0.05, 41)  # same distribution: true ratio 1
        r = compare._bootstrap_median_ratio(a, b, 1000, rng)
        lo, hi = np.quantile(r, [0.025, 0.975])
        hits += lo <= 1 <= hi
    assert 0.85 <= hits / trials <= 1.0


def test_bootstrap_chunks_give_the_same_shape():
    rng = np.random.default_rng(0)
    a, b = rng.random(50_000) + 1, rng.random(10) + 1
    r = compare._bootstrap_median_ratio(a, b, 300, rng)  # 4e6 / 5e4 = 80 draws per chunk
    assert r.shape == (300,) and np.isfinite(r).all()


# ---------------------------------------------------------------- other metrics
def test_tokens_per_s_inverts_time(tmp_path):
    slow = lambda a, rng: a * 1.25  # noqa: E731
    t, _ = _pair(tmp_path / "t", slow)
    k, df = _pair(tmp_path / "k", slow, metric="tokens_per_s")
    assert k["verdict"] == "slower" and k["ratio"] == pytest.approx(0.8)
    assert k["ci_low"] == pytest.approx(1 / t["ci_high"], rel=1e-3)
    assert k["ci_high"] == pytest.approx(1 / t["ci_low"], rel=1e-3)
    assert k["a"] == pytest.approx(2 * 256 / (t["a"] * 1e-3))
    assert k["a_p20"] < k["a"] < k["a_p80"]
    fast, _ = _pair(tmp_path / "f", lambda a, rng: a / 1.25, metric="tokens_per_s")
    assert fast["verdict"] == "faster" and fast["ratio"] == pytest.approx(1.25)
    assert "M tok/s" in to_markdown(df)


@pytest.mark.parametrize("peak_b, verdict", [(150.0, "more memory"), (101.0, "same"), (50.0, "less memory")])
def test_peak_memory_uses_a_relative_threshold(tmp_path, peak_b, verdict):
    s = [1.0, 1.1, 1.2, 1.0, 1.05]
    ra = make_run(tmp_path / "A", [(_row("p1", "fwd", 256, s, peak=100.0), s)])
    rb = make_run(tmp_path / "B", [(_row("p1", "fwd", 256, s, peak=peak_b), s)])
    r = compare_runs(ra, rb, metric="peak_mem_mib").iloc[0]
    assert r["verdict"] == verdict and r["ratio"] == pytest.approx(peak_b / 100)
    assert math.isnan(r["ci_low"]) and math.isnan(r["p_value"])
    md = to_markdown(compare_runs(ra, rb, metric="peak_mem_mib"))
    assert "CI" not in md.splitlines()[4]


def test_zero_memory_on_both_sides_is_same(tmp_path):
    s = [1.0] * 5
    ra = make_run(tmp_path / "A", [(_row("p1", "fwd", 256, s, peak=0.0), s)])
    rb = make_run(tmp_path / "B", [(_row("p1", "fwd", 256, s, peak=0.0), s)])
    r = compare_runs(ra, rb, metric="peak_mem_mib").iloc[0]
    assert r["ratio"] == 1 and r["verdict"] == "same"


# ---------------------------------------------------------------- matching
@pytest.fixture
def mixed_runs(tmp_path):
    rng = np.random.default_rng(0)
    s = {n: _times(rng, 30, base=n / 256) for n in (128, 256, 512, 1024, 2048)}
    a_rows = [
        (_row("p1", "fwd", 128, s[128]), s[128]),                       # only in A
        (_row("p1", "fwd", 256, s[256]), s[256]),                       # matched, same
        (_row("p1", "fwd", 512, s[512]), s[512]),                       # ok -> oom
        (_row("p1", "fwd", 1024, status="oom", reason="CUDA OOM | 2 GiB"), None),  # oom -> ok
        (_row("p2", "fwd_bwd", 256, status="oom", reason="OOM"), None),  # oom in both
        (_row("p2", "fwd", 256, s[256]), s[256]),                       # matched, slower
    ]
    b_rows = [
        (_row("p2", "fwd", 256, s[256] * 1.3), s[256] * 1.3),
        (_row("p1", "fwd", 256, s[256]), s[256]),
        (_row("p1", "fwd", 512, status="oom", reason="CUDA out of memory"), None),
        (_row("p1", "fwd", 1024, s[1024]), s[1024]),
        (_row("p2", "fwd_bwd", 256, status="oom", reason="OOM"), None),
        (_row("p1", "fwd", 2048, s[2048]), s[2048]),                    # only in B
    ]
    return make_run(tmp_path / "A", a_rows), make_run(tmp_path / "B", b_rows)


def test_matching_unmatched_and_status_changes(mixed_runs):
    df = compare_runs(*mixed_runs)
    got = {(r.provider, r.mode, r.seq_len): (r.match, r.verdict) for r in df.itertuples()}
    assert got == {
        ("p1", "fwd", 256): ("matched", "same (noise)"),
        ("p2", "fwd", 256): ("matched", "slower"),
        ("p1", "fwd", 512): ("status_changed", "ok → oom"),
        ("p1", "fwd", 1024): ("status_changed", "oom → ok"),
        ("p2", "fwd_bwd", 256): ("failed_both", "oom in both"),
        ("p1", "fwd", 128): ("only_a", "only in A"),
        ("p1", "fwd", 2048): ("only_b", "only in B"),
    }
    assert list(df["match"]) == ["matched", "matched", "status_changed", "status_changed", "failed_both", "only_a",
                                 "only_b"]
    changed = df[df["match"] == "status_changed"].set_index("seq_len")
    assert changed.loc[512, "a"] > 0 and math.isnan(changed.loc[512, "b"])
    assert changed.loc[512, "reason_b"] == "CUDA out of memory"
    assert changed.loc[1024, "b"] > 0 and math.isnan(changed.loc[1024, "a"])
    only_b = df[df["match"] == "only_b"].iloc[0]
    assert pd.isna(only_b["status_a"]) and only_b["status_b"] == "ok" and only_b["b"] > 0
    assert df["seq_len"].dtype.kind == "i" and df["batch"].dtype.kind == "i"
    assert set(compare.OUTPUT_COLUMNS) == set(df.columns)


def test_provider_filter(mixed_runs):
    df = compare_runs(*mixed_runs, providers=["p2"])
    assert set(df["provider"]) == {"p2"} and len(df) == 2
    full = compare_runs(*mixed_runs).set_index(["provider", "mode", "seq_len"])
    one = df.set_index(["provider", "mode", "seq_len"])
    # the CI of a cell does not depend on which other cells are compared
    assert one.loc[("p2", "fwd", 256), "ci_low"] == full.loc[("p2", "fwd", 256), "ci_low"]
    assert len(compare_runs(*mixed_runs, providers="p1")) == 5


def test_remeasured_row_replaces_the_old_one(tmp_path):
    old, new = [2.0] * 10, [1.0, 1.01, 0.99, 1.0, 1.0, 1.02]
    ra = make_run(tmp_path / "A", [(_row("p1", "fwd", 256, old), old), (_row("p1", "fwd", 256, new), new)])
    r = compare_runs(ra, ra).iloc[0]
    assert r["a"] == pytest.approx(1.0) and r["n_a"] == 6 and r["verdict"] == "same (noise)"


# ---------------------------------------------------------------- fallbacks
def test_no_samples_file_falls_back_to_rows(mixed_runs):
    a, b = mixed_runs
    (b / "samples.jsonl").unlink()
    df = compare_runs(a, b)
    m = df[df["match"] == "matched"].set_index("provider")
    assert set(m["verdict"]) == {"no samples"} and not m["beyond_noise"].any()
    r = m.loc["p2"]
    assert r["ratio"] == pytest.approx(1.3) and r["n_b"] == 0 and r["n_a"] == 30
    assert math.isnan(r["ci_low"]) and math.isnan(r["ci_high"]) and math.isnan(r["p_value"])
    rows_b = pd.read_csv(b / "rows.csv").set_index(["provider", "mode", "seq_len"])
    assert r["b_p20"] == pytest.approx(rows_b.loc[("p2", "fwd", 256), "p20_ms"])
    assert r["b_p80"] == pytest.approx(rows_b.loc[("p2", "fwd", 256), "p80_ms"])
    assert df.attrs["samples_b"] is False
    assert "no samples" in to_markdown(df)


def test_missing_sample_entry_and_corrupt_lines(tmp_path):
    s = list(_times(np.random.default_rng(0), 20))
    ra = make_run(tmp_path / "A", [(_row("p1", "fwd", 256, s), s), (_row("p1", "bwd", 256, s), s)])
    rb = make_run(tmp_path / "B", [(_row("p1", "fwd", 256, s), None), (_row("p1", "bwd", 256, s), s)])
    with (rb / "samples.jsonl").open("a") as f:
        f.write('{"key": {"provider": "p1", "mo')  # an interrupted write
    df = compare_runs(ra, rb).set_index("mode")
    assert df.loc["fwd", "verdict"] == "no samples" and df.loc["bwd", "verdict"] == "same (noise)"


def test_few_samples(tmp_path):
    s = [1.0, 1.1, 0.9]
    ra = make_run(tmp_path / "A", [(_row("p1", "fwd", 256, s), s)])
    rb = make_run(tmp_path / "B", [(_row("p1", "fwd", 256, [2 * x for x in s]), [2 * x for x in s])])
    r = compare_runs(ra, rb).iloc[0]
    assert r["verdict"] == "few samples" and math.isnan(r["ci_low"]) and r["ratio"] == pytest.approx(2)
    assert compare_runs(ra, rb, min_samples=3).iloc[0]["verdict"] == "slower"


def test_mannwhitney_without_scipy(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x, y = np.round(rng.normal(1, 0.1, 40), 2), np.round(rng.normal(1.05, 0.1, 35), 2)  # many ties
    p = compare.mannwhitney_asymptotic(x, y)
    stats = pytest.importorskip("scipy.stats")
    assert p == pytest.approx(stats.mannwhitneyu(x, y, method="asymptotic").pvalue, rel=1e-9)
    assert compare.mannwhitney_asymptotic(y, x) == pytest.approx(p)
    assert compare.mannwhitney_p([1.0, 1.0], [1.0, 1.0, 1.0]) == 1.0
    monkeypatch.setattr(compare, "_scipy_mwu", lambda: None)
    r, _ = _pair(tmp_path, lambda a, rng: a * 1.1)
    assert r["verdict"] == "slower" and r["p_value"] < 1e-6


# ---------------------------------------------------------------- bad input
def test_bad_inputs(tmp_path, mixed_runs):
    a, b = mixed_runs
    with pytest.raises(ValueError, match="run_a.*does not exist"):
        compare_runs(tmp_path / "nope", b)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match="run_b.*no rows.csv"):
        compare_runs(a, tmp_path / "empty_dir")
    with pytest.raises(ValueError, match="run_b.*not a directory"):
        compare_runs(a, b / "rows.csv")
    with pytest.raises(ValueError, match="run_a.*required"):
        compare_runs(None, b)
    with pytest.raises(ValueError, match="metric"):
        compare_runs(a, b, metric="tflops")
    for kw, name in ((dict(confidence=1.5), "confidence"), (dict(confidence=0), "confidence"),
                     (dict(n_boot=10), "n_boot"), (dict(min_effect=-0.1), "min_effect"),
                     (dict(min_effect=float("nan")), "min_effect"), (dict(min_samples=1), "min_samples"),
                     (dict(seed=-1), "seed"), (dict(providers=["nope"]), "providers")):
        with pytest.raises(ValueError, match=name):
            compare_runs(a, b, **kw)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "rows.csv").write_text("provider,mode\nla2,fwd\n")
    with pytest.raises(ValueError, match="run_a.*missing columns"):
        compare_runs(bad, b)
    (bad / "rows.csv").write_text("")
    with pytest.raises(ValueError, match="run_a.*empty"):
        compare_runs(bad, b)


def test_header_only_run_lists_everything_as_only_in_b(tmp_path, mixed_runs):
    a, b = mixed_runs
    empty = tmp_path / "E"
    ResultWriter(empty).close()
    df = compare_runs(empty, b)
    assert set(df["match"]) == {"only_b"} and len(df) == 6
    assert "Only in B" in to_markdown(df)


# ---------------------------------------------------------------- output
def _md_tables(md: str) -> list[list[str]]:
    tables, cur = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            tables.append(cur)
            cur = []
    return tables + ([cur] if cur else [])


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").replace("\\|", "\0").split("|")]


def test_markdown_structure(mixed_runs):
    md = to_markdown(compare_runs(*mixed_runs), title="A vs B")
    assert md.startswith("### A vs B\n")
    assert "batch 2, heads 4, head_dim 16, value_dim 16, fp32, decay alibi" in md
    tables = _md_tables(md)
    assert len(tables) == 4  # matched, status changed, only in A, only in B
    for t in tables:
        width = len(_cells(t[0]))
        assert all(len(_cells(line)) == width for line in t), t
        assert set(t[1].replace("|", "").replace("-", "").replace(":", "")) == set()
    head = _cells(tables[0][0])
    assert head == ["provider", "mode", "seq_len", "A (ms)", "B (ms)", "B/A", "95% CI", "n A/B", "p", "verdict"]
    rows = {(_cells(r)[0], _cells(r)[2]): _cells(r) for r in tables[0][2:]}
    slow = rows[("p2", "256")]
    assert slow[-1] == "**slower**" and slow[5].startswith("**1.300**") and slow[5].endswith("▲")
    assert rows[("p1", "256")][-1] == "same (noise)" and "**" not in rows[("p1", "256")][5]
    assert "CUDA OOM \\| 2 GiB" in md  # a pipe in a reason is escaped
    assert "**Status changed**" in md and "**Only in A** (1)" in md and "Not ok in either run: 1" in md
    assert "Mann–Whitney" in md


def test_terminal_output_colours(mixed_runs, tmp_path):
    a, b = mixed_runs
    faster = make_run(tmp_path / "F", [(_row("p2", "fwd", 256, np.full(30, 0.5) + np.linspace(0, .01, 30)),
                                         np.full(30, 0.5) + np.linspace(0, .01, 30))])
    con = Console(record=True, width=200, force_terminal=True, color_system="standard")
    print_terminal(compare_runs(a, b), console=con)
    text = con.export_text(clear=False)
    for needle in ("slower", "same (noise)", "status changed", "only in A (1)", "only in B (1)", "CUDA out of memory",
                   "not ok in either run: 1", "95% CI"):
        assert needle in text
    styled = con.export_text(styles=True)
    assert "\x1b[1;31mslower" in styled
    con = Console(record=True, width=200, force_terminal=True, color_system="standard")
    print_terminal(compare_runs(a, faster, providers=["p2"]), console=con)
    assert "\x1b[1;32mfaster" in con.export_text(styles=True)
    con = Console(file=io.StringIO(), width=200)
    print_terminal(compare_runs(a, b, metric="peak_mem_mib"), console=con)


def test_cli_compare(mixed_runs, tmp_path):
    a, b = mixed_runs
    md = tmp_path / "cmp.md"
    r = CliRunner().invoke(main, ["compare", str(a), str(b), "--markdown", str(md), "--provider", "p2,p1",
                                  "--confidence", "0.9", "--min-effect", "0.05"])
    assert r.exit_code == 0, r.output
    assert "slower" in r.output and "90% bootstrap CI" in r.output and "markdown →" in r.output
    text = md.read_text()
    assert "| 90% CI |" in text and "|B/A − 1| > 5%" in text
    r = CliRunner().invoke(main, ["compare", str(a), str(b), "--metric", "tokens_per_s", "--provider", "p2",
                                  "--provider", "p1"])
    assert r.exit_code == 0, r.output
    assert "M tok/s" in r.output


@pytest.mark.parametrize("args, needle", [
    (["/nonexistent/run", "{b}"], "run_a"),
    (["{a}", "{b}", "--metric", "tflops"], "--metric"),
    (["{a}", "{b}", "--confidence", "1.2"], "--confidence"),
    (["{a}", "{b}", "--provider", "nope"], "providers"),
    (["{a}", "{b}", "--markdown", "/nonexistent/dir/x.md"], "x.md"),
])
def test_cli_compare_errors(mixed_runs, args, needle):
    a, b = mixed_runs
    r = CliRunner().invoke(main, ["compare", *[x.format(a=a, b=b) for x in args]])
    assert r.exit_code != 0 and r.exit_code in (1, 2)
    assert needle in r.output and "Traceback" not in r.output


def test_cli_metric_choices_match_library():
    cmd = main.commands["compare"]
    choice = next(p for p in cmd.params if p.name == "metric").type
    assert list(choice.choices) == list(compare.METRICS)


# ---------------------------------------------------------------- real data: la2 before/after the sync fix
def test_real_la2_before_after():
    before, after = FIXTURES / "la2_before", FIXTURES / "la2_after"
    df = compare_runs(before, after)
    cell = df.set_index(["provider", "mode", "seq_len"])
    r = cell.loc[("la2", "fwd", 512)]
    assert r["verdict"] == "faster" and r["beyond_noise"]
    assert r["a"] == pytest.approx(0.178, abs=0.001) and r["b"] == pytest.approx(0.062, abs=0.001)
    assert r["ratio"] == pytest.approx(0.346, abs=0.005) and r["ci_high"] < 0.4
    assert r["n_a"] == 100 and r["n_b"] == 100 and r["p_value"] < 1e-10
    assert cell.loc[("la2", "fwd_bwd", 2048), "verdict"] == "faster"
    same = cell.loc[("flash_attn2", "fwd", 512)]  # the very same measurement in both files
    assert same["ratio"] == 1 and same["verdict"] == "same (noise)" and same["p_value"] == 1
    assert cell.loc[("naive_linear", "fwd", 32768), "verdict"] == "oom in both"
    assert (df["match"].isin(["matched", "failed_both"])).all() and len(df) == 11
    tok = compare_runs(before, after, metric="tokens_per_s", providers=["la2"]).set_index(["mode", "seq_len"])
    assert tok.loc[("fwd", 512), "verdict"] == "faster" and tok.loc[("fwd", 512), "ratio"] > 2.5
    md = to_markdown(df)
    assert "| la2 | fwd | 512 | 0.1783 | 0.06173 | **0.346** ▼ |" in md


def test_fixture_lines_are_from_the_run_files():
    # the fixture is a verbatim subset: every samples line's key has a rows.csv row with the same n_samples
    for name in ("la2_before", "la2_after"):
        rows = pd.read_csv(FIXTURES / name / "rows.csv")
        for line in (FIXTURES / name / "samples.jsonl").read_text().splitlines():
            o = json.loads(line)
            k = o["key"]
            hit = rows[(rows.provider == k["provider"]) & (rows["mode"] == k["mode"])
                       & (rows.seq_len == int(k["seq_len"]))]
            assert len(hit) == 1 and int(hit.iloc[0]["n_samples"]) == len(o["samples_ms"])
            assert float(hit.iloc[0]["median_ms"]) == pytest.approx(float(np.median(o["samples_ms"])))
