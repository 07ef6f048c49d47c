"""Report tests (CPU): analysis math on synthetic data with known answers, tables, LaTeX, figures, HTML render."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lightning_bench.analysis import (crossover, crossover_table, fit_fixed_cost, fit_scaling, fixed_cost_table,
                                      scaling_table)
from lightning_bench.cli import main
from lightning_bench.flops import io_bytes
from lightning_bench.report import build_report, latex_table, markdown_table, tex_escape

FIXTURE = Path(__file__).parent / "fixtures" / "h200_small"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# ---------------------------------------------------------------- scaling fit
@pytest.mark.parametrize("k", [1.0, 2.0, 1.5])
def test_fit_recovers_exact_exponent(k):
    n = np.array([1024, 2048, 4096, 8192, 16384])
    f = fit_scaling(n, 0.003 * n**k)
    assert f.exponent == pytest.approx(k, abs=1e-9)
    assert f.r2 == pytest.approx(1.0)
    assert f.ci_low - 1e-9 <= k <= f.ci_high + 1e-9 and f.ci_high - f.ci_low < 1e-6


def test_fit_confidence_interval_covers_truth_at_its_rate():
    rng = np.random.default_rng(0)
    n = np.array([1024, 2048, 4096, 8192, 16384, 32768])
    covered = 0
    trials = 400
    for _ in range(trials):
        t = 0.01 * n**1.2 * np.exp(rng.normal(0, 0.05, n.size))
        f = fit_scaling(n, t, confidence=0.9)
        covered += f.ci_low <= 1.2 <= f.ci_high
    assert 0.85 <= covered / trials <= 0.95  # nominal 90%


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        fit_scaling([1, 2], [1, 2])
    with pytest.raises(ValueError, match="> 0"):
        fit_scaling([1, 2, 4], [1, 0, 2])
    with pytest.raises(ValueError, match="confidence"):
        fit_scaling([1, 2, 4], [1, 2, 4], confidence=1.5)


# ---------------------------------------------------------------- crossover
def test_crossover_interpolates_in_log_log():
    # linear: t = n / 1000; softmax: t = (n / 4096)^2 → equal at n = 4096 / 1000 · 4096 ... solve exactly:
    n = np.array([512, 1024, 2048, 4096, 8192, 16384], dtype=float)
    lin = n * 1e-3
    soft = (n / 2048.0) ** 2 * 2.048  # equal where n·1e-3 = 2.048·(n/2048)², i.e. n = 2048
    c = crossover(n, lin, soft)
    # exact crossing at 2048 lies on a measured point; it counts as "not faster" there (equal), so the bracket is
    # (2048, 4096) and the log–log interpolation gives back exactly 2048
    assert c.kind == "crosses"
    assert c.seq_len == pytest.approx(2048.0, rel=1e-9)
    lin2 = lin * 1.5  # crossing moves to 3072 (power laws: exact in log–log)
    c2 = crossover(n, lin2, soft)
    assert c2.seq_len == pytest.approx(3072.0, rel=1e-9) and c2.bracket == (2048.0, 4096.0)


def test_crossover_edge_cases():
    n = [1024, 2048, 4096]
    assert crossover(n, [1, 1, 1], [2, 3, 4]).kind == "always_faster"
    assert crossover(n, [5, 6, 7], [1, 2, 3]).kind == "never_faster"
    # faster, then slower, then faster again: the crossover is the last sign change
    c = crossover([1, 2, 4, 8], [1, 5, 1, 1], [2, 2, 2, 2])
    assert c.kind == "crosses" and c.bracket == (2.0, 4.0)
    with pytest.raises(ValueError):
        crossover([], [], [])


def test_analysis_tables_on_the_h200_fixture():
    df = pd.read_csv(FIXTURE / "rows.csv")
    sc = scaling_table(df, min_seq_len=2048)
    la2 = sc[(sc.provider == "la2") & (sc["mode"] == "fwd")].iloc[0]
    flash = sc[(sc.provider == "flash_attn2") & (sc["mode"] == "fwd")].iloc[0]
    assert 0.9 < la2.exponent < 1.1  # linear in seq_len
    assert 1.8 < flash.exponent < 2.1  # quadratic
    cx = crossover_table(df)
    row = cx[(cx.linear == "la2") & (cx.softmax == "sdpa_cudnn") & (cx["mode"] == "fwd")].iloc[0]
    assert row.kind == "crosses" and (row.n_lo, row.n_hi) == (1024, 2048)
    assert 1024 < row.crossover_seq_len < 2048


# ---------------------------------------------------------------- fixed cost per call (r∞, n½)
def test_fixed_cost_fit_recovers_a_known_kernel():
    """time = F + T / r∞ with F = 12 µs and r∞ = 150 M tokens/s, 1% multiplicative noise: F within its interval
    (and within 1.5 µs), r∞ within 1%, n½ = F · r∞, and the model's flatness as the formula gives it."""
    rng = np.random.default_rng(4)
    tokens = 2 * np.array([1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072], dtype=float)
    t_ms = (0.012 + tokens / 150e6 * 1e3) * np.exp(rng.normal(0, 0.01, tokens.size))
    f = fit_fixed_cost(tokens, t_ms)
    assert f.fixed_ci[0] <= 0.012 <= f.fixed_ci[1] and abs(f.fixed_ms - 0.012) < 1.5e-3
    assert f.r_inf == pytest.approx(150e6, rel=0.01)
    assert f.n_half == pytest.approx(f.fixed_ms * 1e-3 * f.r_inf)
    assert f.n_points == 8 and (f.tokens_min, f.tokens_max) == (2048, 262144)
    exact = fit_fixed_cost(tokens, 0.012 + tokens / 150e6 * 1e3)
    assert exact.fixed_ms == pytest.approx(0.012, rel=1e-9) and exact.n_half == pytest.approx(1800.0, rel=1e-9)
    tps = lambda T: T / (0.012e-3 + T / 150e6)  # noqa: E731
    assert exact.flatness(4096, 262144) == pytest.approx(tps(4096) / tps(262144), rel=1e-9)


