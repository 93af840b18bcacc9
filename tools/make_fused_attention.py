#!/usr/bin/env python3
"""Writes kvgate's fused-attention TorchScript module (our own function; run where torch is installed).

    python3 tools/make_fused_attention.py fused-attention.pt
    KVGATE_FUSED_ATTENTION=fused-attention.pt ./kvgate ... --device gpu

kvgate's Model then calls this one function per (layer, KV-head block) instead of its matmul/softmax/matmul
chain, so the scores never go through device memory (flash / memory-efficient kernels of
scaled_dot_product_attention). Inputs, as Model holds them (the G query heads of each KV head flattened into rows):
  q     [nh, G*T, D]   queries, rows ordered (group, token)
  k, v  [nh, nk, D]    the block's keys and values
  mask  [T, nk]        additive float32 mask (0 / -inf), or [1, 1] meaning "every key visible"
  scale []             float32 softmax scale
Returns [nh, G*T, D]. Save it with the torch version that runs it (TorchScript files load forward, not back).
"""
import sys

import torch
import torch.nn.functional as F


class FusedAttention(torch.nn.Module):
    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                scale: torch.Tensor) -> torch.Tensor:
        q = (q * scale.to(q.dtype)).unsqueeze(0)
        if mask.numel() == 1:
            out = F.scaled_dot_product_attention(q, k.unsqueeze(0), v.unsqueeze(0), scale=1.0)
        else:
            rows = mask.to(q.dtype).repeat(q.size(2) // mask.size(0), 1)
            out = F.scaled_dot_product_attention(q, k.unsqueeze(0), v.unsqueeze(0), attn_mask=rows, scale=1.0)
        return out.squeeze(0)


def check(module):
    """The scripted function against plain softmax attention in float64 (fresh random inputs, with and without mask)."""
    torch.manual_seed(0)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    nh, g, t, nk, d = 2, 4, 5, 37, 16
    q, k, v = (torch.randn(nh, g * t, d, device=dev), torch.randn(nh, nk, d, device=dev), torch.randn(nh, nk, d, device=dev))
    pos_k = torch.arange(nk, device=dev)
    pos_q = torch.arange(nk - t, nk, device=dev)
    mask = torch.where(pos_k[None, :] <= pos_q[:, None], 0.0, float("-inf")).float()
    scale = torch.tensor(0.25, device=dev)
    for m in (mask, torch.zeros(1, 1, device=dev)):
        ref_mask = m.repeat(g, 1) if m.numel() > 1 else 0
        ref = torch.softmax((q.double() @ k.double().transpose(1, 2)) * 0.25 + ref_mask, -1) @ v.double()
        got = module(q, k, v, m, scale).double()
        err = ((got - ref).norm() / ref.norm()).item()
        assert err < 1e-3, err
        print(f"fused attention check ({'mask' if m.numel() > 1 else 'no mask'}): rel err {err:.2e} on {dev}")


if __name__ == "__main__":
    scripted = torch.jit.script(FusedAttention())
    check(scripted)
    scripted.save(sys.argv[1] if len(sys.argv) > 1 else "fused-attention.pt")
