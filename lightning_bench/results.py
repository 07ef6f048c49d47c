"""Results I/O: the long-format CSV schema, row-at-a-time appends, resume keys and raw samples.

A run directory holds ``rows.csv`` (one row per provider × mode × case, appended and flushed as soon as it is
measured, so an interrupted run leaves a valid CSV), ``samples.jsonl`` (raw per-sample times of every ok row),
``env.json`` and the plots. A sharded sweep (torchrun, one rank per GPU) has each rank append to its own
``rows.rank<r>.csv`` / ``samples.rank<r>.jsonl`` and merges them into ``rows.csv`` / ``samples.jsonl`` at the end
(:func:`merge_rank_files`; ``--resume`` merges what a crashed run left first), so the result set has the same
schema as a one-GPU run, with the device of every row.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path

REQUIRED_COLUMNS = [
    "provider", "impl", "mode", "batch", "heads", "seq_len", "head_dim", "value_dim", "dtype", "decay", "status",
    "reason", "n_samples", "median_ms", "p20_ms", "p80_ms", "first_call_ms", "flops", "tflops", "tokens_per_s",
    "peak_mem_mib", "energy_j", "avg_power_w", "sm_clock_mhz", "temp_c",
]
EXTRA_COLUMNS = [
    "family", "flop_model", "mean_ms", "min_ms", "max_ms", "iqr_ms", "timer", "l2_policy", "warmup_calls",
    "host_ms",
    "peak_reserved_mib", "check", "rel_l2", "energy_per_token_j", "window_ms_per_call", "window_calls",
    "throttle_reasons", "power_violation_ms", "thermal_violation_ms", "device", "device_name", "rank", "world_size",
    "order", "timestamp", "note", "dispatch", "kernels",
]
COLUMNS = REQUIRED_COLUMNS + EXTRA_COLUMNS
KEY_COLUMNS = ["provider", "mode", "batch", "heads", "seq_len", "head_dim", "value_dim", "dtype", "decay"]
STATUSES = ("ok", "oom", "unsupported", "compile_failed", "numerics_failed", "overflow", "error", "skipped")

ROWS_FILE = "rows.csv"
SAMPLES_FILE = "samples.jsonl"
ENV_FILE = "env.json"
_RANK_ROWS = re.compile(r"^rows\.rank(\d+)\.csv$")


def rank_rows_file(rank: int) -> str:
    """Per-rank rows file of a sharded sweep (merged into ``rows.csv`` at the end)."""
    return f"rows.rank{rank}.csv"


def rank_samples_file(rank: int) -> str:
    return f"samples.rank{rank}.jsonl"


def rank_files(run_dir: Path) -> list[tuple[int, Path, Path]]:
    """(rank, rows file, samples file) of every per-rank rows file in ``run_dir``, by rank."""
    out = []
    for p in Path(run_dir).glob("rows.rank*.csv"):
        m = _RANK_ROWS.match(p.name)
        if m:
            r = int(m.group(1))
            out.append((r, p, p.with_name(rank_samples_file(r))))
    return sorted(out)


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

    def __init__(self, run_dir: Path, rows_file: str = ROWS_FILE, samples_file: str = SAMPLES_FILE):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rows_path = self.run_dir / rows_file
        self.samples_path = self.run_dir / samples_file
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


def _read_csv(path: Path) -> list[dict]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("provider")]


def done_keys(run_dir: Path) -> set[tuple]:
    """Keys of rows already in ``run_dir/rows.csv`` and in any per-rank rows file not merged yet (for
    ``--resume``)."""
    paths = [Path(run_dir) / ROWS_FILE] + [p for _, p, _ in rank_files(run_dir)]
    return {row_key(r) for p in paths for r in _read_csv(p)}


def merge_rank_files(run_dir: Path, order=None) -> int:
    """Merge the per-rank files of a sharded sweep into ``rows.csv`` and ``samples.jsonl``; returns the rows added.

    Rows whose key (:data:`KEY_COLUMNS`) is already in ``rows.csv`` are not added again, nor are their samples, so
    merging twice (a crash between appending and deleting, then ``--resume``) never duplicates a row. New rows are
    appended in ``order(row)`` order (default: rank order, then file order) and flushed to disk before the rank
    files are removed.

    Raises:
        ValueError: a rank file or rows.csv that is not a lightning-bench rows.csv.
    """
    run_dir = Path(run_dir)
    files = rank_files(run_dir)
    if not files:
        return 0
    have = {row_key(r) for r in _read_csv(run_dir / ROWS_FILE)}
    new, seen = [], set()
    for rank, rows_path, _ in files:
        with rows_path.open(newline="") as f:
            header = next(csv.reader(f), [])
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if header and missing:
            raise ValueError(f"{rows_path} is not a lightning-bench rows file (missing columns {missing})")
        for i, r in enumerate(_read_csv(rows_path)):
            key = row_key(r)
            if key in have or key in seen:
                continue
            seen.add(key)
            new.append((order(r) if order else (), rank, i, r))
    new.sort(key=lambda t: (t[0], t[1], t[2]))
    # samples first, then rows: a crash in between leaves samples whose rows a second merge adds (never duplicates)
    have_samples = set()
    spath = run_dir / SAMPLES_FILE
    if spath.exists():
        with spath.open() as f:
            have_samples = {tuple(str(v) for v in json.loads(line)["key"].values()) for line in f if line.strip()}
    lines = []
    for _, _, samples_path in files:
        if samples_path.exists():
            with samples_path.open() as f:
                for line in f:
                    if not line.strip():
                        continue
                    key = tuple(str(v) for v in json.loads(line)["key"].values())
                    if key in seen and key not in have_samples:
                        lines.append(line if line.endswith("\n") else line + "\n")
                        have_samples.add(key)
    if lines:
        with spath.open("a") as out:
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
    writer = ResultWriter(run_dir)
    try:
        for *_, r in new:
            writer._w.writerow({c: r.get(c, "") for c in writer.columns})
        writer._f.flush()
        os.fsync(writer._f.fileno())
    finally:
        writer.close()
    for _, rows_path, samples_path in files:
        rows_path.unlink()
        if samples_path.exists():
            samples_path.unlink()
    return len(new)


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
