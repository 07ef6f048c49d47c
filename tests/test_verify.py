"""`lightning-bench verify`: the R-closed formulas against the float64 reference, the CPU matrix, failure rows."""

from __future__ import annotations

import pandas as pd
import torch
from click.testing import CliRunner

from lightning_bench.cli import main
from lightning_bench.kernels import lightning_attn_reference
from lightning_bench.verify import VerifyCase, _closed_form, run_verify


def test_closed_form_matches_float64_reference():
    n, d, e = 50, 4, 3
    for slope in (0.0, 0.3, 5.0):
        a, b, g = 0.5, 0.25, 2.0
        q = torch.full((1, 1, n, d), a, dtype=torch.float64, requires_grad=True)
        k = torch.full((1, 1, n, d), b, dtype=torch.float64, requires_grad=True)
        v = torch.full((1, 1, n, e), g, dtype=torch.float64, requires_grad=True)
        sl = None if slope == 0 else torch.tensor([slope])
        o = lightning_attn_reference(q, k, v, sl)
        dq, dk, dv = torch.autograd.grad(o, (q, k, v), torch.ones_like(o))
        s32 = float(torch.tensor(slope, dtype=torch.float32))  # the kernels take fp32 slopes
        exp = _closed_form(a, b, g, s32, n, d, e, "cpu")
        for got, want in zip((o, dq, dk, dv), exp):
            torch.testing.assert_close(got[0, 0, :, 0], want, rtol=1e-10, atol=1e-12)


def test_cli_verify_on_this_machine(tmp_path):
    r = CliRunner().invoke(main, ["verify", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "verify.csv")
    assert df["pass"].all() and len(df) >= 20
    assert {"o", "dq", "dk", "dv", "final_state", "d_initial_state"} <= set(df["tensor"].str.split("[").str[0])
    assert (df["rel_l2"] <= df["tol"]).all()
    assert (tmp_path / "verify.md").read_text().count("PASS") == len(df)


def test_a_failing_case_is_a_failed_row_not_a_crash():
    bad = VerifyCase("bad-varlen", "fp32", 1, 2, 10, 16, 16, varlen=(3, 3))  # lengths do not sum to seq_len
    rows = run_verify([bad], device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    assert len(rows) == 1 and not rows[0].passed and "varlen" in rows[0].note


def test_only_filters_cases_and_bad_arguments_are_clear():
    import torch as _t

    from lightning_bench.verify import run_verify

    rows = run_verify(device=_t.device("cpu"), only="closed")
    assert rows and {r.case.name for r in rows} == {"cpu-closed"}
    assert all(r.passed for r in rows)
    import pytest as _p

    with _p.raises(ValueError, match="only"):
        run_verify(device=_t.device("cpu"), only="(")
    with _p.raises(ValueError, match="fla"):
        run_verify(device=_t.device("cpu"), fla="some")
