"""Quick GPU smoke check: our kernels vs the float64 reference in bf16/fp16/fp32, and a first timing."""
import time, torch, triton
from lightning_bench.kernels import lightning_attn, lightning_attn_reference, decay_slopes

def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()

torch.manual_seed(0)
print(torch.__version__, triton.__version__, torch.cuda.get_device_name())
for dtype in (torch.bfloat16, torch.float16, torch.float32):
    for decay in (False, True):
        for layout in ("bhnd", "bnhd"):
            for (n, d, e) in ((1000, 128, 128), (4097, 64, 96), (300, 96, 80), (65, 128, 16)):
                b, h = 2, 4
                shp = (lambda x: (b, h, n, x)) if layout == "bhnd" else (lambda x: (b, n, h, x))
                q, k, v = (torch.randn(shp(x), device="cuda", dtype=dtype, requires_grad=True) for x in (d, d, e))
                s = decay_slopes(h).cuda() if decay else None
                o = lightning_attn(q, k, v, s, layout=layout)
                do = torch.randn_like(o)
                g = torch.autograd.grad(o, (q, k, v), do)
                r = [x.detach().double().requires_grad_() for x in (q, k, v)]
                orf = lightning_attn_reference(*r, s, layout=layout)
                gr = torch.autograd.grad(orf, r, do.double())
                errs = [rel(o, orf)] + [rel(x, y) for x, y in zip(g, gr)]
                print(f"{str(dtype):15s} decay={decay:d} {layout} n={n} d={d} e={e} " + " ".join(f"{x:.2e}" for x in errs))
# timing
from triton.testing import do_bench
b, h, d = 2, 16, 128
for n in (2048, 16384, 131072):
    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    s = decay_slopes(h).cuda()
    t_f = do_bench(lambda: lightning_attn(q, k, v, s), return_mode="median")
    def fb():
        o = lightning_attn(q, k, v, s); o.backward(torch.ones_like(o)); q.grad = k.grad = v.grad = None
    t_fb = do_bench(fb, return_mode="median")
    print(f"la2 n={n} fwd {t_f:.3f} ms ({b*n/t_f/1e3:.1f} Mtok/s) fwd_bwd {t_fb:.3f} ms ({b*n/t_fb/1e3:.1f} Mtok/s)")
try:
    from fla.ops.simple_gla import chunk_simple_gla
    for n in (2048, 16384):
        q, k, v = (torch.randn(b, n, h, d, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
        s = decay_slopes(h).cuda()
        t_f = do_bench(lambda: chunk_simple_gla(q, k, v, g_gamma=-s, scale=1.0)[0], return_mode="median")
        print(f"fla n={n} fwd {t_f:.3f} ms ({b*n/t_f/1e3:.1f} Mtok/s)")
        o = chunk_simple_gla(q, k, v, g_gamma=-s, scale=1.0)[0]
        ref = lightning_attn_reference(q.detach()[:, :, -1:].double(), k.detach()[:, :, -1:].double(), v.detach()[:, :, -1:].double(), s[-1:], layout="bnhd")
        print("fla rel vs ref (last head)", rel(o[:, :, -1:], ref))
except Exception as ex:
    print("fla failed", repr(ex)[:300])
try:
    import lightning_attn.ops as lao
    print([x for x in dir(lao) if not x.startswith("_")])
    q, k, v = (torch.randn(b, h, 2048, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    s = decay_slopes(h).cuda()
    o = lao.lightning_attn_func(q, k, v, s.reshape(h, 1, 1))
    print("ref rel", rel(o, lightning_attn_reference(q, k, v, s)))
except Exception as ex:
    print("reference failed", repr(ex)[:300])
try:
    import xformers.ops as xops
    x = torch.randn(1, 128, 2, 64, device="cuda", dtype=torch.bfloat16)
    xops.memory_efficient_attention(x, x, x, attn_bias=xops.LowerTriangularMask())
    print("xformers ok")
except Exception as ex:
    print("xformers failed", repr(ex)[:300])
