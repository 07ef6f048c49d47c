"""Compare two run directories (A, then B): configs matched on the key columns, B/A per cell with a bootstrap
confidence interval from the raw samples, a Mann–Whitney U p-value and a verdict that says whether the difference is
beyond noise; Markdown and terminal (rich) output. Reads ``rows.csv`` and ``samples.jsonl`` only.

The statistic is the ratio of medians B/A. Its confidence interval is a percentile bootstrap: each side's raw
samples are resampled independently (with replacement, same size), ``n_boot`` times, the ratio of the two resampled
medians is taken each time, and the interval is the central ``confidence`` part of those ratios. A cell is
"faster"/"slower" only when that interval excludes 1 *and* the point ratio differs from 1 by more than
``min_effect`` (default 2 %): a real but tiny change is reported as noise on purpose.
"""

from __future__ import annotations

import functools
import json
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .results import KEY_COLUMNS, ROWS_FILE, SAMPLES_FILE


@dataclass(frozen=True)
class Metric:
    name: str
    label: str          # for titles
    unit: str           # for column headers
    scale: float        # displayed value = value / scale
    from_samples: bool  # whether a bootstrap CI comes from samples.jsonl
    higher_is_better: bool
    up: str             # verdict when B is above A beyond noise
    down: str           # verdict when B is below A beyond noise
    same: str           # verdict otherwise


METRICS: dict[str, Metric] = {
    "median_ms": Metric("median_ms", "median time", "ms", 1.0, True, False, "slower", "faster", "same (noise)"),
    "tokens_per_s": Metric("tokens_per_s", "tokens/s (tokens / median time)", "M tok/s", 1e6, True, True,
                           "faster", "slower", "same (noise)"),
    "peak_mem_mib": Metric("peak_mem_mib", "peak memory over inputs", "MiB", 1.0, False, False,
                           "more memory", "less memory", "same"),
}

# verdicts besides each metric's up/down/same
NO_SAMPLES = "no samples"
FEW_SAMPLES = "few samples"
NOT_AVAILABLE = "n/a"
ONLY_A = "only in A"
ONLY_B = "only in B"

# values of the ``match`` column
MATCHED, STATUS_CHANGED, FAILED_BOTH, ONLY_IN_A, ONLY_IN_B = (
    "matched", "status_changed", "failed_both", "only_a", "only_b")
_MATCH_ORDER = [MATCHED, STATUS_CHANGED, FAILED_BOTH, ONLY_IN_A, ONLY_IN_B]
_MODE_ORDER = ["fwd", "bwd", "fwd_bwd"]
_INT_KEYS = ["batch", "heads", "seq_len", "head_dim", "value_dim"]

OUTPUT_COLUMNS = KEY_COLUMNS + [
    "match", "status_a", "status_b", "a", "b", "a_p20", "a_p80", "b_p20", "b_p80", "n_a", "n_b",
    "ratio", "change", "ci_low", "ci_high", "p_value", "beyond_noise", "verdict", "reason_a", "reason_b",
]


