import sys, torch, json
sys.path.insert(0, '.')
from lightning_bench.kernels import decay_slopes, lightning_attn
b,h,n=2,16,2048
q,k,v,do=(torch.randn(b,h,n,128,device='cuda').to(torch.bfloat16) for _ in range(4))
sl=decay_slopes(h).cuda()
qg,kg,vg=(t.clone().requires_grad_() for t in (q,k,v))
f=lambda: torch.autograd.grad(lightning_attn(qg,kg,vg,sl),(qg,kg,vg),do)
for _ in range(30): f()
torch.cuda.synchronize()
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CPU], with_stack=False, record_shapes=False) as p:
    for _ in range(50):
        with torch.profiler.record_function("step"):
            f()
    torch.cuda.synchronize()
out=sys.argv[1]
p.export_chrome_trace(out+"/trace.json")
open(out+"/table.txt","w").write(p.key_averages().table(sort_by="cpu_time_total", row_limit=40))
print(p.key_averages().table(sort_by="cpu_time_total", row_limit=25))
