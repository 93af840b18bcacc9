#!/usr/bin/env python3
"""Host cost of two ways a TorchScript loop over 28 layers can keep every layer's tensor (what the fused module's
prefill does with the attention inputs a gate scorer observes): a select and a copy into an array made up front (two
interpreted ops a layer), or appending to a list and stacking once. Tiny tensors, so the time is the interpreter's
and the dispatcher's, not the arithmetic's; "keep False" is the loop without keeping anything.

    python3 tools/bench_kept_inputs.py        # the CPU build machine, session 13: buffer +48 us, list +11.5 us per call
"""
import time, torch
from typing import List
class Buf(torch.nn.Module):
    def forward(self, x: torch.Tensor, ws: List[torch.Tensor], keep: bool) -> List[torch.Tensor]:
        layers = len(ws)
        hs = torch.empty(layers if keep else 0, x.size(0), x.size(1), dtype=x.dtype)
        for l in range(layers):
            h = torch.nn.functional.rms_norm(x, [x.size(1)], ws[l], 1e-6)
            if keep:
                hs[l].copy_(h)
            x = x + h
        return [x, hs]
class Lst(torch.nn.Module):
    def forward(self, x: torch.Tensor, ws: List[torch.Tensor], keep: bool) -> List[torch.Tensor]:
        layers = len(ws)
        kept: List[torch.Tensor] = []
        for l in range(layers):
            h = torch.nn.functional.rms_norm(x, [x.size(1)], ws[l], 1e-6)
            if keep:
                kept.append(h)
            x = x + h
        hs = torch.stack(kept, 0) if keep else torch.empty(0)
        return [x, hs]
x = torch.randn(4, 8)
ws = [torch.ones(8) for _ in range(28)]
modules = [("buffer", torch.jit.script(Buf())), ("list", torch.jit.script(Lst()))]
best = {}
for rnd in range(7):  # interleaved rounds, best of each: a shared 2-core machine is noisy
    for name, m in modules:
        for keep in (False, True):
            for _ in range(100):
                m(x, ws, keep)
            t0 = time.perf_counter()
            n = 1000
            for _ in range(n):
                m(x, ws, keep)
            us = (time.perf_counter() - t0) / n * 1e6
            best[(name, keep)] = min(best.get((name, keep), us), us)
for name, _ in modules:
    print(f"{name}: {best[(name, False)]:.1f} us without keeping, {best[(name, True)]:.1f} us keeping "
          f"(+{best[(name, True)] - best[(name, False)]:.1f} us)")
