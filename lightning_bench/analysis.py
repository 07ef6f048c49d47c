"""Derived analysis of result sets: scaling exponents and crossover sequence lengths (reads CSVs only).

- Scaling exponent: least-squares fit of log(time) = a + k·log(seq_len) per provider × mode × shape group, with a
  Student-t confidence interval on k (k ≈ 1 for linear attention, ≈ 2 for softmax attention).
- Crossover: the seq_len from which a linear provider is faster than a softmax provider for every larger measured
  seq_len, interpolated in log–log between the two bracketing measurements.
- Fixed cost per call (Hockney's r∞ and n½): for a kernel linear in seq_len, time = F + T / r∞ with T = batch ·
  seq_len tokens per call, so tokens/s = r∞ · T / (T + n½) with n½ = F · r∞; fitted per provider × mode × shape
  group. It says how constant a kernel's tokens/s can be over seq_len: n½ sets the ratio between two lengths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

GROUP = ["batch", "heads", "head_dim", "value_dim", "dtype", "decay"]
# the columns shape groups are formed by: GROUP with the batch replaced by the series (see series_of)
SHAPE = ["series"] + GROUP[1:]


def series_of(df: pd.DataFrame) -> pd.Series:
    """The first key of a row's shape group, as text: its batch size ("2"), or for the rows of a fixed-token series
    "tokens T" — within one heads/dims/dtype/decay group, the batches measured at a single seq_len whose
    batch × seq_len is the same T for ≥ 2 of them (the ``tgs`` preset: the paper's Table 1 keeps tokens per GPU
    fixed), so those rows form one series over seq_len instead of one single-point group per batch. Batches measured
    at several seq_lens (a product grid) keep their own groups."""
    out = df["batch"].astype(int).astype(str)
    if df.empty:
        return out
    for _, g in df.groupby(GROUP[1:], sort=False, dropna=False):
        per_batch = g.groupby("batch")["seq_len"].nunique()
        single = g[g["batch"].isin(per_batch.index[per_batch == 1])]
        tokens = single["batch"] * single["seq_len"]
        for t, idx in single.groupby(tokens).groups.items():
            if single.loc[idx, "batch"].nunique() >= 2:
                out.loc[idx] = f"{_TOKENS}{int(t)}"
    return out


_TOKENS = "tokens "  # prefix of a fixed-token series (series_of); series_tokens reads it back


def series_tokens(series) -> int | None:
    """The tokens per call of a fixed-token ``series`` value ("tokens 262144" → 262144), None for a batch size."""
    s = str(series)
    return int(s[len(_TOKENS):]) if s.startswith(_TOKENS) else None


def with_series(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the ``series`` column of :func:`series_of` (group such frames by :data:`SHAPE`); a frame that
    already has one is returned as it is, so that subsets of one run keep the series of the whole run."""
    return df if "series" in df else df.assign(series=series_of(df))


@dataclass
class ScalingFit:
    exponent: float
    ci_low: float
    ci_high: float
    n_points: int
    seq_min: int
    seq_max: int
    r2: float


