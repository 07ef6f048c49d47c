"""Results I/O: the long-format CSV schema, row-at-a-time appends, resume keys and raw samples.

A run directory holds ``rows.csv`` (one row per provider × mode × case, appended and flushed as soon as it is
measured, so an interrupted run leaves a valid CSV), ``samples.jsonl`` (raw per-sample times of every ok row),
``env.json`` and the plots.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

REQUIRED_COLUMNS = [
    "provider", "impl", "mode", "batch", "heads", "seq_len", "head_dim", "value_dim", "dtype", "decay", "status",
    "reason", "n_samples", "median_ms", "p20_ms", "p80_ms", "first_call_ms", "flops", "tflops", "tokens_per_s",
    "peak_mem_mib", "energy_j", "avg_power_w", "sm_clock_mhz", "temp_c",
]
EXTRA_COLUMNS = [
    "family", "flop_model", "mean_ms", "min_ms", "max_ms", "iqr_ms", "timer", "l2_policy", "warmup_calls",
    "peak_reserved_mib", "check", "rel_l2", "energy_per_token_j", "window_ms_per_call", "window_calls",
    "throttle_reasons", "power_violation_ms", "thermal_violation_ms", "device", "order", "timestamp", "note",
    "dispatch", "kernels",
]
COLUMNS = REQUIRED_COLUMNS + EXTRA_COLUMNS
KEY_COLUMNS = ["provider", "mode", "batch", "heads", "seq_len", "head_dim", "value_dim", "dtype", "decay"]
STATUSES = ("ok", "oom", "unsupported", "compile_failed", "numerics_failed", "overflow", "error", "skipped")

ROWS_FILE = "rows.csv"
SAMPLES_FILE = "samples.jsonl"
ENV_FILE = "env.json"


def row_key(row: dict) -> tuple:
    return tuple(str(row[c]) for c in KEY_COLUMNS)


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v) if abs(v) < 1e15 else f"{v:.6e}"
    return v


class ResultWriter:
    """Appends rows to ``rows.csv`` (header written once) and raw samples to ``samples.jsonl``, flushing each."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rows_path = self.run_dir / ROWS_FILE
        self.samples_path = self.run_dir / SAMPLES_FILE
        new = not self.rows_path.exists() or self.rows_path.stat().st_size == 0
        if not new:
            with self.rows_path.open(newline="") as f:
                header = next(csv.reader(f), [])
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ValueError(f"{self.rows_path} is not a lightning-bench rows.csv (missing columns {missing})")
            self.columns = header
        else:
            self.columns = COLUMNS
        self._f = self.rows_path.open("a", newline="")
        self._w = csv.DictWriter(self._f, fieldnames=self.columns, extrasaction="ignore")
        if new:
            self._w.writeheader()
            self._f.flush()

    def write(self, row: dict, samples: list[float] | None = None) -> None:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"row has columns outside the schema: {sorted(unknown)}")
        if row.get("status") not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {row.get('status')!r}")
        self._w.writerow({c: _fmt(row.get(c)) for c in self.columns})
        self._f.flush()
        if samples:
            with self.samples_path.open("a") as f:
                f.write(json.dumps({"key": dict(zip(KEY_COLUMNS, row_key(row))), "samples_ms": samples}) + "\n")

    def close(self) -> None:
        self._f.close()


def done_keys(run_dir: Path) -> set[tuple]:
    """Keys of rows already in ``run_dir/rows.csv`` (for ``--resume``)."""
    path = Path(run_dir) / ROWS_FILE
    if not path.exists():
        return set()
    with path.open(newline="") as f:
        return {row_key(r) for r in csv.DictReader(f) if r.get("provider")}


def read_rows(run_dir: Path):
    """The run's rows as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(Path(run_dir) / ROWS_FILE)


def write_env(run_dir: Path, env: dict) -> Path:
    path = Path(run_dir) / ENV_FILE
    if path.exists():  # a resumed run keeps the first environment and adds this one beside it
        stamp = env.get("timestamp_utc", "resume").replace(":", "").replace("-", "")
        path = Path(run_dir) / f"env_resume_{stamp}.json"
    path.write_text(json.dumps(env, indent=2, default=str) + "\n")
    return path
