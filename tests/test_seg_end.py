"""The segment-end pre-pass of the split forwards (``kernel._seg_end_states``): E_p = Σ_{t∈p} λ^(last_p − t) k_tᵀ v_t
against float64, unsplit and with each segment's sum split over several programs (``chunks``), on fresh random
inputs with NaN-poisoned buffers (runs under the Triton interpreter on the CPU)."""
from __future__ import annotations

import pytest
import torch

from lightning_bench.kernels import decay_slopes, lightning_attn_reference
from lightning_bench.kernels.lightning_attn2 import kernel as K

pytestmark = pytest.mark.usefixtures("nan_poison")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _reference(k, v, slopes, seg, nseg):
    """float64 [b·h, nseg, d, e] from bhnd k, v: each segment's final state from zero (the float64 oracle's)."""
    b, h, n, d = k.shape
    kk, vv = k.double().cpu(), v.double().cpu()
    sl = None if slopes is None else slopes.cpu()
    ends = [lightning_attn_reference(kk[:, :, p * seg:(p + 1) * seg], kk[:, :, p * seg:(p + 1) * seg],
                                     vv[:, :, p * seg:(p + 1) * seg], sl, output_final_state=True)[1]
            for p in range(nseg)]
    return torch.stack(ends, 2).reshape(b * h, nseg, d, v.shape[-1])


@pytest.mark.parametrize("every", [True, False])  # all segments (sequence parallel) or all but the last (forwards)
@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("n,nseg,chunks", [(256, 2, 1), (256, 2, 3), (200, 3, 2), (320, 2, 8)])
def test_segment_end_states_split_over_chunks_match_float64(decay, n, nseg, chunks, every):
    g = torch.Generator().manual_seed(n + nseg + chunks)
    b, h, d, e = 1, 2, 32, 16
    k, v = (torch.randn(b, h, n, x, generator=g).to(DEVICE) for x in (d, e))
    sl = (decay_slopes(h) * 8).to(DEVICE) if decay else None
    nseg, seg = K.segments(nseg, 1, 1, n, 64)
    count = nseg if every else nseg - 1
    buf = K._seg_end_states(k, v, sl, k, "bhnd", h, n, d, e, seg, nseg, count, K._prec(k.dtype, "ieee"), 64, d, e,
                            4, 1, chunks=chunks)
    assert buf.shape == (b * h, nseg, d, e)
    buf, ref = buf[:, :count], _reference(k, v, sl, seg, nseg)[:, :count]
    assert torch.isfinite(buf).all()
    err = ((buf.double().cpu() - ref).norm() / ref.norm()).item()
    assert err <= 1e-5, err