def test_fixed_cost_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 3"):
        fit_fixed_cost([1, 2], [1, 2])
    with pytest.raises(ValueError, match="> 0"):
        fit_fixed_cost([1, 2, 4], [1, 0, 2])
    with pytest.raises(ValueError, match="distinct"):
        fit_fixed_cost([4, 4, 4], [1, 2, 3])
    with pytest.raises(ValueError, match="confidence"):
        fit_fixed_cost([1, 2, 4], [1, 2, 4], confidence=0)


def test_fixed_cost_table_fits_linear_providers_of_product_grids_only():
    """Linear providers and the floor get a row per mode; softmax providers (quadratic work) and a fixed-token series
    (one token count) none; n½ in seq_len is n½ / batch."""
    rows = []
    for n in (1024, 4096, 16384, 65536):
        for prov, fam, ms in (("la2", "linear", 0.010 + 2 * n / 100e6 * 1e3),
                              ("floor", "floor", 0.006 + 2 * n / 300e6 * 1e3),
                              ("sdpa_flash", "softmax", 1e-9 * n * n)):
            rows.append(dict(provider=prov, family=fam, mode="fwd", batch=2, heads=16, head_dim=128, value_dim=128,
                             dtype="bfloat16", decay=True, status="ok", seq_len=n, median_ms=ms))
    for b, n in ((64, 1024), (16, 4096), (4, 16384)):  # batch × seq_len = 65536: the tgs view
        rows.append(dict(provider="la2", family="linear", mode="fwd", batch=b, heads=8, head_dim=128, value_dim=128,
                         dtype="bfloat16", decay=True, status="ok", seq_len=n, median_ms=0.5))
    t = fixed_cost_table(pd.DataFrame(rows))
    assert sorted(t.provider) == ["floor", "la2"] and set(t.heads) == {16}
    la2 = t[t.provider == "la2"].iloc[0]
    assert la2.fixed_ms == pytest.approx(0.010, rel=1e-6) and la2.r_inf == pytest.approx(100e6, rel=1e-6)
    assert la2.n_half_seq == pytest.approx(1000 / 2, rel=1e-6) and (la2.seq_min, la2.seq_max) == (1024, 65536)
    assert la2.model_flatness == pytest.approx((2048 / (2048 + 1000)) / (131072 / (131072 + 1000)), rel=1e-9)


def test_io_bytes_model():
    # bf16, d = e = 128: 1,024 B per token-head forward, 1,792 backward (shared docs §4/§5)
    assert io_bytes("fwd", 1, 1, 1, 128, 128, 2) == 1024
    assert io_bytes("bwd", 1, 1, 1, 128, 128, 2) == 1792
    assert io_bytes("fwd_bwd", 4, 32, 32768, 128, 128, 2) == 4 * 32 * 32768 * 2816
    with pytest.raises(ValueError, match="mode"):
        io_bytes("both", 1, 1, 1, 1, 1, 2)