def _fit_points(x, time_ms, confidence: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``time_ms`` as float arrays, checked for a line fit with a ``confidence`` interval.

    Raises:
        ValueError: a confidence outside (0, 1), fewer than 3 points or unequal counts, a value ≤ 0, fewer than two
            distinct ``x`` (named ``name`` in the message).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(time_ms, dtype=float)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if x.shape != y.shape or x.size < 3:
        raise ValueError(f"need at least 3 ({name}, time) points of equal count, got {x.size} and {y.size}")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError(f"{name} and time must be > 0")
    if np.unique(x).size < 2:
        raise ValueError(f"need at least two distinct {name} values")
    return x, y


def _half_width(stderr: float, n: int, confidence: float) -> float:
    """Half the Student-t ``confidence`` interval of a fitted coefficient with standard error ``stderr`` from ``n``
    points (n − 2 degrees of freedom); NaN without any."""
    if n > 2 and np.isfinite(stderr):
        return float(stats.t.ppf(0.5 + confidence / 2, n - 2) * stderr)
    return math.nan


def fit_scaling(seq_len, time_ms, confidence: float = 0.95) -> ScalingFit:
    """Fit time ∝ seq_len^k in log–log; returns k with its ``confidence`` interval.

    Raises:
        ValueError: fewer than 3 points, non-positive values, or a confidence outside (0, 1).
    """
    x, y = _fit_points(seq_len, time_ms, confidence, "seq_len")
    r = stats.linregress(np.log(x), np.log(y))
    half = _half_width(r.stderr, x.size, confidence)
    return ScalingFit(float(r.slope), float(r.slope - half), float(r.slope + half), int(x.size), int(x.min()),
                      int(x.max()), float(r.rvalue**2))


def scaling_table(df: pd.DataFrame, min_seq_len: int = 2048, confidence: float = 0.95) -> pd.DataFrame:
    """One row per shape group × provider × mode with the fitted exponent (ok rows with seq_len ≥ min_seq_len).

    Short sequences are excluded by default: there launch latency, not the algorithm, sets the time.
    """
    ok = with_series(df[(df["status"] == "ok") & (df["seq_len"] >= min_seq_len)])
    out = []
    for key, g in ok.groupby(SHAPE + ["provider", "mode"], sort=False):
        g = g.groupby("seq_len", as_index=False)["median_ms"].median()
        if len(g) < 3:
            continue
        f = fit_scaling(g["seq_len"], g["median_ms"], confidence)
        out.append(dict(zip(SHAPE + ["provider", "mode"], key), exponent=f.exponent, ci_low=f.ci_low,
                        ci_high=f.ci_high, n_points=f.n_points, seq_min=f.seq_min, seq_max=f.seq_max, r2=f.r2))
    return pd.DataFrame(out)


@dataclass
class FixedCostFit:
    r_inf: float  # asymptotic tokens/s (1 / the fitted time per token)
    fixed_ms: float  # F: the fitted time per call that does not grow with the tokens
    fixed_ci: tuple  # F's confidence interval (ms)
    n_half: float  # F · r_inf: the tokens per call at which tokens/s is half of r_inf
    n_points: int
    tokens_min: int
    tokens_max: int
    r2: float

    def flatness(self, tokens_short: float, tokens_long: float) -> float:
        """The model's tokens/s at ``tokens_short`` over its tokens/s at ``tokens_long`` (tokens per call)."""
        return (tokens_short / (tokens_short + self.n_half)) / (tokens_long / (tokens_long + self.n_half))


def fit_fixed_cost(tokens, time_ms, confidence: float = 0.95) -> FixedCostFit:
    """Fit time = F + tokens / r∞ (Hockney's r∞, n½ model of a pipelined operation: R. W. Hockney, C. R. Jesshope,
    *Parallel Computers 2*, 1988, §1.3.3) for a kernel whose work is linear in the tokens per call (batch · seq_len).

    Fitted as the time per token against 1 / tokens (time / T = 1 / r∞ + F · (1 / T)), an ordinary least-squares
    line whose points carry about the same relative noise at every length — a fit of time against T would let the
    longest rows' absolute noise swamp F. ``confidence``: the Student-t interval of F.

    Raises:
        ValueError: fewer than 3 points, fewer than 2 distinct token counts, non-positive values, or a confidence
            outside (0, 1).
    """
    t, y = _fit_points(tokens, time_ms, confidence, "tokens")
    r = stats.linregress(1.0 / t, y / t)
    half = _half_width(r.stderr, t.size, confidence)
    per_token_ms = float(r.intercept)
    r_inf = 1e3 / per_token_ms if per_token_ms > 0 else math.nan  # NaN: time per token falls below 0 (no model)
    fixed = float(r.slope)
    return FixedCostFit(r_inf, fixed, (fixed - half, fixed + half), fixed * r_inf / 1e3, int(t.size), int(t.min()),
                        int(t.max()), float(r.rvalue**2))


def fixed_cost_table(df: pd.DataFrame, families=("linear", "floor"), confidence: float = 0.95) -> pd.DataFrame:
    """One row per shape group × provider × mode of the providers whose ``family`` is in ``families`` (the model
    holds for work linear in seq_len; softmax attention's is not): r∞ (tokens/s), F (ms) with its interval, n½
    (tokens per call) and n½ in seq_len at the group's batch (``n_half_seq``), from ok rows of product-grid groups
    (a fixed-token series has one token count). Groups with fewer than 3 seq_lens are left out."""
    ok = with_series(df[df["status"] == "ok"])
    if "family" in ok:
        ok = ok[ok["family"].isin(families)]
    out = []
    for key, g in ok.groupby(SHAPE + ["provider", "mode"], sort=False):
        if series_tokens(key[0]) is not None:
            continue
        g = g.groupby(["batch", "seq_len"], as_index=False)["median_ms"].median()
        if g["seq_len"].nunique() < 3:
            continue
        tokens = g["batch"] * g["seq_len"]
        f = fit_fixed_cost(tokens, g["median_ms"], confidence)
        batch = int(g["batch"].iloc[0])
        out.append(dict(zip(SHAPE + ["provider", "mode"], key), r_inf=f.r_inf, fixed_ms=f.fixed_ms,
                        fixed_ci_low=f.fixed_ci[0], fixed_ci_high=f.fixed_ci[1], n_half=f.n_half,
                        n_half_seq=f.n_half / batch, n_points=f.n_points, seq_min=int(g["seq_len"].min()),
                        seq_max=int(g["seq_len"].max()), r2=f.r2,
                        model_flatness=f.flatness(batch * g["seq_len"].min(), batch * g["seq_len"].max())))
    return pd.DataFrame(out)


@dataclass
class Crossover:
    kind: str  # "crosses", "always_faster", "never_faster"
    seq_len: float  # interpolated crossover (NaN unless kind == "crosses"; the first measured n for always_faster)
    bracket: tuple  # (n_lo, n_hi) measured points around the crossover


def crossover(seq_len, t_linear, t_softmax) -> Crossover:
    """Seq_len from which the linear provider is faster than the softmax one at every larger common seq_len.

    Inputs are aligned arrays over the seq_lens both providers measured. Interpolates the sign change of
    log(t_linear / t_softmax) linearly in log(seq_len).

    Raises:
        ValueError: empty or misaligned inputs, or non-positive times.
    """
    n = np.asarray(seq_len, dtype=float)
    a = np.asarray(t_linear, dtype=float)
    b = np.asarray(t_softmax, dtype=float)
    if n.size == 0 or not (n.shape == a.shape == b.shape):
        raise ValueError("seq_len, t_linear and t_softmax must be non-empty and aligned")
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("times must be > 0")
    order = np.argsort(n)
    n, a, b = n[order], a[order], b[order]
    diff = np.log(a) - np.log(b)  # < 0: linear faster
    faster = diff < 0
    if faster.all():
        return Crossover("always_faster", float(n[0]), (float(n[0]), float(n[0])))
    if not faster[-1]:
        return Crossover("never_faster", math.nan, (float(n[-1]), float(n[-1])))
    last_slow = int(np.nonzero(~faster)[0].max())  # faster from last_slow + 1 on
    n0, n1 = n[last_slow], n[last_slow + 1]
    d0, d1 = diff[last_slow], diff[last_slow + 1]
    frac = d0 / (d0 - d1) if d0 != d1 else 0.5
    x = math.exp(math.log(n0) + frac * (math.log(n1) - math.log(n0)))
    return Crossover("crosses", float(x), (float(n0), float(n1)))


def crossover_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every linear provider against every softmax provider, per shape group and mode."""
    ok = with_series(df[df["status"] == "ok"])
    if "family" not in ok:
        return pd.DataFrame()
    out = []
    for key, g in ok.groupby(SHAPE + ["mode"], sort=False):
        med = g.pivot_table(index="seq_len", columns="provider", values="median_ms", aggfunc="median")
        fam = g.drop_duplicates("provider").set_index("provider")["family"]
        for lin in [p for p in med.columns if fam.get(p) == "linear"]:
            for soft in [p for p in med.columns if fam.get(p) == "softmax"]:
                both = med[[lin, soft]].dropna()
                if both.empty:
                    continue
                c = crossover(both.index.values, both[lin].values, both[soft].values)
                out.append(dict(zip(SHAPE + ["mode"], key), linear=lin, softmax=soft, kind=c.kind,
                                crossover_seq_len=c.seq_len, n_lo=c.bracket[0], n_hi=c.bracket[1],
                                seq_min=int(both.index.min()), seq_max=int(both.index.max())))
    return pd.DataFrame(out)