# ---------------------------------------------------------------- loading
def _load_run(run_dir, arg: str, metric: Metric) -> tuple[dict[tuple, dict], dict[tuple, np.ndarray] | None]:
    """({key: rows.csv row as strings, the last one per key}, {key: samples in ms} or None when there is no samples.jsonl)."""
    if run_dir is None or str(run_dir) == "":
        raise ValueError(f"{arg}: a run directory is required")
    path = Path(run_dir)
    if not path.exists():
        raise ValueError(f"{arg}: run directory {str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(f"{arg}: {str(path)!r} is not a directory (expected a run directory holding {ROWS_FILE})")
    rows_path = path / ROWS_FILE
    if not rows_path.is_file():
        raise ValueError(f"{arg}: {str(path)!r} has no {ROWS_FILE}; not a lightning-bench run directory")
    try:
        df = pd.read_csv(rows_path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{arg}: {str(rows_path)!r} is empty (no header, no rows)") from None
    need = KEY_COLUMNS + ["status", metric.name] + (["median_ms"] if metric.from_samples else [])
    missing = [c for c in dict.fromkeys(need) if c not in df.columns]
    if missing:
        raise ValueError(f"{arg}: {str(rows_path)!r} is not a lightning-bench rows.csv (missing columns {missing})")
    df = df[df["provider"] != ""]
    for c in ("reason", "n_samples", "p20_ms", "p80_ms"):
        if c not in df.columns:
            df[c] = ""
    rows: dict[tuple, dict] = {}
    for r in df.to_dict("records"):
        key = tuple(r[c] for c in KEY_COLUMNS)
        rows.pop(key, None)  # a re-measured row replaces the old one (and takes its place in the order)
        rows[key] = r
    return rows, _load_samples(path / SAMPLES_FILE)


def _load_samples(path: Path) -> dict[tuple, np.ndarray] | None:
    if not path.is_file():
        return None
    out: dict[tuple, np.ndarray] = {}
    with path.open() as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:  # an interrupted run can leave a partial last line
                obj = json.loads(line)
                key = tuple(str(obj["key"][c]) for c in KEY_COLUMNS)
                s = np.asarray(obj["samples_ms"], dtype=float).ravel()
            except (ValueError, KeyError, TypeError):
                continue
            out[key] = s[np.isfinite(s)]  # the last entry of a key wins, as in rows.csv
    return out


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


# ---------------------------------------------------------------- statistics
def _bootstrap_median_ratio(a: np.ndarray, b: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """n_boot draws of median(B*)/median(A*), each side resampled independently with replacement (vectorised,
    in chunks that keep the index arrays small)."""
    out = np.empty(n_boot)
    chunk = max(1, int(4_000_000 // max(len(a), len(b))))
    for lo in range(0, n_boot, chunk):
        k = min(chunk, n_boot - lo)
        ma = np.median(a[rng.integers(0, len(a), size=(k, len(a)))], axis=1)
        mb = np.median(b[rng.integers(0, len(b), size=(k, len(b)))], axis=1)
        out[lo:lo + k] = mb / ma
    return out


def _rankdata(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="mergesort")
    _, inv, counts = np.unique(v[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    avg = ends - (counts - 1) / 2.0
    r = np.empty(len(v))
    r[order] = avg[inv]
    return r


def mannwhitney_asymptotic(x, y) -> float:
    """Two-sided Mann–Whitney U p-value, normal approximation with tie and continuity correction (what
    ``scipy.stats.mannwhitneyu(method="asymptotic")`` computes); used when scipy is not installed."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n1, n2 = len(x), len(y)
    allv = np.concatenate([x, y])
    u1 = _rankdata(allv)[:n1].sum() - n1 * (n1 + 1) / 2.0
    u = max(u1, n1 * n2 - u1)
    n = n1 + n2
    _, t = np.unique(allv, return_counts=True)
    var = n1 * n2 / 12.0 * ((n + 1) - (t**3 - t).sum() / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(var)
    return float(min(1.0, math.erfc(z / math.sqrt(2.0))))


@functools.lru_cache(maxsize=1)
def _scipy_mwu():
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:  # scipy is optional: not a dependency of the package
        return None
    return mannwhitneyu


def mannwhitney_p(a, b) -> float:
    """Two-sided Mann–Whitney U p-value of samples a vs b: scipy's (exact for small tie-free samples) when scipy is
    installed, else the normal approximation."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    if np.unique(np.concatenate([a, b])).size == 1:
        return 1.0
    fn = _scipy_mwu()
    if fn is None:
        return mannwhitney_asymptotic(a, b)
    return float(fn(a, b, alternative="two-sided").pvalue)


def _cell_rng(seed: int, key: tuple) -> np.random.Generator:
    """A generator per cell, from the seed and the key: a cell's CI does not depend on which other cells are there."""
    return np.random.default_rng([int(seed), zlib.crc32("|".join(key).encode())])


# ---------------------------------------------------------------- comparison
def compare_runs(run_a, run_b, metric: str = "median_ms", confidence: float = 0.95, n_boot: int = 2000,
                 seed: int = 0, min_effect: float = 0.02, providers: Iterable[str] | None = None,
                 min_samples: int = 5) -> pd.DataFrame:
    """Compare run directory ``run_b`` against ``run_a``, one row per config (``results.KEY_COLUMNS``).

    Columns: the key columns (numeric ones as ints), ``match`` (``matched``: ok in both; ``status_changed``;
    ``failed_both``: the same non-ok status in both; ``only_a``; ``only_b``), ``status_a/b``, ``a``, ``b`` (the
    metric in A and B: median ms, tokens/s or MiB), ``a_p20/a_p80/b_p20/b_p80`` (spread, metric units; from the
    samples, else rows.csv; none for memory), ``n_a/n_b`` (raw samples found), ``ratio`` (B/A), ``change``
    (ratio − 1), ``ci_low/ci_high`` (bootstrap CI of the ratio of medians; NaN when unavailable), ``p_value``
    (two-sided Mann–Whitney U of the raw samples), ``beyond_noise`` and ``verdict``: for time metrics "faster" /
    "slower" when the CI excludes 1 and |change| > ``min_effect``, else "same (noise)"; "no samples" when a side has
    no raw samples (ratio from rows.csv, no CI), "few samples" when a side has fewer than ``min_samples``; for
    ``peak_mem_mib`` "more memory" / "less memory" when |change| > ``min_effect``, else "same". Rows that are not
    matched carry "only in A", "only in B", "ok → oom" (status change) or "oom in both".

    ``metric``: "median_ms", "tokens_per_s" (higher is faster; its CI is that of the time medians, inverted) or
    "peak_mem_mib". ``providers``: keep only these. The settings are in ``df.attrs``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    m = METRICS[metric]
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    if (isinstance(min_effect, bool) or not isinstance(min_effect, (int, float)) or not math.isfinite(min_effect)
            or min_effect < 0):
        raise ValueError(f"min_effect must be a finite number >= 0 (a relative change, 0.02 = 2 %), got {min_effect!r}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) or min_samples < 2:
        raise ValueError(f"min_samples must be an integer >= 2, got {min_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(providers, str):
        providers = [providers]
    A, SA = _load_run(run_a, "run_a", m)
    B, SB = _load_run(run_b, "run_b", m)
    if providers is not None:
        wanted = list(dict.fromkeys(providers))
        have = {k[0] for k in A} | {k[0] for k in B}
        if not wanted or not set(wanted) & have:
            raise ValueError(f"providers: none of {wanted} is in run_a or run_b (they have {sorted(have)})")
        A = {k: r for k, r in A.items() if k[0] in wanted}
        B = {k: r for k, r in B.items() if k[0] in wanted}

    records = []
    for key in list(A) + [k for k in B if k not in A]:
        ra, rb = A.get(key), B.get(key)
        rec = dict(zip(KEY_COLUMNS, key))
        rec.update(status_a=None if ra is None else ra["status"], status_b=None if rb is None else rb["status"],
                   reason_a=None if ra is None else ra["reason"], reason_b=None if rb is None else rb["reason"])
        if ra is None or rb is None:
            rec.update(match=ONLY_IN_B if ra is None else ONLY_IN_A, verdict=ONLY_B if ra is None else ONLY_A)
            side, row, samples = ("a", ra, SA) if rb is None else ("b", rb, SB)
            if row["status"] == "ok":
                rec.update(_side_values(m, row, (samples or {}).get(key), side))
        elif ra["status"] == "ok" and rb["status"] == "ok":
            rec.update(match=MATCHED)
            rec.update(_compare_cell(m, key, ra, rb, (SA or {}).get(key), (SB or {}).get(key), confidence, n_boot,
                                     seed, min_effect, min_samples))
        elif ra["status"] == rb["status"]:
            rec.update(match=FAILED_BOTH, verdict=f"{ra['status']} in both")
        else:
            rec.update(match=STATUS_CHANGED, verdict=f"{ra['status']} → {rb['status']}")
            for side, row, samples in (("a", ra, SA), ("b", rb, SB)):
                if row["status"] == "ok":
                    rec.update(_side_values(m, row, (samples or {}).get(key), side))
        records.append(rec)

    df = pd.DataFrame.from_records(records, columns=OUTPUT_COLUMNS)
    for c in _INT_KEYS:
        conv = pd.to_numeric(df[c], errors="coerce")
        if len(df) and conv.notna().all() and (conv == conv.round()).all():
            df[c] = conv.astype("int64")
    for c in ("a", "b", "a_p20", "a_p80", "b_p20", "b_p80", "ratio", "change", "ci_low", "ci_high", "p_value"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    for c in ("n_a", "n_b"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    df["beyond_noise"] = df["verdict"].isin([m.up, m.down])
    df = _sort(df, A, B)
    df.attrs.update(run_a=str(run_a), run_b=str(run_b), metric=metric, confidence=float(confidence),
                    n_boot=int(n_boot), seed=int(seed), min_effect=float(min_effect), min_samples=int(min_samples),
                    samples_a=SA is not None, samples_b=SB is not None)
    return df


def _sort(df: pd.DataFrame, A: dict, B: dict) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    prov = list(dict.fromkeys([k[0] for k in A] + [k[0] for k in B]))
    mode_rank = {mo: i for i, mo in enumerate(_MODE_ORDER)}
    sort = pd.DataFrame({
        "_m": df["match"].map({k: i for i, k in enumerate(_MATCH_ORDER)}),
        "_p": df["provider"].map({p: i for i, p in enumerate(prov)}),
        "_mode": df["mode"].map(lambda x: mode_rank.get(x, len(mode_rank))),
    })
    cols = ["_m", "_p", "dtype", "decay", "batch", "heads", "head_dim", "value_dim", "_mode", "mode", "seq_len"]
    tmp = pd.concat([df, sort], axis=1).sort_values(cols, kind="mergesort")
    return tmp.drop(columns=list(sort.columns)).reset_index(drop=True)


def _time_spread(row, s: np.ndarray | None) -> tuple[float, float, float]:
    """(median, p20, p80) in ms, from the samples if any, else from rows.csv."""
    if s is not None and len(s):
        p20, med, p80 = np.quantile(s, [0.2, 0.5, 0.8])
        return float(med), float(p20), float(p80)
    return _num(row["median_ms"]), _num(row["p20_ms"]), _num(row["p80_ms"])


def _tokens(row) -> float:
    """Tokens per call (batch · seq_len), as the sweep defines tokens/s = tokens / median time."""
    t = _num(row["tokens_per_s"]) * _num(row["median_ms"]) * 1e-3
    if math.isfinite(t) and t > 0:
        return t
    return _num(row["batch"]) * _num(row["seq_len"])


def _side_values(m: Metric, row, s: np.ndarray | None, side: str) -> dict:
    """``side`` ('a' or 'b') metric value, spread and sample count of one ok row."""
    n = 0 if s is None else int(len(s))
    if m.name == "peak_mem_mib":
        return {side: _num(row["peak_mem_mib"]), f"n_{side}": n}
    med, p20, p80 = _time_spread(row, s)
    if m.name == "median_ms":
        return {side: med, f"{side}_p20": p20, f"{side}_p80": p80, f"n_{side}": n}
    tok = _tokens(row)  # tokens/s: the p80 of time is the p20 of speed
    if n == 0 and math.isfinite(_num(row["tokens_per_s"])):
        val = _num(row["tokens_per_s"])
    else:
        val = tok / (med * 1e-3)
    return {side: val, f"{side}_p20": tok / (p80 * 1e-3), f"{side}_p80": tok / (p20 * 1e-3), f"n_{side}": n}


def _compare_cell(m: Metric, key, ra, rb, sa, sb, confidence, n_boot, seed, min_effect, min_samples) -> dict:
    rec = {}
    rec.update(_side_values(m, ra, sa, "a"))
    rec.update(_side_values(m, rb, sb, "b"))
    a, b = rec["a"], rec["b"]
    if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b < 0:
        return {**rec, "verdict": NOT_AVAILABLE}
    if a == 0:
        ratio = 1.0 if b == 0 else math.inf
    else:
        ratio = b / a
    rec.update(ratio=ratio, change=ratio - 1.0)
    big = abs(ratio - 1.0) > min_effect
    if not m.from_samples:  # peak memory: a deterministic value, a relative threshold only
        rec["verdict"] = (m.up if ratio > 1 else m.down) if big else m.same
        return rec
    if sa is None or sb is None or len(sa) == 0 or len(sb) == 0:
        rec["verdict"] = NO_SAMPLES
        return rec
    rec["p_value"] = mannwhitney_p(sa, sb)
    if len(sa) < min_samples or len(sb) < min_samples or np.median(sa) <= 0:
        rec["verdict"] = FEW_SAMPLES
        return rec
    r = _bootstrap_median_ratio(sa, sb, n_boot, _cell_rng(seed, key))
    if m.name == "tokens_per_s":  # tokens/s ratio = (tokens_b / tokens_a) · median_time_a / median_time_b
        r = (_tokens(rb) / _tokens(ra)) / r
    alpha = 1.0 - confidence
    lo, hi = (float(x) for x in np.quantile(r, [alpha / 2, 1 - alpha / 2]))
    rec.update(ci_low=lo, ci_high=hi)
    if big and lo > 1 and ratio > 1:
        rec["verdict"] = m.up
    elif big and hi < 1 and ratio < 1:
        rec["verdict"] = m.down
    else:
        rec["verdict"] = m.same
    return rec


# ---------------------------------------------------------------- formatting helpers
def _fmt(x, sig: int = 4) -> str:
    """A number with ``sig`` significant digits, no exponent; '–' for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return "–"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    dec = max(sig - 1 - int(math.floor(math.log10(abs(x)))), 0)
    return f"{x:.{dec}f}"


def _fmt_ratio(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.3f}" if math.isfinite(x) and abs(x) < 100 else _fmt(x, 4)


def _fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    if p < 1e-4:
        return "<1e-4"
    return f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


def _fmt_n(n) -> str:
    return "–" if n is None or n is pd.NA or (isinstance(n, float) and math.isnan(n)) else str(int(n))


def _settings(df: pd.DataFrame) -> dict:
    at = df.attrs
    return dict(metric=METRICS[at.get("metric", "median_ms")], confidence=at.get("confidence", 0.95),
                min_effect=at.get("min_effect", 0.02), n_boot=at.get("n_boot", 2000),
                run_a=at.get("run_a", "A"), run_b=at.get("run_b", "B"))


def _layout(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(key columns to show as columns, 'name value' strings of key columns constant over df)."""
    shown, common = [], []
    for c in KEY_COLUMNS:
        vals = df[c].astype(str).unique() if len(df) else []
        if c in ("provider", "mode", "seq_len") or len(vals) > 1:
            shown.append(c)
        elif len(vals) == 1:
            common.append(vals[0] if c in ("dtype",) else f"{c} {vals[0]}")
    return shown, common


def _direction(verdict: str, m: Metric) -> int:
    """+1 when B is better than A beyond noise, -1 worse, 0 otherwise."""
    good = m.up if m.higher_is_better else m.down
    bad = m.down if m.higher_is_better else m.up
    return 1 if verdict == good else -1 if verdict == bad else 0


def _value_cells(r, m: Metric) -> tuple[str, str, str, str]:
    """(A, B, B/A, CI) strings of one row."""
    a, b = _fmt(r["a"] / m.scale), _fmt(r["b"] / m.scale)
    ci = "–" if pd.isna(r["ci_low"]) else f"[{_fmt_ratio(r['ci_low'])}, {_fmt_ratio(r['ci_high'])}]"
    return a, b, _fmt_ratio(r["ratio"]), ci


def _summary_line(df: pd.DataFrame) -> str:
    counts = df["verdict"].value_counts()
    parts = [f"{n} {v}" for v, n in counts.items()]
    return ", ".join(parts)


# ---------------------------------------------------------------- Markdown
def _md_escape(s) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], align: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    out += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
    return out


def to_markdown(df: pd.DataFrame, title: str | None = None, label_a: str | None = None,
                label_b: str | None = None) -> str:
    """The comparison as Markdown: a pipe table of the matched configs (B/A, CI, n, p, verdict; cells beyond noise
    in bold with ▲ (B higher) or ▼ (B lower)), then the status changes and the configs in one run only."""
    st = _settings(df)
    m: Metric = st["metric"]
    la, lb = label_a or st["run_a"], label_b or st["run_b"]
    conf = f"{st['confidence'] * 100:g}%"
    lines = [f"### {title or f'{m.label} ({m.unit}): B/A per config'}", ""]
    lines.append(f"A = `{la}`, B = `{lb}`" + ("" if df.empty else "; " + ", ".join(_layout(df)[1])) + ".")
    lines.append("")
    if df.empty:
        lines.append("No configs to compare.")
        return "\n".join(lines) + "\n"
    shown, _ = _layout(df)
    matched = df[df["match"] == MATCHED]
    if len(matched):
        header = shown + [f"A ({m.unit})", f"B ({m.unit})", "B/A"]
        align = ["r" if c in _INT_KEYS else "l" for c in shown] + ["r", "r", "r"]
        if m.from_samples:
            header += [f"{conf} CI", "n A/B", "p"]
            align += ["l", "r", "r"]
        header.append("verdict")
        align.append("l")
        rows = []
        for _, r in matched.iterrows():
            a, b, ratio, ci = _value_cells(r, m)
            if r["beyond_noise"]:
                ratio = f"**{ratio}** {'▲' if r['ratio'] > 1 else '▼'}"
                verdict = f"**{r['verdict']}**"
            else:
                verdict = r["verdict"]
            row = [str(r[c]) for c in shown] + [a, b, ratio]
            if m.from_samples:
                row += [ci, f"{_fmt_n(r['n_a'])}/{_fmt_n(r['n_b'])}", _fmt_p(r["p_value"])]
            rows.append(row + [verdict])
        lines += _md_table(header, align, rows)
        lines.append("")
        if m.from_samples:
            lines.append(f"B/A = ratio of medians ({'> 1: B slower' if not m.higher_is_better else '> 1: B faster'}); "
                         f"CI = {conf} percentile bootstrap of the ratio of medians ({st['n_boot']} resamples of "
                         f"each run's raw samples); p = two-sided Mann–Whitney U. **Bold** ▲/▼: beyond noise (CI "
                         f"excludes 1 and |B/A − 1| > {st['min_effect'] * 100:g}%).")
        else:
            lines.append(f"B/A of {m.name}; **bold** ▲/▼: |B/A − 1| > {st['min_effect'] * 100:g}%.")
        lines.append("")
        lines.append(f"Matched: {len(matched)} ({_summary_line(matched)}).")
        lines.append("")
    changed = df[df["match"] == STATUS_CHANGED]
    if len(changed):
        lines += ["**Status changed**", ""]
        rows = [[str(r[c]) for c in shown] + [r["status_a"], r["status_b"], _fmt(r["a"] / m.scale),
                                              _fmt(r["b"] / m.scale),
                                              _short(r["reason_b"] if r["status_b"] != "ok" else r["reason_a"])]
                for _, r in changed.iterrows()]
        lines += _md_table(shown + ["A", "B", f"A ({m.unit})", f"B ({m.unit})", "reason"],
                           ["r" if c in _INT_KEYS else "l" for c in shown] + ["l", "l", "r", "r", "l"], rows)
        lines.append("")
    for match, name in ((ONLY_IN_A, "Only in A"), (ONLY_IN_B, "Only in B")):
        only = df[df["match"] == match]
        if len(only):
            col = "status_a" if match == ONLY_IN_A else "status_b"
            lines += [f"**{name}** ({len(only)})", ""]
            rows = [[str(r[c]) for c in shown] + [r[col]] for _, r in only.iterrows()]
            lines += _md_table(shown + ["status"], ["r" if c in _INT_KEYS else "l" for c in shown] + ["l"], rows)
            lines.append("")
    failed = df[df["match"] == FAILED_BOTH]
    if len(failed):
        lines.append(f"Not ok in either run: {len(failed)} ({_summary_line(failed)}).")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _short(reason, n: int = 80) -> str:
    s = "" if reason is None or (isinstance(reason, float) and math.isnan(reason)) else str(reason)
    return s if len(s) <= n else s[: n - 1] + "…"


# ---------------------------------------------------------------- terminal
_STYLE = {1: "green", -1: "red", 0: ""}


def print_terminal(df: pd.DataFrame, console=None, label_a: str | None = None, label_b: str | None = None) -> None:
    """Print the comparison with rich: matched configs (B slower / more memory in red, faster / less in green,
    beyond-noise cells in bold), then status changes and configs in one run only."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:  # piped: do not squeeze the table to 80
            console = Console(width=160)
    st = _settings(df)
    m: Metric = st["metric"]
    la, lb = label_a or st["run_a"], label_b or st["run_b"]
    conf = f"{st['confidence'] * 100:g}%"
    console.print(Text(f"A = {la}\nB = {lb}"))
    if df.empty:
        console.print("no configs to compare")
        return
    shown, common = _layout(df)
    matched = df[df["match"] == MATCHED]
    if len(matched):
        t = Table(title=f"{m.label}: B/A" + (f", {conf} bootstrap CI" if m.from_samples else ""),
                  caption=", ".join(common) or None)
        for c in shown:
            t.add_column(c, justify="right" if c in _INT_KEYS else "left", no_wrap=True)
        for c in (f"A ({m.unit})", f"B ({m.unit})", "B/A"):
            t.add_column(c, justify="right", no_wrap=True)
        if m.from_samples:
            t.add_column(f"{conf} CI", no_wrap=True)
            t.add_column("n A/B", justify="right", no_wrap=True)
            t.add_column("p", justify="right", no_wrap=True)
        t.add_column("verdict", no_wrap=True)
        for _, r in matched.iterrows():
            a, b, ratio, ci = _value_cells(r, m)
            style = _STYLE[_direction(r["verdict"], m)]
            if r["beyond_noise"]:
                style += " bold"
            elif r["verdict"] in (NO_SAMPLES, FEW_SAMPLES, NOT_AVAILABLE):
                style = "yellow"
            cells = [Text(str(r[c])) for c in shown] + [Text(a), Text(b), Text(ratio, style=style)]
            if m.from_samples:
                cells += [Text(ci), Text(f"{_fmt_n(r['n_a'])}/{_fmt_n(r['n_b'])}"), Text(_fmt_p(r["p_value"]))]
            cells.append(Text(r["verdict"], style=style))
            t.add_row(*cells)
        console.print(t)
        console.print(Text(f"matched: {len(matched)} ({_summary_line(matched)}); beyond noise = "
                           + (f"CI excludes 1 and " if m.from_samples else "")
                           + f"|B/A - 1| > {st['min_effect'] * 100:g}%"))
    changed = df[df["match"] == STATUS_CHANGED]
    if len(changed):
        t = Table(title="status changed")
        for c in shown + ["A", "B", f"A ({m.unit})", f"B ({m.unit})", "reason"]:
            t.add_column(c, justify="right" if c in _INT_KEYS or "(" in c else "left")
        for _, r in changed.iterrows():
            style = "green" if r["status_b"] == "ok" else "red" if r["status_a"] == "ok" else "yellow"
            t.add_row(*[Text(str(r[c])) for c in shown], Text(r["status_a"]), Text(r["status_b"], style=style),
                      Text(_fmt(r["a"] / m.scale)), Text(_fmt(r["b"] / m.scale)),
                      Text(_short(r["reason_b"] if r["status_b"] != "ok" else r["reason_a"])))
        console.print(t)
    for match, name in ((ONLY_IN_A, "only in A"), (ONLY_IN_B, "only in B")):
        only = df[df["match"] == match]
        if len(only):
            col = "status_a" if match == ONLY_IN_A else "status_b"
            t = Table(title=f"{name} ({len(only)})")
            for c in shown + ["status"]:
                t.add_column(c, justify="right" if c in _INT_KEYS else "left")
            for _, r in only.iterrows():
                t.add_row(*[Text(str(r[c])) for c in shown], Text(r[col]))
            console.print(t)
    failed = df[df["match"] == FAILED_BOTH]
    if len(failed):
        console.print(Text(f"not ok in either run: {len(failed)} ({_summary_line(failed)})"))
