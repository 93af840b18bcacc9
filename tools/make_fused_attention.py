#!/usr/bin/env python3
"""Writes kvgate's fused-attention TorchScript module (our own function; run where torch is installed).

    python3 tools/make_fused_attention.py fused-attention.pt
    KVGATE_FUSED_ATTENTION=fused-attention.pt ./kvgate ... --device gpu

kvgate's Model then calls this one function per layer instead of its matmul/softmax/matmul
chain, so the scores never go through device memory (flash / memory-efficient kernels of
scaled_dot_product_attention). Inputs, as Model holds them (the G query heads of each KV head flattened into rows):
  q     [nh, G*T, D]   queries, rows ordered (group, token)
  k, v  [nh, nk, D]    the block's keys and values
  mask  [T, nk]        additive float32 mask (0 / -inf) shared by all heads,
        [nh, T, nk]    or one per KV head (heads that kept different entries after eviction; padding slots -inf),
        [1, 1]         or "every key visible"
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
        elif mask.dim() == 2:
            rows = mask.to(q.dtype).repeat(q.size(2) // mask.size(0), 1)
            out = F.scaled_dot_product_attention(q, k.unsqueeze(0), v.unsqueeze(0), attn_mask=rows, scale=1.0)
        else:
            # per-KV-head mask: batch = KV heads, heads = the G query heads of each; the mask broadcasts over G
            nh, t = mask.size(0), mask.size(1)
            g = q.size(2) // t
            q4 = q.reshape(nh, g, t, q.size(3))
            k4 = k.unsqueeze(1).expand(nh, g, k.size(1), k.size(2))
            v4 = v.unsqueeze(1).expand(nh, g, v.size(1), v.size(2))
            out = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=mask.to(q.dtype).unsqueeze(1), scale=1.0)
            out = out.reshape(1, nh, g * t, q.size(3))
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
    # per-head mask: head 1 keeps only the odd keys (as after eviction; the rest are padding)
    per_head = mask.unsqueeze(0).repeat(nh, 1, 1)
    per_head[1, :, 0::2] = float("-inf")
    for m in (mask, per_head, torch.zeros(1, 1, device=dev)):
        if m.numel() == 1:
            ref_mask = 0
        elif m.dim() == 2:
            ref_mask = m.repeat(g, 1)
        else:
            ref_mask = m.repeat(1, g, 1)
        ref = torch.softmax((q.double() @ k.double().transpose(1, 2)) * 0.25 + ref_mask, -1) @ v.double()
        got = module(q, k, v, m, scale).double()
        err = ((got - ref).norm() / ref.norm()).item()
        assert err < 1e-3, err
        what = "no mask" if m.numel() == 1 else ("mask" if m.dim() == 2 else "per-head mask")
        print(f"fused attention check ({what}): rel err {err:.2e} on {dev}")


if __name__ == "__main__":
    scripted = torch.jit.script(FusedAttention())
    check(scripted)
    scripted.save(sys.argv[1] if len(sys.argv) > 1 else "fused-attention.pt")