# ---------------------------------------------------------------- tables
def _toy():
    val = pd.DataFrame({"a": [1.0, 4.0], "b_x": [2.0, 3.0]}, index=pd.Index([512, 1024], name="seq_len"))
    spread = pd.DataFrame({"a": [(0.9, 1.1), (3.9, 4.2)], "b_x": [(1.8, 2.2), (float("nan"), float("nan"))]},
                          index=val.index)
    return val, spread


def test_markdown_table_marks_the_best_and_shows_spread():
    val, spread = _toy()
    md = markdown_table(val, spread, "min", "ms")
    lines = md.splitlines()
    assert lines[0] == "| seq_len | a (ms) | b_x (ms) |"
    assert "**1.000 [0.900–1.100]**" in lines[2] and "2.000 [1.800–2.200]" in lines[2]
    assert "**3.000**" in lines[3] and "4.000 [3.900–4.200]" in lines[3]


def test_latex_table_structure_and_escaping():
    val, spread = _toy()
    tex = latex_table(val, spread, "min", "time (ms)", "fwd time_ms 100%", "tab:x")
    for needle in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{rrr}", r"\textbf{1.000}",
                   r"b\_x", r"100\%", r"\label{tab:x}"):
        assert needle in tex
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") == 1
    body = tex.split(r"\midrule")[-1].split(r"\bottomrule")[0]
    for line in body.strip().splitlines():  # every row has one cell per column
        assert line.count("&") == 2, line
    assert tex_escape("a_b & c%") == r"a\_b \& c\%"


# ---------------------------------------------------------------- full report
@pytest.fixture(scope="module")
def report_dir():
    out = Path(tempfile.mkdtemp()) / "report"
    rep = build_report([FIXTURE], out)
    return rep


def test_report_files_and_content(report_dir):
    rep = report_dir
    md = rep.markdown.read_text()
    assert "## Scaling exponents" in md and "## Crossovers" in md
    assert "| la2 | sdpa_cudnn |" in md
    fixed = md.split("## Fixed cost per call")[1].split("## Crossovers")[0]  # linear providers only
    assert "| la2 | fwd |" in fixed and "| fla | fwd_bwd |" in fixed and "flash_attn2" not in fixed
    assert "NVIDIA H200" in md and "driver 580.159.04" in md and "power limit 700.0 W" in md
    assert "oom" in md  # rows without a measurement are listed
    # every figure referenced exists, in PNG and PDF
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(refs) >= 6
    for ref in refs:
        png = rep.out_dir / ref
        assert png.exists() and png.stat().st_size > 10_000
        pdf = png.with_suffix(".pdf")
        assert pdf.exists() and pdf.read_bytes()[:4] == b"%PDF"
    names = {p.name.split("_b4")[0] for p in rep.figures}
    assert {"runtime", "peak_memory", "tokens_per_s", "tflops", "energy_per_token", "roofline"} <= names


def test_report_latex_compiles_or_is_well_formed(report_dir):
    rep = report_dir
    tex = rep.latex.read_text()
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") > 0
    assert tex.count("{") - tex.count(r"\{") == tex.count("}") - tex.count(r"\}")
    engine = shutil.which("pdflatex")
    if engine is None:
        assert not IN_CI, "CI installs a TeX engine (.ci/run); pdflatex must be present there"
        pytest.skip("pdflatex not installed here; structure checked above")
    r = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", rep.latex_doc.name],
                       cwd=rep.out_dir, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (rep.out_dir / "report.pdf").read_bytes()[:4] == b"%PDF"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_html_renders_with_figures_in_headless_chromium(report_dir):
    html = report_dir.html
    text = html.read_text()
    assert text.count("data:image/png;base64,") >= 6  # self-contained
    browser = _chromium()
    if browser is None:
        assert not IN_CI, "CI installs chromium (.ci/run); it must be present there"
        pytest.skip("chromium not installed here")
    profile = tempfile.mkdtemp()
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom",
                        html.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', r.stdout)
    assert m, r.stderr[-1000:]
    loaded, total = int(m.group(1)), int(m.group(2))
    assert total >= 6 and loaded == total
    assert "Scaling exponents" in r.stdout


