"""Performance-regression gate (issue #6): compare a candidate result set against a baseline, cell by cell, and
decide whether any cell regressed beyond noise. ``lightning-bench gate`` is the command; this module is the logic.

Result sets
    A *result set* is a run directory as the sweep writes it: ``rows.csv`` + ``samples.jsonl`` (raw samples, required
    for the time metrics) + optionally ``env.json`` and ``ceilings.json`` (reference workload). Baselines are result
    sets kept under ``results/baselines/<gpu-slug>/`` (``<gpu-slug>`` from env.json's GPU name, "NVIDIA H200" →
    ``nvidia-h200``; ``cpu`` without a GPU). ``--baseline`` accepts a result-set directory, its ``rows.csv``, the
    issue's spelling ``results/baselines/<gpu-slug>.csv`` (read as the directory of that name) or the baselines root
    ``results/baselines`` (the candidate's GPU picks the subdirectory).

Decision rule (per matched cell ok in both runs; Holm over the cells of one metric)
    time (median ms, lower is better): ratio r = median(candidate) / median(baseline), after dividing the candidate's
    samples by the reference-workload factor when ``normalize`` is on. The cell is a *regression* when all three
    hold: (1) the Mann–Whitney U p-value of the two sample sets, Holm-adjusted over every tested cell of the metric,
    is ≤ α = 1 − confidence (default 0.01); (2) the percentile-bootstrap CI (level ``confidence``) of the ratio of
    medians lies above 1 (``compare``'s bootstrap, reused); (3) r > 1 + min_effect (default 5 %). An *improvement*
    is the mirror image (p, CI below 1, r < 1 − min_effect). Anything else passes.
    Why: Holm's step-down over the m cells keeps the probability of *any* false alarm in an A/A comparison at ≤ α
    when the p-values are valid (FWER control, uniformly more powerful than Bonferroni's α/m); the CI requires the
    *median* to have moved (Mann–Whitney also reacts to a change of shape); the minimum effect keeps real but
    irrelevant changes, and run-to-run shifts that within-run samples cannot see (clocks, another machine of the
    same model), from failing CI. tokens/s is the same test on the inverted ratio (regression: r < 1 − min_effect);
    peak memory is deterministic per row: regression when r > 1 + min_effect (default 10 %) and the increase is
    over 1 MiB, no statistics.
    A status change ok → oom/error/numerics_failed/… is a regression too (ok → skipped, a provider missing on the
    candidate machine, is only noted).

Drift normalisation (``normalize=True``)
    Each CUDA sweep times a fixed reference workload (a 1 GiB device copy and an 8192³ bf16 matmul,
    :mod:`ceilings`) at its start and its end (``ceilings.json``: ``reference_start`` / ``reference_end``; the
    geometric mean of the points is the run's reference time). factor = reference(candidate) / reference(baseline);
    candidate samples are divided by it, so a machine or clock that is 10 % slower on the reference does not read
    as a 10 % regression. ``reference="copy"`` (default) for memory-bound kernels such as ours, ``"matmul"`` for
    compute-bound ones. A side without a reference → no normalisation, and a note says so.

Re-measurement (``rerun``)
    The flagged cells (regressions and status regressions) are measured again, and a flagged cell stays a
    regression only when the re-measurement alone shows it again (same rule, Holm over the re-tested cells): an
    independent replication, not a pooling with the run that raised the flag. Unconfirmed cells become
    "not confirmed" and pass. Two ways, chosen by ``rerun_baseline``:

    * **Both sides, interleaved** (default whenever the baseline's source can be had): the baseline's code (its
      recorded git commit, extracted with ``git archive``, or a source directory given explicitly) and the current
      checkout each measure exactly the flagged configs with their own ``run_sweep``, in a subprocess per side and
      round (``PYTHONPATH`` points at that side's source), alternating ABBA over ``rounds`` (round 1 baseline then
      candidate, round 2 candidate then baseline, …), samples pooled per side. The re-measured candidate is judged
      against the re-measured baseline: the same machine, minutes apart, so clock, temperature and host drift
      cancel and no normalisation is applied. ``LIGHTNING_BENCH_PLANTED_SLOWDOWN`` (the test-only slowdown standing
      in for a slower candidate) is removed from the baseline side's environment.
    * **Candidate side only** (``rerun_baseline="none"``, or no baseline source): the current checkout measures
      the flagged configs in-process (:func:`lightning_bench.sweep.run_sweep`), ``rounds`` times, and the pooled
      samples are judged against the stored baseline samples (the rerun's own reference workload for ``normalize``).

Exit codes: 0 no (confirmed) regression, 1 regression, 2 invalid input (:class:`GateInputError`).

Calibration: :func:`estimate_false_alarm_rate` (A/A by resampling one run's samples) and :func:`estimate_power`
(planted slowdown on resampled samples) run the same decision code as the gate.
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from . import compare as _cmp
from .results import ENV_FILE, KEY_COLUMNS, REQUIRED_COLUMNS, ROWS_FILE, SAMPLES_FILE

SCHEMA = "lightning-bench-gate/1"
EXIT_OK, EXIT_REGRESSION, EXIT_INVALID = 0, 1, 2
CEILINGS_FILE = "ceilings.json"
BASELINE_INFO_FILE = "baseline.json"
DEFAULT_BASELINES_ROOT = Path("results/baselines")
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the directory holding this lightning_bench package
PLANTED_SLOWDOWN_ENV = "LIGHTNING_BENCH_PLANTED_SLOWDOWN"  # kernels.lightning_attn2.kernel's test-only switch

METRICS = ("time", "tokens_per_s", "peak_mem")
METRIC_ALIASES = {"time": "time", "median_ms": "time", "tokens_per_s": "tokens_per_s", "tokens": "tokens_per_s",
                  "peak_mem": "peak_mem", "peak_mem_mib": "peak_mem", "memory": "peak_mem", "mem": "peak_mem"}
METRIC_UNITS = {"time": "ms", "tokens_per_s": "M tok/s", "peak_mem": "MiB"}
METRIC_SCALE = {"time": 1.0, "tokens_per_s": 1e6, "peak_mem": 1.0}
HIGHER_IS_BETTER = {"time": False, "tokens_per_s": True, "peak_mem": False}
DEFAULT_MIN_EFFECT = {"time": 0.05, "tokens_per_s": 0.05, "peak_mem": 0.10}
MEMORY_FLOOR_MIB = 1.0
REFERENCES = {"copy": "copy_median_ms", "matmul": "matmul_median_ms"}
CORRECTIONS = ("holm", "bonferroni", "none")

# verdicts
REGRESSION, IMPROVEMENT, PASS, INCONCLUSIVE = "regression", "improvement", "pass", "inconclusive"
STATUS_REGRESSION, NOT_CONFIRMED = "status regression", "not confirmed"
FAILING = (REGRESSION, STATUS_REGRESSION)

_INT_KEYS = ("batch", "heads", "seq_len", "head_dim", "value_dim")
_MODE_ORDER = {"fwd": 0, "bwd": 1, "fwd_bwd": 2}


class GateInputError(ValueError):
    """Invalid input to the gate (missing file, schema mismatch, no overlapping cells, bad option): exit code 2."""


# ================================================================ settings
@dataclass
class GateSettings:
    """How the gate decides. ``min_effect``: per metric, relative (0.05 = 5 %); missing metrics take
    :data:`DEFAULT_MIN_EFFECT`. ``confidence``: the bootstrap CI level, and α = 1 − confidence is the family-wise
    level of the Holm (or Bonferroni) correction over the cells of one metric."""

    metrics: tuple = ("time",)
    min_effect: dict = field(default_factory=dict)
    confidence: float = 0.99
    correction: str = "holm"
    n_boot: int = 4000
    seed: int = 0
    min_samples: int = 5
    normalize: bool = False
    reference: str = "copy"
    providers: tuple | None = None

    def __post_init__(self):
        if isinstance(self.metrics, str):
            self.metrics = parse_metrics(self.metrics)
        self.metrics = tuple(dict.fromkeys(_metric_name(m) for m in self.metrics))
        if not self.metrics:
            raise GateInputError("metrics: give at least one of " + ", ".join(METRICS))
        if isinstance(self.min_effect, (int, float)) and not isinstance(self.min_effect, bool):
            self.min_effect = {"time": float(self.min_effect), "tokens_per_s": float(self.min_effect)}
        elif isinstance(self.min_effect, str):
            self.min_effect = parse_min_effect(self.min_effect)
        me = dict(DEFAULT_MIN_EFFECT)
        for k, v in dict(self.min_effect or {}).items():
            name = _metric_name(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v < 1:
                raise GateInputError(f"min-effect for {name} must be a number in [0, 1) (0.05 = 5 %), got {v!r}")
            me[name] = float(v)
        self.min_effect = me
        c = self.confidence
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < 1:
            raise GateInputError(f"confidence must be a number strictly between 0 and 1, got {c!r}")
        if self.correction not in CORRECTIONS:
            raise GateInputError(f"correction must be one of {CORRECTIONS}, got {self.correction!r}")
        if isinstance(self.n_boot, bool) or not isinstance(self.n_boot, (int, np.integer)) or self.n_boot < 100:
            raise GateInputError(f"n_boot must be an integer >= 100, got {self.n_boot!r}")
        if isinstance(self.min_samples, bool) or not isinstance(self.min_samples, (int, np.integer)) \
                or self.min_samples < 2:
            raise GateInputError(f"min_samples must be an integer >= 2, got {self.min_samples!r}")
        if self.reference not in REFERENCES:
            raise GateInputError(f"reference must be one of {sorted(REFERENCES)}, got {self.reference!r}")
        if isinstance(self.providers, str):
            self.providers = (self.providers,)
        if self.providers is not None:
            self.providers = tuple(dict.fromkeys(p for p in self.providers if p)) or None

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    def as_dict(self) -> dict:
        return dict(metrics=list(self.metrics), min_effect=dict(self.min_effect), confidence=self.confidence,
                    alpha=self.alpha, correction=self.correction, n_boot=int(self.n_boot), seed=int(self.seed),
                    min_samples=int(self.min_samples), normalize=bool(self.normalize), reference=self.reference,
                    providers=None if self.providers is None else list(self.providers))


def _metric_name(m: str) -> str:
    name = METRIC_ALIASES.get(str(m).strip().lower())
    if name is None:
        raise GateInputError(f"unknown metric {m!r}; use {', '.join(METRICS)}")
    return name


def parse_metrics(text: str) -> tuple:
    """'time,peak_mem' → ('time', 'peak_mem')."""
    return tuple(dict.fromkeys(_metric_name(x) for x in str(text).replace(" ", "").split(",") if x))


def parse_min_effect(text: str) -> dict:
    """'0.05' → {time: 0.05, tokens_per_s: 0.05}; 'time=0.05,peak_mem=0.10' → per metric. Percent signs allowed
    ('5%')."""
    out: dict[str, float] = {}
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        name, _, val = part.rpartition("=")
        try:
            v = float(val[:-1]) / 100 if val.endswith("%") else float(val)
        except ValueError:
            raise GateInputError(f"--min-effect: {part!r} is not a number or METRIC=NUMBER "
                                 "(e.g. 0.05 or time=0.05,peak_mem=0.10)") from None
        names = [_metric_name(name)] if name else ["time", "tokens_per_s"]
        for n in names:
            out[n] = v
    if not out:
        raise GateInputError("--min-effect: empty")
    return out


# ================================================================ result sets
@dataclass
class ResultSet:
    """One side of the gate: rows (last row per key, strings as in rows.csv), raw samples, env and ceilings."""

    path: Path
    arg: str
    rows: dict
    samples: dict | None
    env: dict | None = None
    ceilings: dict | None = None
    notes: list = field(default_factory=list)

    @property
    def gpu(self) -> str:
        return gpu_name(self.env)

    def info(self) -> dict:
        git = (self.env or {}).get("git") or {}
        return dict(path=str(self.path), gpu=self.gpu, slug=gpu_slug(self.env), commit=git.get("commit"),
                    dirty=git.get("dirty"), timestamp_utc=(self.env or {}).get("timestamp_utc"),
                    rows=len(self.rows), samples=self.samples is not None,
                    reference=reference_times(self.ceilings))


def gpu_name(env: dict | None) -> str:
    gpu = (env or {}).get("gpu")
    if isinstance(gpu, dict) and gpu.get("name"):
        return str(gpu["name"])
    return "cpu" if env is not None else "unknown"


def gpu_slug(env_or_name) -> str:
    """'NVIDIA H200' → 'nvidia-h200' (the baseline directory name); env.json without a GPU → 'cpu'."""
    name = env_or_name if isinstance(env_or_name, str) else gpu_name(env_or_name)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "unknown"


def _read_json(path: Path, arg: str, notes: list) -> dict | None:
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as ex:
        notes.append(f"{arg}: {path} is not readable JSON ({type(ex).__name__}); ignored")
        return None
    return obj if isinstance(obj, dict) else None


def resolve_result_set(path, arg: str, candidate_env: dict | None = None) -> Path:
    """The result-set directory that ``path`` names (see the module doc). Raises GateInputError."""
    if path is None or str(path) == "":
        raise GateInputError(f"{arg}: a result set (run directory) is required")
    p = Path(path)
    if p.is_file():
        if p.name == ROWS_FILE:
            return p.parent
        if p.suffix == ".csv" and p.with_suffix("").is_dir():
            return p.with_suffix("")
        raise GateInputError(f"{arg}: {str(p)!r} is a file; expected a result-set directory holding {ROWS_FILE} and "
                             f"{SAMPLES_FILE} (or that {ROWS_FILE})")
    if not p.exists():
        if p.suffix == ".csv" and p.with_suffix("").is_dir():  # results/baselines/<gpu>.csv → results/baselines/<gpu>/
            return p.with_suffix("")
        raise GateInputError(f"{arg}: {str(p)!r} does not exist")
    if not (p / ROWS_FILE).is_file():
        have = sorted(d.name for d in p.iterdir() if d.is_dir() and (d / ROWS_FILE).is_file())
        if candidate_env is not None and have:
            slug = gpu_slug(candidate_env)
            if slug in have:
                return p / slug
            raise GateInputError(f"{arg}: {str(p)!r} holds no baseline for the candidate's GPU {slug!r} (it has "
                                 f"{have}); record one with `lightning-bench gate --update-baseline`")
        raise GateInputError(f"{arg}: {str(p)!r} has no {ROWS_FILE}; not a lightning-bench result set"
                             + (f" (baselines inside: {have})" if have else ""))
    return p


def load_result_set(path, arg: str, candidate_env: dict | None = None, need_samples: bool = True) -> ResultSet:
    """Read a result set; schema problems raise GateInputError naming the file."""
    d = resolve_result_set(path, arg, candidate_env)
    rows_path = d / ROWS_FILE
    try:
        with rows_path.open(newline="") as f:
            header = f.readline().strip().split(",")
    except OSError as ex:
        raise GateInputError(f"{arg}: cannot read {str(rows_path)!r}: {ex.strerror or ex}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if header == [""]:
        raise GateInputError(f"{arg}: {str(rows_path)!r} is empty (no header, no rows)")
    if missing:
        raise GateInputError(f"{arg}: {str(rows_path)!r} does not match the rows.csv schema (missing columns "
                             f"{missing})")
    try:
        rows, samples = _cmp._load_run(d, arg, _cmp.METRICS["median_ms"])
    except ValueError as ex:
        raise GateInputError(str(ex)) from None
    samples_path = d / SAMPLES_FILE
    if need_samples:
        if samples is None and any(r["status"] == "ok" for r in rows.values()):
            raise GateInputError(f"{arg}: {str(d)!r} has no {SAMPLES_FILE}: the gate tests raw samples (a sweep writes "
                                 "them beside rows.csv; keep them with the CSV)")
        if samples is not None and not samples and any(r["status"] == "ok" for r in rows.values()):
            raise GateInputError(f"{arg}: {str(samples_path)!r} holds no valid line ({{\"key\": …, \"samples_ms\": "
                                 "[…]}} per ok row); schema mismatch")
    notes: list[str] = []
    env = _read_json(d / ENV_FILE, arg, notes)
    ceilings = _read_json(d / CEILINGS_FILE, arg, notes)
    return ResultSet(path=d, arg=arg, rows=rows, samples=samples, env=env, ceilings=ceilings, notes=notes)


# ================================================================ reference workload
def _geomean(xs) -> float:
    xs = [float(x) for x in xs if isinstance(x, (int, float)) and math.isfinite(x) and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def reference_times(ceilings: dict | None) -> dict | None:
    """The run's reference-workload times from its ceilings.json: {"copy": ms, "matmul": ms, "points": [...],
    "source": ..., "drift": {kind: end/start}} or None. Points: ``reference_start`` and ``reference_end`` (a sweep
    writes both); an older ceilings.json has only the top-level copy/matmul times (one point, "legacy")."""
    if not isinstance(ceilings, dict):
        return None
    points, names = [], []
    start = ceilings.get("reference_start")
    if isinstance(start, dict):
        points.append(start)
        names.append("start")
    elif any(k in ceilings for k in REFERENCES.values()):
        points.append({k: ceilings.get(k) for k in REFERENCES.values()})
        names.append("legacy")
    end = ceilings.get("reference_end")
    if isinstance(end, dict):
        points.append(end)
        names.append("end")
    out: dict = {"points": names, "source": "+".join(names) or None, "drift": {}}
    for kind, col in REFERENCES.items():
        out[kind] = _geomean(p.get(col) for p in points)
        if len(points) >= 2:
            a, b = _geomean([points[0].get(col)]), _geomean([points[-1].get(col)])
            out["drift"][kind] = b / a if math.isfinite(a) and math.isfinite(b) else math.nan
    if not any(math.isfinite(out[k]) for k in REFERENCES):
        return None
    return out


def _normalization(base: ResultSet, cand_ceilings: dict | None, st: GateSettings, label: str = "candidate") -> dict:
    """{"requested", "applied", "reference", "factor", "baseline_ms", "candidate_ms", "note"}; factor 1 when not
    applied."""
    col = st.reference
    rb, rc = reference_times(base.ceilings), reference_times(cand_ceilings)
    vb = rb[col] if rb else math.nan
    vc = rc[col] if rc else math.nan
    out = dict(requested=st.normalize, applied=False, reference=col, factor=1.0, baseline_ms=vb, candidate_ms=vc,
               note="")
    have = math.isfinite(vb) and math.isfinite(vc)
    f = vc / vb if have else math.nan
    if st.normalize:
        if have:
            out.update(applied=True, factor=f,
                       note=f"{label} samples divided by {f:.4f}, the {label}/baseline ratio of the reference "
                            f"workload ({col}: {vc:.4g} vs {vb:.4g} ms)")
            if not 0.5 <= f <= 2:
                out["note"] += "; the machines differ by more than 2x on it: a coarse correction"
        else:
            which = [n for n, v in (("baseline", vb), (label, vc)) if not math.isfinite(v)]
            out["note"] = (f"--normalize requested but the {' and '.join(which)} has no {col} reference time "
                           f"({CEILINGS_FILE} from a CUDA sweep): not normalised")
    elif have and abs(f - 1) > 0.03:
        out["note"] = (f"the reference workload ({col}) differs by {100 * (f - 1):+.1f}% between the runs (a slower "
                       "machine or clock?); --normalize divides it out")
    out["raw_factor"] = f
    return out


# ================================================================ statistics
def adjust_pvalues(p, method: str = "holm") -> np.ndarray:
    """Family-wise adjusted p-values (NaNs stay NaN and are not counted in the family). ``holm``: Holm's step-down,
    adj_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j)) over the ascending p_(j); ``bonferroni``: min(1, m p);
    ``none``: p. Reject where adj ≤ α."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    if method == "none":
        adj = q.copy()
    elif method == "bonferroni":
        adj = np.minimum(1.0, q * m)
    elif method == "holm":
        order = np.argsort(q, kind="mergesort")
        stepped = np.minimum(1.0, (m - np.arange(m)) * q[order])
        adj = np.empty(m)
        adj[order] = np.maximum.accumulate(stepped)
    else:
        raise GateInputError(f"correction must be one of {CORRECTIONS}, got {method!r}")
    out[ok] = adj
    return out


