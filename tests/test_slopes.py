"""Tests of ``decay_slopes`` against the conventions in shared docs §1 ("Slope conventions found in the wild")."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_bench.kernels import SCHEMES, decay_slopes


def _as_list(t: torch.Tensor) -> list[float]:
    return [float(x) for x in t]


def _f32(vals) -> torch.Tensor:
    return torch.tensor(vals, dtype=torch.float64).to(torch.float32)


def test_schemes_listed():
    assert set(SCHEMES) == {"alibi", "alibi_layer", "linear"}


@pytest.mark.parametrize("scheme,kw", [("alibi", {}), ("alibi_layer", dict(layer_idx=1, num_layers=4)),
                                       ("linear", dict(layer_idx=1, num_layers=4))])
@pytest.mark.parametrize("heads", [1, 5, 8, 12, 32])
def test_dtype_shape_device(scheme, kw, heads):
    s = decay_slopes(heads, scheme, **kw)
    assert isinstance(s, torch.Tensor)
    assert s.dtype == torch.float32 and s.shape == (heads,) and s.device.type == "cpu"
    assert not s.requires_grad
    assert torch.isfinite(s).all() and (s >= 0).all()


def test_default_scheme_is_alibi():
    assert torch.equal(decay_slopes(8), decay_slopes(8, "alibi"))


def test_alibi_h8_exact_powers_of_two():
    s = decay_slopes(8, "alibi")
    expected = torch.tensor([2.0 ** -(i + 1) for i in range(8)], dtype=torch.float32)
    assert torch.equal(s, expected), _as_list(s)


@pytest.mark.parametrize("heads", [1, 2, 4, 16, 32, 64])
def test_alibi_power_of_two_formula(heads):
    """2^(−8(h+1)/H) for H a power of two."""
    s = decay_slopes(heads, "alibi")
    expected = _f32([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)])
    torch.testing.assert_close(s, expected, rtol=1e-6, atol=0)
    # strictly decreasing; the smallest slope is always 2^-8
    assert (s[1:] < s[:-1]).all()
    assert float(s[-1]) == 2.0**-8


def test_alibi_h32_extremes():
    s = decay_slopes(32, "alibi")
    assert float(s.min()) == 2.0**-8
    assert math.isclose(float(s.max()), 2.0**-0.25, rel_tol=1e-6)
    assert math.isclose(float(s.max()), 0.8409, rel_tol=1e-4)  # docs §1: "0.841 (H = 32)"
    assert math.isclose(float(decay_slopes(64, "alibi").max()), 2.0**-0.125, rel_tol=1e-6)  # 0.917 (H = 64)


def test_alibi_h12_reference_rule():
    """Non-power-of-two H: the P = 8 list, then entries 0, 2, 4, 6 of the 16-list (2^(−0.5(i+1)))."""
    s = decay_slopes(12, "alibi")
    p8 = [2.0 ** -(i + 1) for i in range(8)]
    l16 = [2.0 ** (-0.5 * (i + 1)) for i in range(16)]
    expected = _f32(p8 + l16[0::2][:4])
    torch.testing.assert_close(s, expected, rtol=1e-6, atol=0)
    # spelled out: 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5
    torch.testing.assert_close(s[8:], _f32([2**-0.5, 2**-1.5, 2**-2.5, 2**-3.5]), rtol=1e-6, atol=0)


@pytest.mark.parametrize("heads", [3, 5, 6, 7, 12, 20, 24, 48])
def test_alibi_non_power_of_two_general(heads):
    p = 2 ** int(math.floor(math.log2(heads)))
    lp = [2.0 ** (-8.0 * (i + 1) / p) for i in range(p)]
    l2p = [2.0 ** (-8.0 * (i + 1) / (2 * p)) for i in range(2 * p)]
    expected = _f32(lp + l2p[0::2][: heads - p])
    torch.testing.assert_close(decay_slopes(heads, "alibi"), expected, rtol=1e-6, atol=0)


def test_alibi_layer_known_values():
    """ALiBi × (1 − l/(L−1) + 1e−5)."""
    base = decay_slopes(8, "alibi").double()
    torch.testing.assert_close(decay_slopes(8, "alibi_layer", layer_idx=0, num_layers=4).double(),
                               base * (1 + 1e-5), rtol=1e-6, atol=0)
    torch.testing.assert_close(decay_slopes(8, "alibi_layer", layer_idx=1, num_layers=4).double(),
                               base * (1 - 1 / 3 + 1e-5), rtol=1e-6, atol=0)
    # last layer: almost undecayed
    last = decay_slopes(8, "alibi_layer", layer_idx=3, num_layers=4).double()
    torch.testing.assert_close(last, base * 1e-5, rtol=1e-5, atol=0)
    assert float(last[0]) == pytest.approx(0.5e-5, rel=1e-5)
    # a single layer: plain ALiBi (no division by zero)
    torch.testing.assert_close(decay_slopes(8, "alibi_layer", layer_idx=0, num_layers=1), decay_slopes(8))
    # non-power-of-two H uses the same ALiBi list
    torch.testing.assert_close(decay_slopes(12, "alibi_layer", layer_idx=2, num_layers=5).double(),
                               decay_slopes(12).double() * (1 - 2 / 4 + 1e-5), rtol=1e-6, atol=0)


def test_linear_known_values():
    """ICML eq. 10: (8h/H)·(1 − l/L)."""
    torch.testing.assert_close(decay_slopes(4, "linear", layer_idx=1, num_layers=4),
                               _f32([0.0, 1.5, 3.0, 4.5]), rtol=1e-6, atol=0)
    s0 = decay_slopes(8, "linear", layer_idx=0, num_layers=12)
    torch.testing.assert_close(s0, _f32([float(h) for h in range(8)]), rtol=1e-6, atol=0)
    assert float(s0[0]) == 0.0  # head 0 has no decay
    s = decay_slopes(32, "linear", layer_idx=0, num_layers=24)
    assert float(s[-1]) == pytest.approx(8 * 31 / 32)  # last head of layer 0 has slope ≈ 8
    s_last = decay_slopes(6, "linear", layer_idx=23, num_layers=24)
    torch.testing.assert_close(s_last, _f32([8 * h / 6 / 24 for h in range(6)]), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "args,kwargs,pattern",
    [
        ((0,), {}, r"num_heads"),
        ((-3,), {}, r"num_heads"),
        ((4.0,), {}, r"num_heads"),
        (("8",), {}, r"num_heads"),
        ((8, "cosine"), {}, r"scheme"),
        ((8, "alibi_layer"), {}, r"layer_idx.*num_layers"),
        ((8, "linear"), dict(layer_idx=0), r"num_layers"),
        ((8, "linear"), dict(num_layers=4), r"layer_idx"),
        ((8, "linear"), dict(layer_idx=4, num_layers=4), r"layer_idx"),
        ((8, "alibi_layer"), dict(layer_idx=-1, num_layers=4), r"layer_idx"),
        ((8, "linear"), dict(layer_idx=0, num_layers=0), r"num_layers"),
    ],
    ids=["zero", "negative", "float", "str", "scheme", "layer_missing", "num_layers_missing", "layer_idx_missing",
         "layer_idx_eq_L", "layer_idx_negative", "num_layers_0"],
)
def test_errors(args, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        decay_slopes(*args, **kwargs)