def test_report_cli(tmp_path):
    r = CliRunner().invoke(main, ["report", str(FIXTURE), "--out", str(tmp_path / "rep"), "--format", "png"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "report.md").exists()
    assert not list((tmp_path / "rep").glob("*.pdf"))
    r = CliRunner().invoke(main, ["report", str(FIXTURE), "--out", str(tmp_path / "rep2"), "--format", "jpg"])
    assert r.exit_code == 2 and "--format" in r.output


def test_report_rejects_a_directory_without_rows(tmp_path):
    with pytest.raises(ValueError, match="rows.csv"):
        build_report([tmp_path], tmp_path / "out")


def test_report_of_cpu_runs_says_cpu_and_draws_no_roofline(tmp_path):
    import json as _json
    import shutil as _shutil

    run = tmp_path / "cpu_run"
    _shutil.copytree(FIXTURE, run)
    env = _json.loads((run / "env.json").read_text())
    env["gpu"] = None
    (run / "env.json").write_text(_json.dumps(env))
    (run / "ceilings.json").unlink(missing_ok=True)
    df = pd.read_csv(run / "rows.csv")
    df["timer"] = "perf_counter (CPU)"
    df["l2_policy"] = "n/a (CPU)"
    df.to_csv(run / "rows.csv", index=False)
    rep = build_report([run], tmp_path / "rep", formats=("png",))
    md = rep.markdown.read_text()
    assert "CPU wall-clock times" in md and "CUDA-event" not in md and "No roofline" in md
    assert not [p for p in rep.figures if p.name.startswith("roofline")]


def _token_series_rows(tokens=262144, ns=(1024, 2048, 4096, 8192)):
    """Synthetic ok rows of a fixed-token sweep (batch × seq_len = tokens), la2 with a flat time per call and
    flash_attn2 with a time per call growing like seq_len, plus a b2 product grid of the same heads/dims."""
    rows = []
    for n in ns:
        for prov, fam, t in (("la2", "linear", 1.0), ("flash_attn2", "softmax", 0.25 * n / 1024)):
            rows.append(dict(provider=prov, family=fam, mode="fwd", batch=tokens // n, heads=16, seq_len=n,
                             head_dim=128, value_dim=128, dtype="bf16", decay="alibi", status="ok", median_ms=t,
                             p20_ms=t, p80_ms=t, tokens_per_s=tokens / t * 1e3, peak_mem_mib=1.0))
            rows.append(dict(rows[-1], batch=2, tokens_per_s=2 * n / t * 1e3))
    return pd.DataFrame(rows)


def test_fixed_token_rows_form_one_series_and_product_grids_do_not():
    from lightning_bench.analysis import series_of

    df = _token_series_rows()
    s = series_of(df)
    assert set(s[df.batch != 2]) == {"tokens 262144"}  # one series over seq_len, not one group per batch
    assert set(s[df.batch == 2]) == {"2"}
    grid = pd.concat([df[df.batch == 2], df[df.batch == 2].assign(batch=4)], ignore_index=True)
    assert set(series_of(grid)) == {"2", "4"}  # a batch × seq_len product stays grouped by batch
    one = df[(df.batch != 2) & (df.seq_len == 1024)]
    assert set(series_of(one)) == {"256"}  # a single batch is not a series


def test_fixed_token_series_in_tables_plots_and_report(tmp_path):
    from lightning_bench.plots import group_label, group_slug, make_plots
    from lightning_bench.summary import tokens_table

    df = _token_series_rows()
    tables = tokens_table(df)
    key = next(k for k in tables if str(k[0]).startswith("tokens"))
    assert group_label(key).startswith("262,144 tokens per call") and group_slug(key).startswith("tok262144_h16")
    pv = tables[key]
    assert list(pv.index.get_level_values("seq_len")) == [1024, 2048, 4096, 8192]
    assert np.allclose(pv["la2"], 262.144)  # flat: the same tokens/s at every seq_len
    run = tmp_path / "run"
    run.mkdir()
    df.to_csv(run / "rows.csv", index=False)
    names = {p.name for p in make_plots(run)}
    assert "tokens_per_s_tok262144_h16_d128_bf16_alibi.png" in names and "tokens_per_s_b2_h16_d128_bf16_alibi.png" in names
    assert not any(n.startswith("tokens_per_s_b256") for n in names)
    sc = scaling_table(df, min_seq_len=1024)
    tok = sc[(sc.series == "tokens 262144") & (sc.provider == "la2")].iloc[0]
    soft = sc[(sc.series == "tokens 262144") & (sc.provider == "flash_attn2")].iloc[0]
    assert abs(tok.exponent) < 1e-6 and abs(soft.exponent - 1.0) < 1e-6


def test_relative_tables_give_speedups_memory_and_flatness():
    from lightning_bench.report import relative_tables

    df = _token_series_rows()
    df = df[df.batch == 2].assign(peak_mem_mib=lambda x: x.provider.map({"la2": 1.0, "flash_attn2": 4.0}))
    rel = relative_tables(df, "fwd", "la2")
    # flash_attn2's time grows like n (0.25 ms · n / 1024) against la2's 1 ms
    assert np.allclose(rel["speedup"]["flash_attn2"].values, [0.25, 0.5, 1.0, 2.0])
    assert list(rel["speedup"].columns) == ["flash_attn2"]  # the focus is not compared with itself
    assert np.allclose(rel["memory"]["flash_attn2"].values, 0.25)
    flat = rel["flatness"]  # tokens/s over the longest seq_len's, per provider
    assert np.allclose(flat["la2"].values, [1 / 8, 1 / 4, 1 / 2, 1]) and np.allclose(flat["flash_attn2"].values, 1.0)
    assert relative_tables(df, "fwd", "fla") is None and relative_tables(df, "bwd", "la2") is None


def test_report_lists_the_focus_ratios_unless_told_not_to(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    df = pd.read_csv(run / "rows.csv")
    ok = df[(df.status == "ok") & (df["mode"] == "fwd")]
    n = int(ok[ok.provider == "la2"].seq_len.max())
    t = ok[ok.seq_len == n].groupby("provider").median_ms.median()
    want = f"{t['flash_attn2'] / t['la2']:.2f}×"
    md = build_report([run], tmp_path / "a", formats=("png",)).markdown.read_text()
    sec = md[md.index("### fwd: speed-up of la2"):]
    row = next(line for line in sec.splitlines() if line.startswith(f"| {n} |"))
    assert want in row, (want, row)
    assert "tokens/s relative to each provider's longest seq_len" in md
    md = build_report([run], tmp_path / "b", formats=("png",), focus=None).markdown.read_text()
    assert "speed-up of" not in md
    r = CliRunner().invoke(main, ["report", str(run), "--out", str(tmp_path / "c"), "--format", "png",
                                  "--focus", "flash_attn2"])
    assert r.exit_code == 0, r.output
    assert "speed-up of flash_attn2" in (tmp_path / "c" / "report.md").read_text()


def test_the_byte_floor_is_never_marked_best_and_its_note_needs_ok_rows(tmp_path):
    """A floor column (a bound, not a competitor) is never bold, even where it is the fastest; the report's note on
    the floor appears only where the floor has ok rows (not for a run whose floor rows were all unsupported)."""
    val = pd.DataFrame({"la2": [2.0, 4.0], "floor": [1.0, 3.0]}, index=[1024, 2048])
    md = markdown_table(val, pd.DataFrame(index=val.index, columns=val.columns), "min", "ms")
    assert "**2.000**" in md and "**4.000**" in md and "**1.000**" not in md and "**3.000**" not in md
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    df = pd.read_csv(run / "rows.csv")
    la2 = df[(df.provider == "la2") & (df.status == "ok")]
    floor = la2.assign(provider="floor", family="floor", median_ms=la2.median_ms * 0.5,
                       tokens_per_s=la2.tokens_per_s * 2)
    pd.concat([df, floor]).to_csv(run / "rows.csv", index=False)
    md = build_report([run], tmp_path / "a", formats=("png",)).markdown.read_text()
    assert "The `floor` column is the shape's byte floor" in md
    assert "la2 × floor" in md and "0.50×" in md
    pd.concat([df, floor.assign(status="unsupported")]).to_csv(run / "rows.csv", index=False)
    md = build_report([run], tmp_path / "b", formats=("png",)).markdown.read_text()
    assert "The `floor` column is the shape's byte floor" not in md


def test_terminal_summary_marks_the_fastest_competitor_not_the_floor(tmp_path):
    import io
    import re

    from rich.console import Console

    from lightning_bench.summary import print_summary

    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    df = pd.read_csv(run / "rows.csv")
    df = df[(df.status == "ok") & (df.provider.isin(["la2", "fla"]))]
    la2 = df[df.provider == "la2"]
    floor = la2.assign(provider="floor", family="floor", tokens_per_s=la2.tokens_per_s * 3)
    pd.concat([df, floor]).to_csv(run / "rows.csv", index=False)
    buf = io.StringIO()
    print_summary(run, Console(file=buf, force_terminal=True, color_system="standard", width=200))
    out = buf.getvalue()
    bold = re.findall(r"\x1b\[1m([0-9.]+)", out)
    floor_vals = {f"{x / 1e6:.2f}" for x in floor.tokens_per_s}
    assert bold and not floor_vals & set(bold)