def _ci(a: np.ndarray, b: np.ndarray, confidence: float, n_boot: int, rng) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(b)/median(a) (``compare``'s resampler)."""
    r = _cmp._bootstrap_median_ratio(a, b, n_boot, rng)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(r, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def _judge(ratio: float, significant: bool, ci, me: float, higher_is_better: bool, p_adj: float,
           alpha: float) -> tuple[str, float, float, str]:
    """(verdict, ci_low, ci_high, reason) for one sampled cell. ``ci``: (lo, hi), or a callable giving it (computed
    only when the verdict needs it)."""
    bad = ratio < 1 - me if higher_is_better else ratio > 1 + me
    good = ratio > 1 + me if higher_is_better else ratio < 1 - me
    lo = hi = math.nan
    if not callable(ci):
        lo, hi = ci
    if not (bad or good):
        return PASS, lo, hi, f"change {_pct(ratio - 1)} within ±{100 * me:g}%"
    if not significant:
        return PASS, lo, hi, f"change {_pct(ratio - 1)} not significant (adjusted p {p_adj:.2g} > {alpha:g})"
    if callable(ci):
        lo, hi = ci()
    up = lo > 1
    down = hi < 1
    worse = down if higher_is_better else up
    better = up if higher_is_better else down
    if bad and worse:
        return REGRESSION, lo, hi, f"{_pct(ratio - 1)}, CI excludes 1, adjusted p {p_adj:.2g}"
    if good and better:
        return IMPROVEMENT, lo, hi, f"{_pct(ratio - 1)}, CI excludes 1, adjusted p {p_adj:.2g}"
    return PASS, lo, hi, f"change {_pct(ratio - 1)} but the CI [{lo:.3f}, {hi:.3f}] includes 1"


@functools.lru_cache(maxsize=256)
def min_attainable_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided Mann–Whitney p-value that n_a vs n_b samples can give (complete separation, no ties):
    a cell cannot be flagged when it exceeds the corrected threshold, whatever the data."""
    return _cmp.mannwhitney_p(np.arange(n_a, dtype=float), np.arange(n_a, n_a + n_b, dtype=float))


def _cell_rng(seed: int, key, metric: str):
    return _cmp._cell_rng(seed, tuple(str(k) for k in key) + (metric,))


def decide_sampled(cells: list[dict], metric: str = "time", *, min_effect: float = 0.05, confidence: float = 0.99,
                   correction: str = "holm", n_boot: int = 4000, seed: int = 0, min_samples: int = 5,
                   lazy_ci: bool = False) -> list[dict]:
    """Decide a family of sampled cells (module doc). Each input cell: {"key", "a": baseline samples (ms), "b":
    candidate samples (ms, already normalised), "tok_ratio": tokens_b / tokens_a (tokens/s only; default 1)}.
    Returns, per cell: n_baseline, n_candidate, baseline, candidate (medians in metric units), ratio, ci_low,
    ci_high, p_value, p_adjusted, significant, verdict, reason. ``lazy_ci``: bootstrap only where the verdict
    depends on it (the calibration loops; same verdicts)."""
    hib = HIGHER_IS_BETTER[metric]
    alpha = 1.0 - confidence
    out, pvals = [], []
    for c in cells:
        a = None if c.get("a") is None else np.asarray(c["a"], float)
        b = None if c.get("b") is None else np.asarray(c["b"], float)
        rec = dict(n_baseline=0 if a is None else len(a), n_candidate=0 if b is None else len(b), baseline=math.nan,
                   candidate=math.nan, ratio=math.nan, ci_low=math.nan, ci_high=math.nan, p_value=math.nan,
                   p_adjusted=math.nan, significant=False, verdict=INCONCLUSIVE, reason="")
        out.append(rec)
        if a is None or b is None or len(a) == 0 or len(b) == 0:
            missing = [side for side, x in (("baseline", a), ("candidate", b)) if x is None or len(x) == 0]
            rec["reason"] = "no raw samples on the " + " and the ".join(missing)
            pvals.append(math.nan)
            continue
        ma, mb = float(np.median(a)), float(np.median(b))
        if not (ma > 0 and mb > 0):
            rec["reason"] = "non-positive median time"
            pvals.append(math.nan)
            continue
        tr = float(c.get("tok_ratio", 1.0) or 1.0)
        if metric == "tokens_per_s":
            tok = float(c.get("tokens", 1.0) or 1.0)
            rec.update(baseline=tok / (ma * 1e-3), candidate=tok * tr / (mb * 1e-3), ratio=tr * ma / mb)
        else:
            rec.update(baseline=ma, candidate=mb, ratio=mb / ma)
        if len(a) < min_samples or len(b) < min_samples:
            rec["reason"] = f"fewer than {min_samples} samples ({len(a)}/{len(b)})"
            pvals.append(math.nan)
            continue
        rec["p_value"] = _cmp.mannwhitney_p(a, b)
        pvals.append(rec["p_value"])
    adj = adjust_pvalues(pvals, correction)
    for c, rec, pa in zip(cells, out, adj):
        if not math.isfinite(pa):
            continue
        rec["p_adjusted"] = float(pa)
        rec["significant"] = bool(pa <= alpha)
        a, b = np.asarray(c["a"], float), np.asarray(c["b"], float)
        tr = float(c.get("tok_ratio", 1.0) or 1.0)

        def ci_fn(a=a, b=b, tr=tr, key=c.get("key", ())):
            lo, hi = _ci(a, b, confidence, n_boot, _cell_rng(seed, key, "time"))
            return (tr / hi, tr / lo) if metric == "tokens_per_s" else (lo, hi)

        ci = ci_fn if lazy_ci else ci_fn()
        verdict, lo, hi, reason = _judge(rec["ratio"], rec["significant"], ci, min_effect, hib, rec["p_adjusted"],
                                         alpha)
        rec.update(verdict=verdict, ci_low=lo, ci_high=hi, reason=reason)
    return out


def decide_memory(cells: list[dict], min_effect: float = 0.10, floor_mib: float = MEMORY_FLOOR_MIB) -> list[dict]:
    """Peak memory (deterministic per row): regression when candidate/baseline > 1 + min_effect and the increase
    exceeds ``floor_mib``; improvement mirrored. Input cells: {"key", "a": MiB, "b": MiB}."""
    out = []
    for c in cells:
        a, b = _cmp._num(c.get("a")), _cmp._num(c.get("b"))
        rec = dict(n_baseline=None, n_candidate=None, baseline=a, candidate=b, ratio=math.nan, ci_low=math.nan,
                   ci_high=math.nan, p_value=math.nan, p_adjusted=math.nan, significant=False, verdict=INCONCLUSIVE,
                   reason="")
        out.append(rec)
        if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b < 0:
            rec["reason"] = "no peak-memory value (CPU runs have no allocator statistics)"
            continue
        ratio = (1.0 if b == 0 else math.inf) if a == 0 else b / a
        rec["ratio"] = ratio
        if ratio > 1 + min_effect and b - a > floor_mib:
            rec.update(verdict=REGRESSION, reason=f"{_pct(ratio - 1)} ({b - a:+.1f} MiB)")
        elif ratio < 1 - min_effect and a - b > floor_mib:
            rec.update(verdict=IMPROVEMENT, reason=f"{_pct(ratio - 1)} ({b - a:+.1f} MiB)")
        else:
            rec.update(verdict=PASS, reason=f"change {_pct(ratio - 1) if math.isfinite(ratio) else '∞'} within "
                                            f"±{100 * min_effect:g}% or {floor_mib:g} MiB")
    return out


# ================================================================ the gate
@dataclass
class GateResult:
    """What the gate found. ``cells``: one dict per matched config × metric (key columns, metric, baseline,
    candidate, ratio, ratio_raw, ci_low, ci_high, p_value, p_adjusted, n_baseline, n_candidate, verdict, reason,
    and after --rerun first_verdict and rerun). ``status_changes``: configs whose status differs (ok → oom is a
    regression). ``only_baseline`` / ``only_candidate``: unmatched configs."""

    baseline: dict
    candidate: dict
    settings: dict
    cells: list
    status_changes: list
    only_baseline: list
    only_candidate: list
    normalization: dict
    notes: list
    rerun: dict | None = None

    @property
    def regressions(self) -> list[dict]:
        return [c for c in self.cells if c["verdict"] == REGRESSION] + \
            [s for s in self.status_changes if s["verdict"] == STATUS_REGRESSION]

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if self.regressions else EXIT_OK

    @property
    def decision(self) -> str:
        return "regression" if self.regressions else "pass"

    def counts(self) -> dict:
        out: dict[str, int] = {}
        for c in self.cells:
            out[c["verdict"]] = out.get(c["verdict"], 0) + 1
        return out

    def to_json(self) -> dict:
        """The JSON document ``--json`` writes (schema :data:`SCHEMA`)."""
        return _clean({
            "schema": SCHEMA, "decision": self.decision, "exit_code": self.exit_code,
            "generated_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "baseline": self.baseline, "candidate": self.candidate, "settings": self.settings,
            "normalization": self.normalization,
            "summary": {"cells": len(self.cells), "verdicts": self.counts(), "regressions": len(self.regressions),
                        "status_changes": len(self.status_changes), "only_baseline": len(self.only_baseline),
                        "only_candidate": len(self.only_candidate)},
            "cells": self.cells, "status_changes": self.status_changes, "only_baseline": self.only_baseline,
            "only_candidate": self.only_candidate, "rerun": self.rerun, "notes": self.notes,
        })


def _clean(x):
    """JSON-safe: NaN/inf → None, numpy scalars → Python, tuples → lists."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    return x


def _key_dict(key) -> dict:
    d = dict(zip(KEY_COLUMNS, key))
    for c in _INT_KEYS:
        try:
            d[c] = int(d[c])
        except (TypeError, ValueError):
            pass
    return d


def _filter(rs: ResultSet, providers) -> dict:
    if providers is None:
        return rs.rows
    return {k: r for k, r in rs.rows.items() if k[0] in providers}


def _metric_cells(metric: str, keys, A: ResultSet, B: ResultSet, factor: float, samples_b: dict | None = None,
                  rows_b: dict | None = None) -> list[dict]:
    SA, SB = A.samples or {}, (B.samples or {}) if samples_b is None else samples_b
    RB = B.rows if rows_b is None else rows_b
    cells = []
    for k in keys:
        ra, rb = A.rows[k], RB[k]
        if metric == "peak_mem":
            cells.append({"key": k, "a": ra["peak_mem_mib"], "b": rb["peak_mem_mib"]})
            continue
        a, b = SA.get(k), SB.get(k)
        cells.append({"key": k, "a": a, "b": None if b is None else np.asarray(b, float) / factor,
                      "b_raw": b, "tokens": _cmp._tokens(ra), "tok_ratio": _cmp._tokens(rb) / _cmp._tokens(ra)})
    return cells


def _decide_family(metric: str, cells: list[dict], st: GateSettings) -> list[dict]:
    if metric == "peak_mem":
        return decide_memory(cells, st.min_effect["peak_mem"])
    res = decide_sampled(cells, metric, min_effect=st.min_effect[metric], confidence=st.confidence,
                         correction=st.correction, n_boot=st.n_boot, seed=st.seed, min_samples=st.min_samples)
    for c, r in zip(cells, res):  # the ratio before normalisation, for the record
        a, b = c.get("a"), c.get("b_raw")
        if a is not None and b is not None and len(a) and len(b) and np.median(a) > 0 and np.median(b) > 0:
            raw = float(np.median(b) / np.median(a))
            r["ratio_raw"] = c.get("tok_ratio", 1.0) / raw if metric == "tokens_per_s" else raw
    return res


def _sorted_keys(keys, order: dict) -> list:
    return sorted(keys, key=lambda k: order.get(k, len(order)))


def run_gate(baseline, candidate, settings: GateSettings | None = None, *, rerun: bool = False,
             rerun_rounds: int = 1, rerun_out=None, rerun_timing=None, quiet: bool = True,
             rerun_baseline: str | None = "auto") -> GateResult:
    """Compare ``candidate`` against ``baseline`` (paths; see the module doc) and return a :class:`GateResult`.
    ``rerun``: re-measure the flagged configs (``rerun_rounds`` rounds into ``rerun_out``, default
    ``<candidate>/rerun-<UTC stamp>``; ``rerun_timing``: a TimingConfig, default the candidate run's own from its
    env.json) and keep only confirmed regressions. ``rerun_baseline``: where the baseline side's code comes from for
    a both-sides re-measurement: "auto" (the baseline's recorded git commit, when this checkout's git has it; else
    candidate side only, with a note), a git revision, a directory holding that version's ``lightning_bench``
    package, or "none" (candidate side only). Raises GateInputError."""
    st = settings or GateSettings()
    if rerun and rerun_out is not None and any(Path(rerun_out).glob(f"round-*/**/{ROWS_FILE}")):
        raise GateInputError(f"--rerun-out {str(rerun_out)!r} already holds a re-measurement; choose a new directory")
    need = any(m != "peak_mem" for m in st.metrics)
    B = load_result_set(candidate, "--candidate", need_samples=need)
    A = load_result_set(baseline, "--baseline", candidate_env=B.env, need_samples=need)
    notes = A.notes + B.notes
    RA, RB = _filter(A, st.providers), _filter(B, st.providers)
    if st.providers is not None and not RA and not RB:
        have = sorted({k[0] for k in A.rows} | {k[0] for k in B.rows})
        raise GateInputError(f"--provider: none of {list(st.providers)} is in the baseline or the candidate (they have "
                             f"{have})")
    order = {k: i for i, k in enumerate(list(RA) + [k for k in RB if k not in RA])}
    common = [k for k in RA if k in RB]
    if not common:
        pa = sorted({k[0] for k in RA})
        pb = sorted({k[0] for k in RB})
        raise GateInputError(f"no overlapping cells: the baseline {str(A.path)!r} ({len(RA)} configs, providers {pa}) "
                             f"and the candidate {str(B.path)!r} ({len(RB)} configs, providers {pb}) share no "
                             "provider × mode × shape × dtype × decay")
    ok_keys, status_changes = [], []
    failed_both = 0
    for k in common:
        sa, sb = RA[k]["status"], RB[k]["status"]
        if sa == "ok" and sb == "ok":
            ok_keys.append(k)
        elif sa == sb:
            failed_both += 1
        else:
            if sa == "ok" and sb == "skipped":
                v, why = "not measured", f"candidate skipped it: {RB[k]['reason']}"
            elif sa == "ok":
                v, why = STATUS_REGRESSION, RB[k]["reason"]
            elif sb == "ok":
                v, why = "fixed", RA[k]["reason"]
            else:
                v, why = "status changed", RB[k]["reason"]
            status_changes.append({**_key_dict(k), "status_baseline": sa, "status_candidate": sb, "verdict": v,
                                   "reason": why})
    if not ok_keys and not any(s["verdict"] == STATUS_REGRESSION for s in status_changes):
        raise GateInputError(f"no comparable cells: {len(common)} configs overlap but none is ok in both runs "
                             f"({failed_both} failed in both)")
    if failed_both:
        notes.append(f"{failed_both} overlapping configs are not ok in either run (not gated)")
    if A.gpu != B.gpu:
        notes.append(f"different GPUs: baseline {A.gpu!r}, candidate {B.gpu!r}")
    hd = [bool(((rs.env or {}).get("timing") or {}).get("host_decoupled", False)) for rs in (A, B)]
    if hd[0] != hd[1]:
        mode = {True: "host-decoupled (GPU time)", False: "end-to-end (host launch latency included)"}
        notes.append(f"different timing modes: baseline {mode[hd[0]]}, candidate {mode[hd[1]]}; launch-bound cells "
                     "are not comparable (record both with the same `sweep --host-decoupled` setting)")
    norm = _normalization(A, B.ceilings, st)
    if norm["note"]:
        notes.append(norm["note"])
    for side, rs in (("baseline", A), ("candidate", B)):
        ref = reference_times(rs.ceilings)
        d = (ref or {}).get("drift", {}).get(st.reference)
        if d is not None and math.isfinite(d) and abs(d - 1) > 0.03:
            notes.append(f"the {side}'s reference workload ({st.reference}) drifted {_pct(d - 1)} from the start to "
                         "the end of its run (clocks or temperature)")
    factor = norm["factor"]
    cells = []
    for metric in st.metrics:
        keys = _sorted_keys(ok_keys, order)
        mc = _metric_cells(metric, keys, A, B, factor)
        for k, r in zip(keys, _decide_family(metric, mc, st)):
            cells.append({**_key_dict(k), "metric": metric, **r})
    for metric in st.metrics:  # cells whose sample counts cannot reach significance in this family
        tested = [c for c in cells if c["metric"] == metric and c["p_adjusted"] == c["p_adjusted"]]
        if metric == "peak_mem" or not tested:
            continue
        thr = st.alpha / (1 if st.correction == "none" else len(tested))
        weak = [c for c in tested if min_attainable_p(c["n_baseline"], c["n_candidate"]) > thr]
        if weak:
            ns = sorted({f"{c['n_baseline']}/{c['n_candidate']}" for c in weak})
            notes.append(f"{len(weak)} {metric} cells cannot be flagged even by a complete separation: with "
                         f"{', '.join(ns)} samples the smallest Mann–Whitney p exceeds {thr:.2g} (alpha over "
                         f"{len(tested)} cells); record more samples (sweep --min-samples) or gate fewer cells")
    incon = sum(c["verdict"] == INCONCLUSIVE for c in cells)
    if incon:
        notes.append(f"{incon} cells inconclusive (missing or too few samples, or no value): not gated")
    only_a = [_key_dict(k) | {"status": RA[k]["status"]} for k in RA if k not in RB]
    only_b = [_key_dict(k) | {"status": RB[k]["status"]} for k in RB if k not in RA]
    if only_a:
        notes.append(f"{len(only_a)} baseline configs were not measured by the candidate (coverage, not gated)")
    res = GateResult(baseline=A.info(), candidate=B.info(), settings=st.as_dict(), cells=cells,
                     status_changes=status_changes, only_baseline=only_a, only_candidate=only_b,
                     normalization=norm, notes=notes)
    if rerun:
        _confirm_by_rerun(res, A, B, st, rounds=rerun_rounds, out=rerun_out, timing=rerun_timing, quiet=quiet,
                          baseline_source=rerun_baseline)
    return res


# ================================================================ --rerun
def _flagged_keys(res: GateResult) -> list[tuple]:
    keys = []
    for c in res.cells + res.status_changes:
        if c["verdict"] in FAILING:
            k = tuple(str(c[col]) for col in KEY_COLUMNS)
            if k not in keys:
                keys.append(k)
    return keys


def _rerun_timing(cand: ResultSet):
    import torch

    from .timing import TimingConfig

    saved = (cand.env or {}).get("timing")
    if isinstance(saved, dict):
        fields = set(TimingConfig.__dataclass_fields__)
        try:
            return TimingConfig(**{k: v for k, v in saved.items() if k in fields})
        except (TypeError, ValueError):
            pass
    if torch.cuda.is_available():
        return TimingConfig()
    return TimingConfig(min_samples=3, max_samples=10, max_time_s=0.2)  # the CLI's CPU defaults


def rerun_configs(keys: Iterable[tuple], out_dir, rounds: int = 1, timing=None, seed: int = 0,
                  quiet: bool = True) -> list[Path]:
    """Re-measure exactly ``keys`` (``results.KEY_COLUMNS`` tuples) with the current checkout: ``rounds`` run
    directories ``out_dir/round-<k>``, each measuring every key once (one :func:`run_sweep` per (shape, provider)
    with that provider's flagged modes; energy window off, no plots). Returns the round directories."""
    from .cases import SweepSpec
    from .sweep import SweepOptions, run_sweep

    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise GateInputError(f"rerun rounds must be an integer >= 1, got {rounds!r}")
    groups = _config_groups(keys)
    dirs = []
    for r in range(rounds):
        d = Path(out_dir) / f"round-{r + 1}"
        first = not (d / ROWS_FILE).exists()
        for (prov, b, h, n, hd, vd, dt, dec), modes in groups.items():
            spec = SweepSpec(seq_len=[n], batch=[b], heads=[h], head_dim=[hd], value_dim=[vd], dtype=[dt],
                             decay=[dec], modes=modes, providers=[prov], description="lightning-bench gate --rerun")
            run_sweep(spec, SweepOptions(out_dir=d, resume=not first, timing=timing, energy_window_s=0.0,
                                         seed=seed, plots=False, quiet=quiet, ceilings=True))
            first = False
        dirs.append(d)
    return dirs


def _config_groups(keys: Iterable[tuple]) -> dict[tuple, list[str]]:
    """(provider, batch, heads, seq_len, head_dim, value_dim, dtype, decay) → the flagged modes, in order."""
    groups: dict[tuple, list[str]] = {}
    for k in keys:
        d = dict(zip(KEY_COLUMNS, k))
        shape = (d["provider"], int(d["batch"]), int(d["heads"]), int(d["seq_len"]), int(d["head_dim"]),
                 int(d["value_dim"]), d["dtype"], d["decay"])
        groups.setdefault(shape, [])
        if d["mode"] not in groups[shape]:
            groups[shape].append(d["mode"])
    return groups


def _git(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(SOURCE_ROOT), *args], capture_output=True, timeout=timeout)


def resolve_baseline_source(spec, A: ResultSet, dest: Path) -> tuple[Path | None, str]:
    """Where the baseline side of a both-sides re-measurement gets its code: ``(directory holding lightning_bench,
    label)``, or ``(None, why)`` for a candidate-only re-measurement. ``spec``: "auto" (the baseline's recorded git
    commit via ``git archive`` into ``dest``, or None when this checkout's git cannot give it), "none", a git
    revision, or a source directory. Raises GateInputError for an explicit spec that cannot be used."""
    if spec is None or str(spec).lower() == "none":
        return None, "candidate side only (--rerun-baseline none)"
    spec = str(spec)
    if spec != "auto" and Path(spec).is_dir():
        p = Path(spec).resolve()
        if not (p / "lightning_bench" / "__init__.py").is_file():
            raise GateInputError(f"--rerun-baseline: {spec!r} is a directory without lightning_bench/__init__.py; give "
                                 "the directory holding the baseline's lightning_bench package, a git revision, "
                                 "'auto' or 'none'")
        return p, f"baseline code from the directory {p}"
    rev = A.info()["commit"] if spec == "auto" else spec
    if not rev:
        return None, "candidate side only: the baseline records no git commit (env.json git.commit)"
    try:
        r = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        sha = r.stdout.decode().strip() if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        sha = None
    if sha is None:
        if spec != "auto":
            raise GateInputError(f"--rerun-baseline: git cannot resolve {rev!r} in {SOURCE_ROOT} (not a git checkout, "
                                 "or an unknown revision); give a revision, a source directory or 'none'")
        return None, (f"candidate side only: git cannot resolve the baseline's commit {rev!r} in {SOURCE_ROOT} "
                      "(no git checkout here, or the commit is unknown); pass --rerun-baseline DIR|REV")
    a = _git("archive", "--format=tar", sha, "lightning_bench", timeout=300)
    if a.returncode != 0:
        raise GateInputError(f"--rerun-baseline: git archive {sha[:12]} failed: {a.stderr.decode()[-300:]}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(a.stdout)) as tf:
        tf.extractall(dest, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    label = f"baseline code from git commit {sha[:12]}"
    if (A.env or {}).get("git", {}).get("dirty"):
        label += " (the baseline was recorded from a tree with uncommitted changes)"
    return dest, label


_SIDE_DRIVER = """
import json, sys
from pathlib import Path
from lightning_bench.cases import SweepSpec
from lightning_bench.sweep import SweepOptions, run_sweep
from lightning_bench.timing import TimingConfig
job = json.loads(sys.argv[1])
out, first = Path(job["out"]), True
for prov, b, h, n, hd, vd, dt, dec, modes in job["groups"]:
    spec = SweepSpec(seq_len=[n], batch=[b], heads=[h], head_dim=[hd], value_dim=[vd], dtype=[dt], decay=[dec],
                     modes=modes, providers=[prov], description="lightning-bench gate --rerun (both sides)")
    timing = TimingConfig(**{k: v for k, v in job["timing"].items() if k in TimingConfig.__dataclass_fields__})
    run_sweep(spec, SweepOptions(out_dir=out, resume=not first, timing=timing,
                                 energy_window_s=0.0, seed=job["seed"], plots=False, quiet=True, ceilings=True))
    first = False
"""


def _sweep_side(src: Path, groups: dict, out_dir: Path, timing, seed: int, *, baseline_side: bool,
                commit: str | None) -> Path:
    """One side of a both-sides re-measurement: one Python subprocess that imports that side's package (``src`` first
    on PYTHONPATH, a neutral working directory so that no other copy shadows it) and runs its ``run_sweep`` on
    every flagged (provider, shape) group into ``out_dir`` (as the in-process :func:`rerun_configs` does). Returns
    ``out_dir``. Raises RuntimeError with the log's tail when it fails."""
    from dataclasses import asdict

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    if baseline_side:  # the planted slowdown stands for a change of the candidate's code
        env.pop(PLANTED_SLOWDOWN_ENV, None)
        if commit:
            env["LIGHTNING_BENCH_GIT_COMMIT"] = commit
    job = {"out": str(out_dir), "seed": seed, "timing": asdict(timing),
           "groups": [[*shape, modes] for shape, modes in groups.items()]}
    r = subprocess.run([sys.executable, "-c", _SIDE_DRIVER, json.dumps(job)], env=env, cwd=str(out_dir.parent),
                       capture_output=True, text=True, timeout=3600)
    (out_dir.parent / f"{out_dir.name}.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0 or not (out_dir / ROWS_FILE).is_file():
        tail = (r.stdout + r.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"{'baseline' if baseline_side else 'candidate'} side exited {r.returncode}: "
                           f"{' | '.join(tail)}"[:400])
    return out_dir


def rerun_both_sides(keys: Iterable[tuple], out_dir, baseline_src: Path, rounds: int = 2, timing=None, seed: int = 0,
                     commit: str | None = None) -> dict[str, list[Path]]:
    """Re-measure exactly ``keys`` with the baseline's code (``baseline_src``) and with this checkout, interleaved:
    round k runs the baseline side then the candidate side for odd k, the reverse for even k (ABBA), each side in
    its own subprocess into ``out_dir/round-<k>/{baseline,candidate}/``. Returns the run directories per side."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise GateInputError(f"rerun rounds must be an integer >= 1, got {rounds!r}")
    groups = _config_groups(keys)
    if timing is None:
        from .timing import TimingConfig
        timing = TimingConfig()
    dirs: dict[str, list[Path]] = {"baseline": [], "candidate": []}
    for r in range(rounds):
        base = Path(out_dir) / f"round-{r + 1}"
        order = ("baseline", "candidate") if r % 2 == 0 else ("candidate", "baseline")
        for side in order:
            src = baseline_src if side == "baseline" else SOURCE_ROOT
            dirs[side].append(_sweep_side(src, groups, base / side, timing, seed, baseline_side=side == "baseline",
                                          commit=commit))
    return dirs


def _pool(dirs) -> tuple[list, dict, dict]:
    """Load re-measurement run directories: (result sets, last row per key, samples pooled per key)."""
    sets = [load_result_set(d, "--rerun", need_samples=False) for d in dirs]
    pooled: dict[tuple, np.ndarray] = {}
    rows: dict[tuple, dict] = {}
    for s in sets:
        for k, r in s.rows.items():
            rows[k] = r
        for k, v in (s.samples or {}).items():
            pooled[k] = np.concatenate([pooled[k], v]) if k in pooled else np.asarray(v, float)
    return sets, rows, pooled


def _confirm_by_rerun(res: GateResult, A: ResultSet, B: ResultSet, st: GateSettings, rounds: int, out, timing,
                      quiet: bool, baseline_source="auto") -> None:
    keys = _flagged_keys(res)
    if not keys:
        res.rerun = {"requested": True, "configs": 0, "dirs": [], "note": "nothing flagged: no re-measurement"}
        return
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(out) if out is not None else B.path / f"rerun-{stamp}"
    src, label = resolve_baseline_source(baseline_source, A, out / "baseline-src")
    both = src is not None
    info = {"requested": True, "configs": len(keys), "rounds": rounds, "out": str(out), "dirs": [],
            "sides": "both" if both else "candidate",
            "what": (f"flagged configs re-measured on both sides, interleaved (ABBA over {rounds} round(s)): {label}, "
                     "candidate from the current checkout; a regression stands only when the re-measured candidate "
                     "is slower than the re-measured baseline" if both else
                     f"flagged configs re-measured with the current checkout ({label}); a regression stands only "
                     "when the re-measured samples alone show it again against the stored baseline")}
    res.rerun = info
    if not both:
        res.notes.append(f"--rerun: {label}")
    try:
        t = timing or _rerun_timing(B)
        if both:
            sides = rerun_both_sides(keys, out, src, rounds=rounds, timing=t, seed=0, commit=A.info()["commit"])
            dirs = sides["candidate"]
            info["baseline_dirs"] = [str(d) for d in sides["baseline"]]
        else:
            dirs = rerun_configs(keys, out, rounds=rounds, timing=t, seed=0, quiet=quiet)
    except Exception as ex:  # the flagged verdicts stand
        info["error"] = f"{type(ex).__name__}: {ex}"[:400]
        res.notes.append(f"--rerun failed ({info['error']}); the first verdicts stand")
        return
    info["dirs"] = [str(d) for d in dirs]
    sets, rows, pooled = _pool(dirs)
    if both:
        _, rows_a, pooled_a = _pool(sides["baseline"])
        A = ResultSet(path=out, arg="--rerun (baseline side)", rows={**A.rows, **rows_a}, samples=pooled_a)
        norm = {"applied": False, "factor": 1.0, "note": None,
                "why": "both sides re-measured interleaved on the same machine: no normalisation"}
    else:
        refs = [reference_times(s.ceilings) for s in sets]
        kind = st.reference
        vals = [r[kind] for r in refs if r and math.isfinite(r[kind])]
        cer = {f"reference_start": {REFERENCES[kind]: _geomean(vals)}} if vals else None
        norm = _normalization(A, cer, st, label="re-measurement")
    info["normalization"] = norm
    if norm["note"] and st.normalize:
        res.notes.append(norm["note"])
    confirmed_keys = set()
    # status regressions: confirmed while the re-measured row is still not ok
    for s in res.status_changes:
        if s["verdict"] != STATUS_REGRESSION:
            continue
        k = tuple(str(s[c]) for c in KEY_COLUMNS)
        r = rows.get(k)
        s["rerun"] = {"status": None if r is None else r["status"], "reason": None if r is None else r["reason"]}
        if r is not None and r["status"] == "ok":
            s["first_verdict"], s["verdict"] = s["verdict"], NOT_CONFIRMED
            s["reason"] = f"ok when re-measured (first: {s['reason']})"
    for metric in st.metrics:
        flagged = [c for c in res.cells if c["metric"] == metric and c["verdict"] == REGRESSION]
        if not flagged:
            continue
        keys_m = [tuple(str(c[col]) for col in KEY_COLUMNS) for c in flagged]
        have = [k for k in keys_m if k in rows and rows[k]["status"] == "ok"
                and (not both or (k in rows_a and rows_a[k]["status"] == "ok"))]
        mc = _metric_cells(metric, have, A, B, norm["factor"], samples_b=pooled, rows_b=rows)
        decided = dict(zip(have, _decide_family(metric, mc, st)))
        for c, k in zip(flagged, keys_m):
            c["first_verdict"] = c["verdict"]
            r = decided.get(k)
            if r is None:
                st_ = rows.get(k, {}).get("status")
                c["rerun"] = {"status": st_, "verdict": None}
                c["reason"] += f"; re-measurement {'missing' if st_ is None else 'status ' + st_}: kept"
                continue
            c["rerun"] = {x: r.get(x) for x in ("n_baseline", "baseline", "n_candidate", "candidate", "ratio",
                                                 "ratio_raw", "ci_low", "ci_high", "p_value", "p_adjusted", "verdict",
                                                 "reason")}
            c["rerun"]["sides"] = info["sides"]
            if r["verdict"] == REGRESSION:
                confirmed_keys.add(k)
                c["reason"] += f"; confirmed by re-measurement ({_pct(r['ratio'] - 1)})"
            else:
                c["verdict"] = NOT_CONFIRMED
                c["reason"] = (f"first {_pct(c['ratio'] - 1)}; re-measured {_pct(r['ratio'] - 1)}: {r['verdict']} "
                               f"({r['reason']})")
    info["confirmed"] = len(confirmed_keys) + sum(s["verdict"] == STATUS_REGRESSION for s in res.status_changes)


# ================================================================ baselines
def update_baseline(candidate, baseline=None, force: bool = False, root=DEFAULT_BASELINES_ROOT,
                    settings: GateSettings | None = None) -> dict:
    """Copy the candidate result set into the baseline directory deliberately. Target: ``baseline`` when it is a
    result-set directory (existing or new), ``<baseline>/<gpu-slug>`` when it is an existing directory without a
    rows.csv (a baselines root), else ``<root>/<gpu-slug>``. Refuses to overwrite an existing baseline without
    ``force`` (GateInputError). Returns {"target", "created", "previous", "changes": GateResult | None, "files"}."""
    B = load_result_set(candidate, "--candidate", need_samples=True)
    slug = gpu_slug(B.env) if B.env is not None else None
    if baseline is None:
        if slug is None:
            raise GateInputError(f"--candidate {str(B.path)!r} has no {ENV_FILE} to name its GPU; give the target with "
                                 "--baseline")
        target = Path(root) / slug
    else:
        t = Path(baseline)
        if t.suffix == ".csv":
            t = t.with_suffix("")
        if t.is_file():
            raise GateInputError(f"--baseline {str(t)!r} is a file; the baseline is a directory")
        if t.is_dir() and not (t / ROWS_FILE).exists():  # an existing directory without a rows.csv: a root
            if slug is None:
                raise GateInputError(f"--candidate {str(B.path)!r} has no {ENV_FILE} to name its GPU; give the "
                                     "baseline directory itself")
            t = t / slug
        target = t
    if target.resolve() == B.path.resolve():
        raise GateInputError(f"--candidate and the baseline are the same directory {str(target)!r}")
    previous, changes = None, None
    if (target / ROWS_FILE).exists():
        prev_env = _read_json(target / ENV_FILE, "--baseline", [])
        previous = {"gpu": gpu_name(prev_env), "commit": ((prev_env or {}).get("git") or {}).get("commit"),
                    "timestamp_utc": (prev_env or {}).get("timestamp_utc")}
        try:
            changes = run_gate(target, B.path, settings or GateSettings())
        except GateInputError as ex:
            previous["compare_error"] = str(ex)
        if not force:
            raise GateInputError(f"baseline {str(target)!r} already exists (GPU {previous['gpu']}, commit "
                                 f"{previous['commit']}); pass --force to replace it deliberately")
    tmp = target.parent / f".{target.name}.new"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    files = []
    for name in (ROWS_FILE, SAMPLES_FILE, ENV_FILE, CEILINGS_FILE):
        src = B.path / name
        if src.is_file():
            shutil.copy2(src, tmp / name)
            files.append(name)
    git = (B.env or {}).get("git") or {}
    (tmp / BASELINE_INFO_FILE).write_text(json.dumps({
        "source": str(B.path), "updated_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "gpu": B.gpu, "slug": slug, "commit": git.get("commit"), "dirty": git.get("dirty"),
        "rows": len(B.rows), "ok_rows": sum(r["status"] == "ok" for r in B.rows.values()),
        "previous": previous}, indent=2) + "\n")
    files.append(BASELINE_INFO_FILE)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return {"target": target, "created": previous is None, "previous": previous, "changes": changes, "files": files,
            "rows": len(B.rows), "gpu": B.gpu}


# ================================================================ calibration by resampling
def load_samples(run_dir, providers: Iterable[str] | None = None, modes: Iterable[str] | None = None,
                 min_samples: int = 5) -> dict[tuple, np.ndarray]:
    """{key: samples (ms)} of the ok rows of a result set with at least ``min_samples`` samples."""
    rs = load_result_set(run_dir, "run")
    provs = None if providers is None else set(providers)
    mods = None if modes is None else set(modes)
    out = {}
    for k, r in rs.rows.items():
        if r["status"] != "ok" or (provs and k[0] not in provs) or (mods and k[1] not in mods):
            continue
        s = (rs.samples or {}).get(k)
        if s is not None and len(s) >= min_samples:
            out[k] = np.asarray(s, float)
    if not out:
        raise GateInputError(f"{run_dir}: no ok cell with >= {min_samples} raw samples"
                             + (f" for providers {sorted(provs)}" if provs else "")
                             + (f" and modes {sorted(mods)}" if mods else ""))
    return out


def _pseudo_pair(s: np.ndarray, method: str, rng) -> tuple[np.ndarray, np.ndarray]:
    if method == "resample":  # two independent bootstrap pseudo-runs of the full size
        return rng.choice(s, len(s)), rng.choice(s, len(s))
    if method == "split":  # a random split into two disjoint halves
        perm = rng.permutation(s)
        h = len(s) // 2
        return perm[:h], perm[h:2 * h]
    raise GateInputError(f"method must be 'resample' or 'split', got {method!r}")


def _cp_bounds(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """One-sided Clopper–Pearson bounds (lower, upper) at ``level`` for k successes in n trials."""
    def cdf(kk, p):  # P(X <= kk)
        if p <= 0:
            return 1.0
        if p >= 1:
            return 0.0 if kk < n else 1.0
        lp, lq = math.log(p), math.log1p(-p)
        return min(1.0, sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp
                                     + (n - i) * lq) for i in range(0, kk + 1)))

    def solve(f):  # f decreasing in p: find p with f(p) = 0
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if f(mid) > 0:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    a = 1 - level
    upper = 1.0 if k >= n else solve(lambda p: cdf(k, p) - a)
    lower = 0.0 if k <= 0 else solve(lambda p: a - (1 - cdf(k - 1, p)))  # P(X >= k; p) = a
    return lower, upper


def _settings_for_calibration(settings: GateSettings | None, **kw) -> GateSettings:
    st = settings or GateSettings(**kw)
    if "time" not in st.metrics:
        raise GateInputError("calibration is for the time metric")
    return st


def estimate_false_alarm_rate(samples: dict, reps: int = 500, method: str = "resample",
                              settings: GateSettings | None = None, seed: int = 0) -> dict:
    """A/A false alarms by resampling: ``reps`` times, every cell's samples give two pseudo-runs from the same
    distribution (``method`` "resample": two bootstrap draws of the full size; "split": a random split into
    halves), and the gate's decision runs over all cells at once. Returns the fraction of repetitions with at least
    one regression (``gate_false_alarm_rate``: what a CI job would see; with its one-sided 95 % Clopper–Pearson
    upper bound), with any verdict beyond noise in either direction, and the per-cell rate."""
    st = _settings_for_calibration(settings)
    keys = list(samples)
    rng = np.random.default_rng(seed)
    any_reg = any_dir = cell_flags = 0
    per_cell = {k: 0 for k in keys}
    for rep in range(reps):
        cells = []
        for k in keys:
            a, b = _pseudo_pair(samples[k], method, rng)
            cells.append({"key": k, "a": a, "b": b})
        res = decide_sampled(cells, "time", min_effect=st.min_effect["time"], confidence=st.confidence,
                             correction=st.correction, n_boot=st.n_boot, seed=st.seed + rep,
                             min_samples=st.min_samples, lazy_ci=True)
        regs = [k for k, r in zip(keys, res) if r["verdict"] == REGRESSION]
        imps = [k for k, r in zip(keys, res) if r["verdict"] == IMPROVEMENT]
        any_reg += bool(regs)
        any_dir += bool(regs or imps)
        cell_flags += len(regs)
        for k in regs:
            per_cell[k] += 1
    lo, hi = _cp_bounds(any_reg, reps)
    return _clean({
        "method": method, "reps": reps, "cells": len(keys), "settings": st.as_dict(),
        "gate_false_alarm_rate": any_reg / reps, "gate_false_alarm_upper95": hi,
        "any_direction_rate": any_dir / reps, "cell_false_alarm_rate": cell_flags / (reps * len(keys)),
        "flagged_cells": {"|".join(k): n for k, n in per_cell.items() if n},
    })


def estimate_power(samples: dict, factor: float = 1.10, reps: int = 200, method: str = "resample",
                   plant: str = "each", settings: GateSettings | None = None, seed: int = 0) -> dict:
    """Power for a planted slowdown: pseudo-runs as in :func:`estimate_false_alarm_rate`, the candidate's samples
    multiplied by ``factor``. ``plant="each"``: in every repetition each cell in turn is the only slowed cell (the
    others A/A), so Holm's correction runs against the full family: the conservative, single-regression case;
    ``"all"``: every cell slowed at once (a kernel-wide regression; ``gate_power`` = fraction of repetitions with at
    least one regression). Returns per-cell power (fraction of repetitions flagged as a regression) and its summary
    (min, median, fraction of cells ≥ 0.95, the weakest cells with their noise)."""
    st = _settings_for_calibration(settings)
    if plant not in ("each", "all"):
        raise GateInputError(f"plant must be 'each' or 'all', got {plant!r}")
    keys = list(samples)
    m = len(keys)
    rng = np.random.default_rng(seed)
    hits = np.zeros(m)
    any_hit = 0
    alpha = st.alpha
    me = st.min_effect["time"]
    for rep in range(reps):
        pairs = [_pseudo_pair(samples[k], method, rng) for k in keys]
        planted = [{"key": k, "a": a, "b": b * factor} for k, (a, b) in zip(keys, pairs)]
        if plant == "all":
            res = decide_sampled(planted, "time", min_effect=me, confidence=st.confidence, correction=st.correction,
                                 n_boot=st.n_boot, seed=st.seed + rep, min_samples=st.min_samples, lazy_ci=True)
            flags = [r["verdict"] == REGRESSION for r in res]
            hits += flags
            any_hit += any(flags)
            continue
        small = [len(a) < st.min_samples or len(b) < st.min_samples for a, b in pairs]
        p_aa = np.array([math.nan if sm else _cmp.mannwhitney_p(a, b) for sm, (a, b) in zip(small, pairs)])
        for i, (k, (a, b)) in enumerate(zip(keys, pairs)):
            if small[i]:
                continue
            bp = planted[i]["b"]
            p = p_aa.copy()
            p[i] = _cmp.mannwhitney_p(a, bp)
            pa = float(adjust_pvalues(p, st.correction)[i])
            ratio = float(np.median(bp) / np.median(a))

            def ci_fn(a=a, bp=bp, k=k, rep=rep):
                return _ci(a, bp, st.confidence, st.n_boot, _cell_rng(st.seed + rep, k, "time"))

            verdict = _judge(ratio, pa <= alpha, ci_fn, me, False, pa, alpha)[0]
            hits[i] += verdict == REGRESSION
    power = hits / reps
    noise = {k: float((np.quantile(s, 0.75) - np.quantile(s, 0.25)) / np.median(s)) for k, s in samples.items()}
    order = np.argsort(power, kind="mergesort")
    weakest = [{"cell": "|".join(keys[i]), "power": float(power[i]), "n": int(len(samples[keys[i]])),
                "iqr_over_median": noise[keys[i]]} for i in order[:10] if power[i] < 0.95]
    lo95 = [_cp_bounds(int(h), reps)[0] for h in hits]
    return _clean({
        "method": method, "plant": plant, "factor": factor, "reps": reps, "cells": m, "settings": st.as_dict(),
        "power_min": float(power.min()), "power_max": float(power.max()), "power_median": float(np.median(power)),
        "power_mean": float(power.mean()),
        "cells_power_ge_95": float(np.mean(power >= 0.95)),
        "gate_power": any_hit / reps if plant == "all" else None, "power_min_lower95": float(min(lo95)),
        "weakest": weakest, "per_cell": {"|".join(k): float(p) for k, p in zip(keys, power)},
    })


# ================================================================ output
def _fmt(x, sig: int = 4) -> str:
    return _cmp._fmt(x, sig)


def _layout_keys(rows: list[dict]) -> tuple[list[str], list[str]]:
    shown, common = [], []
    for c in KEY_COLUMNS:
        vals = sorted({str(r.get(c)) for r in rows})
        if c in ("provider", "mode", "seq_len") or len(vals) > 1:
            shown.append(c)
        elif len(vals) == 1:
            common.append(vals[0] if c == "dtype" else f"{c} {vals[0]}")
    return shown, common


def _ci_text(c: dict) -> str:
    if c.get("ci_low") is None or not math.isfinite(c.get("ci_low", math.nan)):
        return "–"
    return f"[{_cmp._fmt_ratio(c['ci_low'])}, {_cmp._fmt_ratio(c['ci_high'])}]"


def _value(c: dict, side: str) -> str:
    v = c.get(side)
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return _fmt(v / METRIC_SCALE[c["metric"]])


def _rule_text(res: GateResult) -> str:
    s = res.settings
    me = ", ".join(f"{m} {100 * s['min_effect'][m]:g}%" for m in s["metrics"])
    corr = {"holm": "Holm-adjusted", "bonferroni": "Bonferroni-adjusted", "none": "unadjusted"}[s["correction"]]
    return (f"regression = {corr} Mann–Whitney p ≤ {s['alpha']:g} over the cells of a metric, the "
            f"{100 * s['confidence']:g}% bootstrap CI of the ratio of medians beyond 1, and a change beyond the "
            f"minimum effect ({me}); peak memory: the change alone (> 1 MiB)")


def _headline(res: GateResult) -> str:
    n = len(res.regressions)
    cnt = res.counts()
    parts = [f"{v} {k}" for k, v in cnt.items()]
    if n:
        return f"REGRESSION: {n} cell{'s' if n != 1 else ''} ({', '.join(parts)})"
    return f"PASS: no {'confirmed ' if res.rerun and res.rerun.get('configs') else ''}regression ({', '.join(parts)})"


def _md_escape(s) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(res: GateResult) -> str:
    """The gate's result as Markdown (what goes to $GITHUB_STEP_SUMMARY)."""
    L = [f"## Performance gate: {_headline(res)}", ""]
    for side, info in (("Baseline", res.baseline), ("Candidate", res.candidate)):
        commit = info.get("commit") or "?"
        L.append(f"- {side}: `{info['path']}` ({info['gpu']}, commit `{str(commit)[:12]}`, "
                 f"{info.get('timestamp_utc') or 'date unknown'})")
    nz = res.normalization
    if nz.get("applied"):
        L.append(f"- Normalised by the reference workload ({nz['reference']}): factor {nz['factor']:.4f}")
    else:
        L.append("- Not normalised" + (f": {nz['note']}" if nz.get("note") else ""))
    L.append(f"- Rule: {_rule_text(res)}.")
    L.append("")
    if res.cells:
        shown, common = _layout_keys(res.cells)
        multi = len(res.settings["metrics"]) > 1
        rerun = any("rerun" in c for c in res.cells)
        head = shown + (["metric"] if multi else []) + ["baseline", "candidate", "ratio", "CI", "p adj", "verdict"]
        head += ["re-measured"] if rerun else []
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "|".join("---:" if h in _INT_KEYS or h in ("baseline", "candidate", "ratio", "p adj")
                                else "---" for h in head) + "|")
        for c in res.cells:
            ratio = _cmp._fmt_ratio(c["ratio"])
            verdict = c["verdict"]
            if verdict in (REGRESSION, IMPROVEMENT):
                ratio, verdict = f"**{ratio}**", f"**{verdict}**"
            row = [str(c[k]) for k in shown] + ([f"{c['metric']} ({METRIC_UNITS[c['metric']]})"] if multi else [])
            row += [_value(c, "baseline"), _value(c, "candidate"), ratio, _ci_text(c), _cmp._fmt_p(c["p_adjusted"]),
                    verdict]
            if rerun:
                rr = c.get("rerun") or {}
                row.append(f"{_cmp._fmt_ratio(rr['ratio'])} ({rr['verdict']})" if rr.get("ratio") is not None
                           and rr.get("verdict") else "")
            L.append("| " + " | ".join(_md_escape(x) for x in row) + " |")
        L.append("")
        unit = ", ".join(f"{m}: {METRIC_UNITS[m]}" for m in res.settings["metrics"])
        L.append(f"{', '.join(common)}; values = medians ({unit}); ratio = candidate/baseline"
                 + (" after normalisation" if nz.get("applied") else "") + ".")
        L.append("")
    if res.status_changes:
        L += ["**Status changes**", "", "| config | baseline | candidate | verdict | reason |", "|---|---|---|---|---|"]
        for s in res.status_changes:
            cfg = " ".join(f"{k}={s[k]}" for k in KEY_COLUMNS)
            L.append(f"| {_md_escape(cfg)} | {s['status_baseline']} | {s['status_candidate']} | {s['verdict']} | "
                     f"{_md_escape(_cmp._short(s['reason']))} |")
        L.append("")
    if res.rerun:
        r = res.rerun
        L.append(f"Re-measurement: {r.get('configs', 0)} configs, {r.get('rounds', 0)} round(s)"
                 + (f" in `{r['out']}`" if r.get("out") else "") + (f"; {r['note']}" if r.get("note") else "")
                 + (f"; error: {r['error']}" if r.get("error") else "") + "."
                 + (f" {_md_escape(r['what'])}." if r.get("what") and r.get("configs") else ""))
        L.append("")
    if res.notes:
        L += ["Notes:", ""] + [f"- {_md_escape(n)}" for n in res.notes] + [""]
    return "\n".join(L).rstrip("\n") + "\n"


def print_terminal(res: GateResult, console=None) -> None:
    """The gate's result as a rich table (regressions red and bold, improvements green)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=170)
    console.print(Text(f"baseline:  {res.baseline['path']} ({res.baseline['gpu']})\n"
                       f"candidate: {res.candidate['path']} ({res.candidate['gpu']})"))
    if res.cells:
        shown, common = _layout_keys(res.cells)
        multi = len(res.settings["metrics"]) > 1
        rerun = any("rerun" in c for c in res.cells)
        t = Table(title="performance gate: candidate / baseline" + (" (normalised)" if res.normalization.get("applied")
                                                                     else ""),
                  caption=", ".join(common) or None)
        for k in shown:
            t.add_column(k, justify="right" if k in _INT_KEYS else "left", no_wrap=True)
        if multi:
            t.add_column("metric", no_wrap=True)
        for h in ("baseline", "candidate", "ratio"):
            t.add_column(h, justify="right", no_wrap=True)
        t.add_column(f"{100 * res.settings['confidence']:g}% CI", no_wrap=True)
        t.add_column("p adj", justify="right", no_wrap=True)
        t.add_column("verdict", no_wrap=True)
        if rerun:
            t.add_column("re-measured", no_wrap=True)
        for c in res.cells:
            style = {REGRESSION: "bold red", IMPROVEMENT: "green", INCONCLUSIVE: "yellow",
                     NOT_CONFIRMED: "yellow"}.get(c["verdict"], "")
            cells = [Text(str(c[k])) for k in shown]
            if multi:
                cells.append(Text(f"{c['metric']} ({METRIC_UNITS[c['metric']]})"))
            cells += [Text(_value(c, "baseline")), Text(_value(c, "candidate")),
                      Text(_cmp._fmt_ratio(c["ratio"]), style=style), Text(_ci_text(c)),
                      Text(_cmp._fmt_p(c["p_adjusted"])), Text(c["verdict"], style=style)]
            if rerun:
                rr = c.get("rerun") or {}
                cells.append(Text(f"{_cmp._fmt_ratio(rr['ratio'])} ({rr['verdict']})" if rr.get("ratio") is not None
                                  and rr.get("verdict") else ""))
            t.add_row(*cells)
        console.print(t)
    if res.status_changes:
        t = Table(title="status changes")
        for h in ("config", "baseline", "candidate", "verdict", "reason"):
            t.add_column(h)
        for s in res.status_changes:
            style = "bold red" if s["verdict"] == STATUS_REGRESSION else ""
            t.add_row(Text(" ".join(str(s[k]) for k in KEY_COLUMNS)), Text(s["status_baseline"]),
                      Text(s["status_candidate"]), Text(s["verdict"], style=style), Text(_cmp._short(s["reason"])))
        console.print(t)
    console.print(Text(f"rule: {_rule_text(res)}"))
    if res.rerun and res.rerun.get("configs") and res.rerun.get("what"):
        console.print(Text(f"re-measurement: {res.rerun['what']}"))
    for n in res.notes:
        console.print(Text(f"note: {n}", style="yellow"))
    console.print(Text(_headline(res), style="bold red" if res.regressions else "bold green"))


def write_outputs(res: GateResult, json_path=None, markdown_path=None, summary: bool = True) -> list[str]:
    """Write the JSON and Markdown files asked for, and append the Markdown to $GITHUB_STEP_SUMMARY when that is
    set. Returns the paths written."""
    out = []
    if json_path is not None:
        Path(json_path).write_text(json.dumps(res.to_json(), indent=2) + "\n")
        out.append(str(json_path))
    md = None
    if markdown_path is not None:
        md = to_markdown(res)
        Path(markdown_path).write_text(md)
        out.append(str(markdown_path))
    gh = os.environ.get(SUMMARY_ENV)
    if summary and gh:
        md = md or to_markdown(res)
        with open(gh, "a") as f:
            f.write(md + "\n")
        out.append(gh)
    return out


def error_json(message: str) -> dict:
    """The JSON written for invalid input (exit code 2)."""
    return {"schema": SCHEMA, "decision": "invalid", "exit_code": EXIT_INVALID, "error": message}
