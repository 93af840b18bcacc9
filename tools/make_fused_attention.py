#!/usr/bin/env python3
"""Writes kvgate's fused TorchScript module (our own functions; run where torch is installed).

    python3 tools/make_fused_attention.py fused-attention.pt
    KVGATE_FUSED_ATTENTION=fused-attention.pt ./kvgate ... --device gpu

Every NDArray op kvgate issues through DJL is one JNI call into libtorch (~10 us of host time on the H100 machine),
so a decoder layer of ~65 ops is host-bound on a GPU. This module holds whole pieces of a layer, each one call:

forward(q, k, v, mask, scale) -> [nh, G*T, D]          (the original entry point, kept for older callers)
  q     [nh, G*T, D]   queries, rows ordered (group, token): the G query heads of each KV head flattened
  k, v  [nh, nk, D]    keys and values
  mask  [T, nk]        additive float32 mask (0 / -inf) shared by all heads,
        [nh, T, nk]    or one per KV head (heads that kept different entries after eviction; padding slots -inf),
        [1, 1]         or "every key visible"
  scale []             float32 softmax scale

attend(q, k, v, mask, scale: float, t: int, causal: bool, window: int) -> [nh*G, T, D] (possibly a view)
  q, k, v, mask as above, t = T. causal: the T queries are the last T of the nk key positions, which are
  consecutive (an unevicted cache): bottom-right causal, with a sliding window of `window` keys when > 0, and `mask`
  is ignored. In float16/bfloat16 on a GPU that is FlashAttention-2 (aten::_flash_attention_forward, whose causal
  mask is bottom-right aligned), never an explicit mask; when the keys are exactly the T queries (a first chunk),
  plain causal sdpa (cuDNN's attention on Hopper). Few query rows (decode steps): matmul -> float32 softmax
  -> matmul (torch's sdpa picks cuDNN there in float16, measured 3.5-7 ms per call).

attend_segments(q, k_rows, v_rows, starts, used, max_k: int, scale: float, t: int) -> [nh*G, T, D]
  Attention of a chunk over a layer whose KV heads kept different entries (after eviction), read in place, with no
  mask and no gather: k_rows/v_rows [rows, D] the layer's storage, where head h's entries (kept ones, then the
  appended ones, the chunk's T tokens last) are rows starts[h] .. starts[h] + used[h] (int32 [nh + 1] and [nh]; the
  rows after them, up to the next start, are spare). Every head's entries are one sequence of a variable-length
  attention, bottom-right causal: FlashAttention-2 varlen with per-sequence used keys (seqused_k) in half precision,
  the memory-efficient kernel with per-sequence key lengths (seqlen_k) in float32 (GPU), one sdpa per head on a CPU.
  (Version 10's attend_packed gathered the rows into a packed copy first, from an index the host built and
  uploaded for every layer and chunk: ~3 M ints a chunk at 32K tokens for a 28-layer model.)

decoder_in(x, in_norm, qkv_t, qkv_bias, qk_norm, cos, sin, rot, heads, kv_heads, eps) -> (h, q, k, v)
  Qwen2/Qwen3 input RMSNorm, fused q/k/v projection (+ bias), per-head q/k RMSNorm (Qwen3), RoPE with the chunk's
  cos/sin rows [T, D] (cut once for all layers) and rotate_half as the signed permutation rot [D, D] (one exact
  matmul: each output is +-one input). Empty tensors stand for an absent bias / q-k norm. A prefill chunk is
  host-bound by the ops TorchScript interprets (~10 us each): this form is 8 ops fewer per layer than slicing the
  tables and building rotate_half from slices.
  h [T, hidden] (the attention input), q [H, T, D], k [Hkv, T, D], v [Hkv, T, D]; k and v contiguous and sharing no
  storage (LayerKv adopts a first chunk's as its storage).


decoder_out(x, attn, o_t, o_bias, post_norm, gate_up_t, down_t, eps) -> x'
  o_proj over attn [H, T, D] (+ bias), residual, post-attention RMSNorm, SwiGLU MLP, residual.

decode_step(meta, embed, layer_w, ks, vs, owns, segments, limits, diag, cos, sin, final_norm, lm_head_t, heads,
            kv_heads, eps, scale) -> (logits [1, V] float32, attention inputs [L, 1, hidden])
  One greedy-decoding step of a whole Qwen2/Qwen3 model in one call. meta: int64 [2 + L] on the device = token id,
  its position, then for every layer the index its new K/V goes to (shared layout: the column; ragged layout: the
  tokens appended to each segment since its re-layout). layer_w: 9 tensors per layer (in_norm, qkv_t, qkv_bias,
  qk_norm, o_t, o_bias, post_norm, gate_up_t, down_t; empty tensors for absent ones). ks/vs[l]: the layer's whole
  storage, written in place: shared [Hkv, capacity, D] (owns[l] empty; columns after the index are not attended) or
  ragged [rows, 1, D]: one segment of rows per KV head (kept entries, appended ones, spare rows; LayerKv.java),
  owns[l] its ownership mask [Hkv, 1, rows] (0 on a head's filled rows, -inf elsewhere; the new rows get diag
  [Hkv, 1, Hkv]), segments[2l] int32 [2, Hkv + 1] the segment starts and each head's kept rows, segments[2l + 1]
  int64 [Hkv] each head's first row after its kept ones (head h writes row segments[2l + 1][h] + index). limits[l]:
  shared layout: the columns attended (more than the index; a graph stays valid while the index is below it),
  ragged: the longest segment. Every shape and address is fixed by the storage, never by the step's values, so the
  step can be captured once as a CUDA graph and replayed with a new meta. In half precision on a GPU both layouts
  attend with FlashAttention-2 varlen, the filled lengths read on the device (seqused_k): shared as one sequence of
  Hkv heads, ragged as one sequence per KV head (its segment).

sink_gate_scores(x, wq, q_bias, wk, q_norm, k_norm, sink_keys, bias, kv_heads, eps) -> [n, Hkv, T] float32
  Fast KVzip's sink-attention gates of n layers (ALGORITHM.md §2) in one call: x [n, T, D] the layers' attention
  inputs, wq [n, D, Hkv*G*d] and wk [n, D, Hkv*d] the projections (x is cast to their dtype: float16 inputs project in
  float16 unless kvgate's KVGATE_GATE_PRECISION=float32), the float32 rest (q_bias [n, Hkv*G*d], q_norm/k_norm [n, d],
  sink_keys [n, Hkv, d, S] a column per sink key, bias [n, Hkv*G]) in any shape with those elements (n = 1: one gate's
  own shapes, x [1, T, D]). With --graph-ops on a GPU everything after the two projections is one kernel
  (kvgate::sink_gate_scores, native/kvgate_sink_gate.cu) instead of ~17 elementwise passes; else torch's ops.

With --graph-ops LIB (kvgate's own native/kvgate_cuda_graph.cpp, built by tools/build_cuda_graph_ops.sh) the
module also gets
decode_capture(key, meta, <decode_step's other arguments>) -> [logits, hs, static logits, static hs]
  runs the step (its results first), then captures it as CUDA graph `key` (the static outputs are the graph's).
decode_replay(key, static_meta, meta, outs) -> clones of outs after copying meta into static_meta and replaying.
graph_reset(key) frees graph `key`. has_graphs() tells which kind of file this is. memory_stats(device) ->
[allocated bytes, peak allocated bytes] and memory_reset_peak(device): torch's caching-allocator counters.
gpu_trace_start() and gpu_trace_stop(path) -> summary: the GPU's own time per kernel through torch's Kineto profiler
(native/kvgate_gpu_trace.cpp; DJL's profiler records host times only).

RMSNorm is computed in float32 and cast back before the weight, as transformers' Qwen2RMSNorm. Model's own Java
path computes the same functions op by op and stays the reference (CPU default, parity tests).
Save the file with the torch version that runs it (TorchScript files load forward, not back).
"""
import argparse
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

VERSION = 15  # what version() returns (TorchScript cannot read module globals: the literals below must match)


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # x / sqrt(mean(x^2) + eps) * weight as one op (one fused kernel on a GPU, statistics in float32 for half inputs):
    # a decode step is bound by its kernel count and a prefill chunk by its op count (transformers casts back to the
    # input dtype before the weight: one rounding more, within float16's parity tolerance)
    if weight.dim() == 1:
        return torch.rms_norm(x, [x.size(-1)], weight, eps)
    return torch.rms_norm(x, [x.size(-1)], None, eps) * weight   # per-row weights (q_norm and k_norm rows together)


def _rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """RoPE x * cos + rotate_half(x) * sin, with rotate_half(x) = (-x2, x1) taken as flip(x1, x2) * (-sin1, sin2):
    three kernels instead of five (neg, cat, mul, mul, add)."""
    half = x.size(-1) // 2
    swapped = x.unflatten(-1, [2, half]).flip([-2]).flatten(-2)
    return torch.addcmul(x * cos, swapped, signed_sin)


def _signed_sin(sin: torch.Tensor) -> torch.Tensor:
    half = sin.size(-1) // 2
    return torch.cat((-sin[..., :half], sin[..., half:]), -1)


def _token_major(q: torch.Tensor, t: int) -> torch.Tensor:
    """Queries [Hkv, G*T, D] (rows group, token) as [Hkv*T, G, D]: each KV head's T tokens, the G query heads as heads."""
    nh, d = q.size(0), q.size(2)
    return q.reshape(nh, q.size(1) // t, t, d).transpose(1, 2).reshape(nh * t, q.size(1) // t, d)


def _head_major(out: torch.Tensor, nh: int, t: int) -> torch.Tensor:
    """[Hkv*T, G, D] back to [Hkv*G, T, D] (query heads of KV head h first)."""
    g, d = out.size(1), out.size(2)
    return out.view(nh, t, g, d).transpose(1, 2).reshape(nh * g, t, d)


def _varlen_attention(qp: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
                      t: int, max_k: int, scale: float, used: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Variable-length attention on a GPU, bottom-right causal, no mask: sequence i is queries qp[cu_q[i]:cu_q[i+1]]
    [., G, D] over keys kp/vp[cu_k[i]:cu_k[i+1]] [., D] (one KV head shared by the G query heads), or over the first
    used[i] of them when `used` is given (the rest are spare rows). FlashAttention-2 in half precision; the
    memory-efficient kernel (custom_mask_type 2) in float32, which has no FlashAttention and needs the key repeated
    per query head. Returns [total queries, G, D]."""
    if qp.dtype == torch.float16 or qp.dtype == torch.bfloat16:
        return torch.ops.aten._flash_attention_forward(qp, kp.unsqueeze(1), vp.unsqueeze(1), cu_q, cu_k, t, max_k, 0.0,
                                                       True, False, scale=scale, seqused_k=used)[0]
    total, g, d = kp.size(0), qp.size(1), kp.size(1)
    return torch.ops.aten._efficient_attention_forward(
        qp.unsqueeze(0), kp.view(1, total, 1, d).expand(1, total, g, d).contiguous(),
        vp.view(1, total, 1, d).expand(1, total, g, d).contiguous(), None, cu_q, cu_k, t, max_k, 0.0, 2, False,
        scale=scale, seqlen_k=used)[0][0]


def _splits(n: int, any_length: bool = False) -> int:
    """Pieces a decode step's n keys are split into: a power of two up to 64, pieces of >= 256 keys, dividing n unless
    any_length (then the n % S last keys are one more product, _split_pv)."""
    s = 1
    while s < 64 and n // (2 * s) >= 256 and (any_length or n % (2 * s) == 0):
        s *= 2
    return s


def _split_pv(p: torch.Tensor, v: torch.Tensor, s: int) -> torch.Tensor:
    """p [B, M, n] @ v [B, n, D] for a decode step's few rows M and long n: as one batched product it ran on a handful
    of thread blocks (17 ms per step at 32K, 28 layers), so the keys are cut into s pieces, one product per (batch,
    piece), added in float32 (flash-decoding's split, in plain ops)."""
    if s == 1:
        return torch.matmul(p, v)
    b, rows, n, d = p.size(0), p.size(1), v.size(1), v.size(2)
    part = n // s
    m = s * part
    pieces = torch.matmul(p[:, :, :m].reshape(b, rows, s, part).transpose(1, 2), v[:, :m].reshape(b, s, part, d))
    o = pieces.float().sum(1)                                                   # [B, M, D]
    if m < n:
        o = o + torch.matmul(p[:, :, m:], v[:, m:]).float()
    return o.to(v.dtype)


def _decode_scores(q: torch.Tensor, keys: torch.Tensor, scale: float) -> torch.Tensor:
    """A decode step's scores [B, G, n] (float32, scaled) of queries q [B, G, D] against keys [B, n, D]: as keys @
    queries^T (n output rows, a memory-bound product over the whole GPU) rather than queries @ keys^T (G = 2 output
    rows, few thread blocks; float32 at 32K: 12.2 -> 10.8 ms per step on the H100)."""
    return torch.matmul(keys, q.transpose(1, 2)).transpose(1, 2).float() * scale


def _sink_gate_torch(qp: torch.Tensor, kp: torch.Tensor, q_bias: torch.Tensor, q_norm: torch.Tensor, k_norm: torch.Tensor,
                     sink_keys: torch.Tensor, bias: torch.Tensor, kv_heads: int, eps: float) -> torch.Tensor:
    """Sink-gate scores [n, Hkv, T] from the projections qp [n, T, Hkv*G*d] and kp [n, T, Hkv*d] with torch's ops (as
    kvgate's Java path computes them: float32 after the projections)."""
    n, t = qp.size(0), qp.size(1)
    d = kp.size(2) // kv_heads
    g = qp.size(2) // kp.size(2)
    s = sink_keys.numel() // (n * kv_heads * d)
    scale = float(d) ** -0.5
    q = qp.float().view(n, t, kv_heads, g, d) + q_bias.float().reshape(n, 1, kv_heads, g, d)
    q = torch.rms_norm(q, [d], None, eps) * q_norm.float().reshape(n, 1, 1, 1, d)
    k = torch.rms_norm(kp.float().view(n, t, kv_heads, 1, d), [d], None, eps) * k_norm.float().reshape(n, 1, 1, 1, d)
    logit = (q * k).sum(-1) * scale + bias.float().reshape(n, 1, kv_heads, g)                    # [n, T, Hkv, G]
    sink_logits = torch.matmul(q, sink_keys.float().reshape(n, 1, kv_heads, d, s)) * scale        # [n, T, Hkv, G, S]
    score = torch.sigmoid(logit - torch.logsumexp(sink_logits, -1)).mean(-1)                      # [n, T, Hkv]
    return score.transpose(1, 2).contiguous()


class FusedAttention(torch.nn.Module):
    def __init__(self, flash_decode: bool = True, decode_kernel: bool = False, stack_inputs_bytes: int = 256 << 20):
        super().__init__()
        # prefill's kept attention inputs up to this size: collected in a list and stacked once (see prefill)
        self.stack_inputs_bytes = stack_inputs_bytes
        # decode_step on the shared layout in half precision: FlashAttention-2 (varlen, split over the keys, the
        # filled length read from the device) instead of matmul -> softmax -> split matmul
        self.flash_decode = flash_decode
        # decode_step in float32: kvgate's own split-over-the-keys kernel (kvgate::decode_attention, loaded with the
        # CUDA-graph operators) instead of matmul -> softmax -> split matmul
        self.decode_kernel = decode_kernel

    def _kernel_attention(self, q: torch.Tensor, k_rows: torch.Tensor, v_rows: torch.Tensor, starts: torch.Tensor,
                          head_rows: int, lengths: torch.Tensor, max_len: int, scale: float) -> torch.Tensor:
        # kvgate::decode_attention where kvgate's operators are loaded (GraphedFusedAttention); never called here
        raise RuntimeError("kvgate's decode attention kernel needs the module written with --graph-ops")

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

    @torch.jit.export
    def version(self) -> int:
        return 15

    @torch.jit.export
    def has_graphs(self) -> bool:
        return False

    def _sink_gate_tail(self, qp: torch.Tensor, kp: torch.Tensor, q_bias: torch.Tensor, q_norm: torch.Tensor,
                        k_norm: torch.Tensor, sink_keys: torch.Tensor, bias: torch.Tensor, kv_heads: int,
                        eps: float) -> torch.Tensor:
        # kvgate::sink_gate_scores where kvgate's operators are loaded (GraphedFusedAttention)
        return _sink_gate_torch(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, kv_heads, eps)

    @torch.jit.export
    def sink_gate_scores(self, x: torch.Tensor, wq: torch.Tensor, q_bias: torch.Tensor, wk: torch.Tensor,
                         q_norm: torch.Tensor, k_norm: torch.Tensor, sink_keys: torch.Tensor, bias: torch.Tensor,
                         kv_heads: int, eps: float) -> torch.Tensor:
        xp = x if x.dtype == wq.dtype else x.to(wq.dtype)
        return self._sink_gate_tail(torch.matmul(xp, wq), torch.matmul(xp, wk), q_bias, q_norm, k_norm, sink_keys, bias,
                                    kv_heads, eps)

    @torch.jit.export
    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scale: float,
               t: int, causal: bool, window: int) -> torch.Tensor:
        nh, rows, d = q.size(0), q.size(1), q.size(2)
        nk = k.size(1)
        g = rows // t
        if causal:
            if t == nk and window <= 0:
                # the whole key set is the chunk (a first chunk): plain causal sdpa, which is free to pick cuDNN's
                # attention on a Hopper GPU (faster than FlashAttention-2 at 8K-32K, measured through transformers)
                out = F.scaled_dot_product_attention(q.reshape(nh * g, t, d).unsqueeze(0),
                                                     k.repeat_interleave(g, 0).unsqueeze(0),
                                                     v.repeat_interleave(g, 0).unsqueeze(0),
                                                     is_causal=True, scale=scale)
                return out[0]
            if q.is_cuda and (q.dtype == torch.float16 or q.dtype == torch.bfloat16):
                q4 = q.reshape(nh * g, t, d).transpose(0, 1).unsqueeze(0)   # [1, T, H, D]
                k4 = k.transpose(0, 1).unsqueeze(0)                         # [1, nk, Hkv, D]
                v4 = v.transpose(0, 1).unsqueeze(0)
                left = window - 1 if window > 0 else -1
                out = torch.ops.aten._flash_attention_forward(q4, k4, v4, None, None, t, nk, 0.0, True, False,
                                                              scale=scale, window_size_left=left,
                                                              window_size_right=0)[0]
                return out[0].transpose(0, 1)                              # [H, T, D], a view
            if q.is_cuda and q.dtype == torch.float32 and window <= 0:
                # float32 has no FlashAttention: the memory-efficient kernel, bottom-right causal (custom_mask_type 2)
                # without a mask; heads as its batch of one sequence each, the group's query heads sharing the key
                starts = torch.arange(0, nh + 1, device=q.device, dtype=torch.int32)
                out = _varlen_attention(_token_major(q, t), k.reshape(nh * nk, d), v.reshape(nh * nk, d), starts * t,
                                        starts * nk, t, nk, scale)
                return _head_major(out, nh, t)
            qpos = torch.arange(nk - t, nk, device=q.device).unsqueeze(1)
            kpos = torch.arange(0, nk, device=q.device).unsqueeze(0)
            allowed = kpos <= qpos
            if window > 0:
                allowed = allowed & (qpos - kpos < window)
            mask = torch.zeros(t, nk, device=q.device).masked_fill(~allowed, float("-inf"))
        if rows <= 64:  # decode steps: few query rows
            s = torch.matmul(q, k.transpose(1, 2)).float() * scale
            if mask.numel() != 1:
                m4 = mask if mask.dim() == 2 else mask.unsqueeze(1)  # per-KV-head masks broadcast over the group
                s = (s.reshape(nh, g, t, nk) + m4).reshape(nh, rows, nk)
            p = torch.softmax(s, -1).to(q.dtype)
            return torch.matmul(p, v).reshape(nh * g, t, d)
        if mask.numel() == 1:
            out = F.scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), scale=scale)
        elif mask.dim() == 3:
            # per-KV-head mask: batch = KV heads, heads = the G query heads of each
            q4 = q.reshape(nh, g, t, d)
            k4 = k.unsqueeze(1).expand(nh, g, nk, d)
            v4 = v.unsqueeze(1).expand(nh, g, nk, d)
            out = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=mask.to(q.dtype).unsqueeze(1), scale=scale)
            return out.reshape(nh * g, t, d)
        else:
            full = mask.to(q.dtype).repeat(g, 1)
            out = F.scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), attn_mask=full,
                                                 scale=scale)
        return out[0].reshape(nh * g, t, d)

    @torch.jit.export
    def attend_segments(self, q: torch.Tensor, k_rows: torch.Tensor, v_rows: torch.Tensor, starts: torch.Tensor,
                        used: torch.Tensor, max_k: int, scale: float, t: int) -> torch.Tensor:
        nh = q.size(0)
        qp = _token_major(q, t)
        if q.is_cuda:
            out = _varlen_attention(qp, k_rows, v_rows, torch.arange(0, nh + 1, device=q.device, dtype=torch.int32) * t,
                                    starts, t, max_k, scale, used)
        else:
            # no varlen kernel on a CPU: one causal sdpa per head (bottom-right: the chunk is each head's last T keys)
            first: List[int] = starts.long().tolist()
            count: List[int] = used.long().tolist()
            parts: List[torch.Tensor] = []
            for h in range(nh):
                kh, vh = k_rows[first[h]:first[h] + count[h]], v_rows[first[h]:first[h] + count[h]]
                n = count[h]
                allowed = torch.arange(n, device=q.device)[None, :] <= torch.arange(n - t, n, device=q.device)[:, None]
                mask = torch.zeros(t, n, device=q.device, dtype=q.dtype).masked_fill(~allowed, float("-inf"))
                parts.append(F.scaled_dot_product_attention(qp[h * t:(h + 1) * t].transpose(0, 1), kh.unsqueeze(0),
                                                            vh.unsqueeze(0), attn_mask=mask, scale=scale).transpose(0, 1))
            out = torch.cat(parts, 0)
        return _head_major(out, nh, t)

    @torch.jit.export
    def gather_rows(self, ks: List[torch.Tensor], vs: List[torch.Tensor], index: torch.Tensor, offsets: List[int],
                    counts: List[int], head_dim: int) -> List[torch.Tensor]:
        """A re-layout's gathers of every layer in one call (kvgate's RowGatherBatch): layer i's new rows [counts[i], 1,
        D] are rows index[offsets[i]:offsets[i] + counts[i]] (int32) of its storage ks[i]/vs[i] read as [., 1, D] rows
        (shared [Hkv, capacity, D] or ragged [rows, 1, D]). From Java each layer's slice of the index and two gathers
        were three calls. Returns [k0, v0, k1, v1, ...]."""
        out: List[torch.Tensor] = []
        for i in range(len(ks)):
            rows = index.narrow(0, offsets[i], counts[i])
            out.append(ks[i].reshape(-1, 1, head_dim).index_select(0, rows))
            out.append(vs[i].reshape(-1, 1, head_dim).index_select(0, rows))
        return out

    @torch.jit.export
    def decoder_in(self, x: torch.Tensor, in_norm: torch.Tensor, qkv_t: torch.Tensor, qkv_bias: torch.Tensor,
                   qk_norm: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rot: torch.Tensor, heads: int,
                   kv_heads: int, eps: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        t = x.size(0)
        d = cos.size(1)
        h = _rms(x, in_norm, eps)
        qkv = torch.matmul(h, qkv_t)
        if qkv_bias.numel() > 0:
            qkv = qkv + qkv_bias
        qkv = qkv.view(t, heads + 2 * kv_heads, d).transpose(0, 1)
        qk = qkv[:heads + kv_heads]
        v = qkv[heads + kv_heads:]
        if qk_norm.numel() > 0:
            qk = _rms(qk, qk_norm, eps)
        qk = torch.addcmul(qk * cos, torch.matmul(qk, rot), sin)
        # k and v as fresh contiguous arrays: kvgate adopts a first chunk's as the cache's storage (no copy)
        return h, qk[:heads], qk[heads:].clone(memory_format=torch.contiguous_format), \
            v.clone(memory_format=torch.contiguous_format)

    @torch.jit.export
    def decoder_out(self, x: torch.Tensor, attn: torch.Tensor, o_t: torch.Tensor, o_bias: torch.Tensor,
                    post_norm: torch.Tensor, gate_up_t: torch.Tensor, down_t: torch.Tensor, eps: float) -> torch.Tensor:
        t = x.size(0)
        o = torch.matmul(attn.transpose(0, 1).reshape(t, -1), o_t)
        if o_bias.numel() > 0:
            o = o + o_bias
        x = x + o
        h = _rms(x, post_norm, eps)
        gate_up = torch.matmul(h, gate_up_t)
        inter = gate_up.size(1) // 2
        act = F.silu(gate_up[:, :inter]) * gate_up[:, inter:]
        return x + torch.matmul(act, down_t)

    @torch.jit.export
    def prefill(self, ids: torch.Tensor, embed: torch.Tensor, layer_w: List[torch.Tensor], cos: torch.Tensor,
                sin: torch.Tensor, rot: torch.Tensor, final_norm: torch.Tensor, heads: int, kv_heads: int, eps: float,
                scale: float, keep_inputs: bool, gate_w: List[torch.Tensor], gate_rows: torch.Tensor,
                gate_kv_heads: int, gate_eps: float) -> List[torch.Tensor]:
        """A first chunk (empty cache) through the whole model in one call: embedding, every layer as decoder_in ->
        causal attend -> decoder_out, final norm. Per layer that is three calls from Java fewer, each with its
        arguments' marshalling (~0.1-0.2 ms of host time a layer on a GPU, which host-bound prefills pay in full).
        layer_w as decode_step's (9 per layer); cos/sin the chunk's rows. Returns [final-normed x [T, hidden],
        attention inputs [L, T, hidden] (empty unless keep_inputs), then each layer's k, v [Hkv, T, D]], the k/v fresh
        contiguous arrays (the cache adopts them). With gate_kv_heads > 0 (and keep_inputs), the second entry is the
        sink gates' scores [n, Hkv_gate, T] of the inputs' rows gate_rows (empty: all), sink_gate_scores' parameters
        gate_w (wq, q_bias, wk, q_norm, k_norm, sink_keys, bias): the same call's work, not a second call."""
        no_storage: List[torch.Tensor] = []
        return self._chunk(ids, embed, layer_w, no_storage, no_storage, 0, 0, cos, sin, rot, final_norm, heads,
                           kv_heads, eps, scale, keep_inputs, gate_w, gate_rows, gate_kv_heads, gate_eps)

    @torch.jit.export
    def prefill_more(self, ids: torch.Tensor, embed: torch.Tensor, layer_w: List[torch.Tensor], ks: List[torch.Tensor],
                     vs: List[torch.Tensor], past: int, grow_to: int, cos: torch.Tensor, sin: torch.Tensor,
                     rot: torch.Tensor, final_norm: torch.Tensor, heads: int, kv_heads: int, eps: float, scale: float,
                     keep_inputs: bool, gate_w: List[torch.Tensor], gate_rows: torch.Tensor, gate_kv_heads: int,
                     gate_eps: float) -> List[torch.Tensor]:
        """A later chunk over a cache in the shared layout (unevicted, or evicted alike in every head, its last position
        right before the chunk) in one call, as prefill is for a first one: every layer's storage
        ks/vs [Hkv, capacity, D] holds `past` filled rows; each layer writes its new k/v into rows past..past+T and
        attends causally over rows 0..past+T. In place when grow_to is 0 (the storage has room), else into new zeroed
        storage [Hkv, grow_to, D] with the filled rows copied, returned for the cache to adopt. The same functions as
        the layer-by-layer path (decoder_in, attend, decoder_out), which costs ~5 JNI calls and the append's ops a
        layer. Returns [final-normed x [T, hidden], attention inputs [L, T, hidden] (empty unless keep_inputs; the
        gates' scores with gate_kv_heads > 0, as prefill's), then, when grown, each layer's new k, v]."""
        return self._chunk(ids, embed, layer_w, ks, vs, past, grow_to, cos, sin, rot, final_norm, heads, kv_heads, eps,
                           scale, keep_inputs, gate_w, gate_rows, gate_kv_heads, gate_eps)

    @torch.jit.export
    def prefill_segments(self, ids: torch.Tensor, embed: torch.Tensor, layer_w: List[torch.Tensor],
                         ks: List[torch.Tensor], vs: List[torch.Tensor], owns: List[torch.Tensor],
                         rows: List[torch.Tensor], starts: List[torch.Tensor], used: List[torch.Tensor],
                         longest: List[int], diag: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rot: torch.Tensor,
                         final_norm: torch.Tensor, heads: int, kv_heads: int, eps: float, scale: float,
                         keep_inputs: bool, gate_w: List[torch.Tensor], gate_rows: torch.Tensor, gate_kv_heads: int,
                         gate_eps: float) -> List[torch.Tensor]:
        """A later chunk over an evicted cache (every layer ragged: a segment of rows per KV head, LayerKv) in one call,
        with the int data kvgate staged for it (KvCache.prepareChunk): each layer writes its new k/v into rows[l]
        (head-major, the T rows after each head's filled ones: int32) of its storage ks/vs [rows, 1, D] in place, makes
        those rows its heads' own in the ownership mask owns[l] [Hkv, 1, rows] (the head diagonal diag [Hkv, 1, Hkv]
        repeated), then attends with attend_segments over starts[l] / used[l] (the layout after the append). The
        layer-by-layer path made ~15 JNI calls a layer for this. Returns [final-normed x, attention inputs (or the
        bound gates' scores), as prefill's]."""
        t = ids.size(0)
        g = heads // kv_heads
        d = cos.size(1)
        x = embed.index_select(0, ids)
        layers = len(layer_w) // 9
        stack = keep_inputs and layers * t * x.size(1) * x.element_size() <= self.stack_inputs_bytes
        hs = torch.empty(layers if keep_inputs and not stack else 0, t, x.size(1), device=x.device, dtype=x.dtype)
        kept: List[torch.Tensor] = []
        # the new rows' ownership columns [Hkv, 1, Hkv * T], head-major as the rows: 0 for the row's own head
        columns = diag.reshape(kv_heads, 1, kv_heads, 1).expand(kv_heads, 1, kv_heads, t).reshape(kv_heads, 1, kv_heads * t)
        if len(owns) > 0:
            columns = columns.to(owns[0].dtype)  # once, not an interpreted op a layer: every layer's mask has one dtype
        for layer in range(layers):
            w = layer_w[9 * layer:9 * layer + 9]
            h, q, k, v = self.decoder_in(x, w[0], w[1], w[2], w[3], cos, sin, rot, heads, kv_heads, eps)
            if stack:
                kept.append(h)
            elif keep_inputs:
                hs[layer].copy_(h)
            at = rows[layer].long()
            ks[layer].index_copy_(0, at, k.reshape(kv_heads * t, 1, d))
            vs[layer].index_copy_(0, at, v.reshape(kv_heads * t, 1, d))
            owns[layer].index_copy_(2, at, columns)
            attn = self.attend_segments(q.reshape(kv_heads, g * t, d), ks[layer].reshape(-1, d), vs[layer].reshape(-1, d),
                                        starts[layer], used[layer], longest[layer], scale, t)
            x = self.decoder_out(x, attn, w[4], w[5], w[6], w[7], w[8], eps)
        out: List[torch.Tensor] = [_rms(x, final_norm, eps), hs]
        out[1] = self._kept_inputs(out[1], stack, kept, keep_inputs, gate_w, gate_rows, gate_kv_heads, gate_eps)
        return out

    def _kept_inputs(self, hs: torch.Tensor, stack: bool, kept: List[torch.Tensor], keep_inputs: bool,
                     gate_w: List[torch.Tensor], gate_rows: torch.Tensor, gate_kv_heads: int,
                     gate_eps: float) -> torch.Tensor:
        """What a whole-model chunk hands back for its attention inputs: the inputs [L, T, hidden] (hs, or the list
        kept stacked once), or, with gates bound (gate_kv_heads > 0), the sink gates' scores of their rows gate_rows."""
        if stack:
            hs = torch.stack(kept, 0)
        if keep_inputs and gate_kv_heads > 0:
            xs = hs if gate_rows.numel() == 0 else hs.index_select(0, gate_rows)
            return self.sink_gate_scores(xs, gate_w[0], gate_w[1], gate_w[2], gate_w[3], gate_w[4], gate_w[5],
                                         gate_w[6], gate_kv_heads, gate_eps)
        return hs

    def _chunk(self, ids: torch.Tensor, embed: torch.Tensor, layer_w: List[torch.Tensor], ks: List[torch.Tensor],
               vs: List[torch.Tensor], past: int, grow_to: int, cos: torch.Tensor, sin: torch.Tensor, rot: torch.Tensor,
               final_norm: torch.Tensor, heads: int, kv_heads: int, eps: float, scale: float,
               keep_inputs: bool, gate_w: List[torch.Tensor], gate_rows: torch.Tensor, gate_kv_heads: int,
               gate_eps: float) -> List[torch.Tensor]:
        """prefill (no storage: the k/v are returned) and prefill_more (storage given: the k/v are written into it,
        or into grown storage that is returned)."""
        t = ids.size(0)
        g = heads // kv_heads
        d = cos.size(1)
        x = embed.index_select(0, ids)
        no_mask = torch.zeros(1, 1, device=x.device)
        layers = len(layer_w) // 9
        in_storage = len(ks) > 0
        # the attention inputs: up to stack_inputs_bytes collected in a list and stacked once at the end (one op,
        # where a select and a copy into a buffer are two interpreted ops a layer); above it written into one array
        # made up front, so that each layer's h is freed at once and no stacked copy exists next to them (memory of
        # long chunks). Which costs a 1K prefill less on the GPU is measured with --stack-inputs-bytes (BENCHMARKS.md)
        stack = keep_inputs and layers * t * x.size(1) * x.element_size() <= self.stack_inputs_bytes
        hs = torch.empty(layers if keep_inputs and not stack else 0, t, x.size(1), device=x.device, dtype=x.dtype)
        kept: List[torch.Tensor] = []
        out: List[torch.Tensor] = [x, hs]
        for layer in range(layers):
            w = layer_w[9 * layer:9 * layer + 9]
            h, q, k, v = self.decoder_in(x, w[0], w[1], w[2], w[3], cos, sin, rot, heads, kv_heads, eps)
            if stack:
                kept.append(h)
            elif keep_inputs:
                hs[layer].copy_(h)
            if in_storage:
                sk, sv = ks[layer], vs[layer]
                if grow_to > 0:
                    sk = sk.new_zeros(kv_heads, grow_to, d)
                    sv = sv.new_zeros(kv_heads, grow_to, d)
                    sk.narrow(1, 0, past).copy_(ks[layer].narrow(1, 0, past))
                    sv.narrow(1, 0, past).copy_(vs[layer].narrow(1, 0, past))
                    out.append(sk)
                    out.append(sv)
                sk.narrow(1, past, t).copy_(k)
                sv.narrow(1, past, t).copy_(v)
                k = sk.narrow(1, 0, past + t)
                v = sv.narrow(1, 0, past + t)
            else:
                out.append(k)
                out.append(v)
            attn = self.attend(q.reshape(kv_heads, g * t, d), k, v, no_mask, scale, t, True, 0)
            x = self.decoder_out(x, attn, w[4], w[5], w[6], w[7], w[8], eps)
        out[0] = _rms(x, final_norm, eps)
        out[1] = self._kept_inputs(out[1], stack, kept, keep_inputs, gate_w, gate_rows, gate_kv_heads, gate_eps)
        return out

    @torch.jit.export
    def decode_step(self, meta: torch.Tensor, embed: torch.Tensor, layer_w: List[torch.Tensor], ks: List[torch.Tensor],
                    vs: List[torch.Tensor], owns: List[torch.Tensor], segments: List[torch.Tensor], limits: List[int],
                    diag: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, final_norm: torch.Tensor,
                    lm_head_t: torch.Tensor, heads: int, kv_heads: int, eps: float,
                    scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
        g = heads // kv_heads
        d = cos.size(1)
        half = d // 2
        x = embed.index_select(0, meta[0:1])                      # [1, hidden]
        position = meta[1:2]
        c = cos.index_select(0, position)                         # [1, D], shared by every layer
        s = _signed_sin(sin.index_select(0, position))
        # flash decode's per-layer inputs made once per step, not per layer (each is a kernel in the graph):
        # filled lengths of every layer (ragged: beyond each head's kept rows), the key offsets [0, limit] for the last
        # limit seen, and the query offsets of one query per KV head (ragged layers: a sequence per segment)
        used = (meta[2:2 + len(ks)] + 1).to(torch.int32)
        cu_q = torch.arange(2, device=meta.device, dtype=torch.int32)
        cu_k = cu_q
        cu_limit = 1
        cu_heads = torch.arange(kv_heads + 1, device=meta.device, dtype=torch.int32)
        flash = self.flash_decode and meta.is_cuda and ks[0].dtype != torch.float32
        kernel = self.decode_kernel and meta.is_cuda and ks[0].dtype == torch.float32 and g <= 8 and \
            (d == 32 or d == 64 or d == 128 or d == 256)   # the head shapes the kernel is built for
        no_starts = torch.zeros(0, device=meta.device, dtype=torch.int32)
        hs: List[torch.Tensor] = []
        for layer in range(len(ks)):
            w = layer_w[9 * layer:9 * layer + 9]
            h = _rms(x, w[0], eps)
            hs.append(h)
            qkv = torch.matmul(h, w[1])
            if w[2].numel() > 0:
                qkv = qkv + w[2]
            qkv = qkv.view(heads + 2 * kv_heads, 1, d)
            qk = qkv[:heads + kv_heads]
            v = qkv[heads + kv_heads:]
            if w[3].numel() > 0:
                qk = _rms(qk, w[3], eps)
            qk = _rotate(qk, c, s)
            q = qk[:heads].reshape(kv_heads, g, d)
            k = qk[heads:]
            at = meta[2 + layer:3 + layer]
            kc, vc, own = ks[layer], vs[layer], owns[layer]
            if own.numel() == 0:
                # shared layout [Hkv, capacity, D]: write column `at`, attend to columns 0..at of the first
                # limits[layer] (fixed for a captured graph: it bounds the columns read, not the capacity)
                kc.index_copy_(1, at, k)
                vc.index_copy_(1, at, v)
                if flash:
                    # one sequence of limits[layer] keys of which the first at+1 are used (seqused_k, read on the
                    # device: the graph stays valid); the cache viewed token-major [limit, Hkv, D] without a copy
                    lim = limits[layer]
                    if lim != cu_limit:
                        cu_k = cu_q * lim
                        cu_limit = lim
                    o = torch.ops.aten._flash_attention_forward(
                        q.reshape(1, heads, d), kc.transpose(0, 1)[:lim], vc.transpose(0, 1)[:lim], cu_q, cu_k, 1,
                        lim, 0.0, False, False, scale=scale, seqused_k=used[layer:layer + 1])[0]
                    x = self._finish_layer(x, o, w, heads, d, eps)
                    continue
                if kernel:
                    # head h's keys are rows h * capacity ... of the cache viewed as rows, the first at+1 used
                    o = self._kernel_attention(q, kc.view(-1, d), vc.view(-1, d), no_starts, kc.size(1),
                                               used[layer:layer + 1], limits[layer], scale)
                    x = self._finish_layer(x, o, w, heads, d, eps)
                    continue
                kl, vl = kc[:, :limits[layer]], vc[:, :limits[layer]]
                scores = _decode_scores(q, kl, scale)                                # [Hkv, G, limit]
                filled = torch.arange(kl.size(1), device=kc.device) <= at
                scores = scores.masked_fill(~filled, float("-inf"))
                p = torch.softmax(scores, -1).to(vc.dtype)
                o = _split_pv(p, vl, _splits(kl.size(1)))                            # [Hkv, G, D]
            else:
                # ragged layout [rows, 1, D]: head h's row is segments[2l + 1][h] + at, after its filled ones
                seg = segments[2 * layer]
                rows = segments[2 * layer + 1] + at
                kc.index_copy_(0, rows, k)
                vc.index_copy_(0, rows, v)
                own.index_copy_(2, rows, diag)
                if flash:
                    # every segment one sequence of a varlen FlashAttention: its G query heads over its one KV head,
                    # the first kept + at + 1 rows used
                    o = torch.ops.aten._flash_attention_forward(
                        q, kc, vc, cu_heads, seg[0], 1, limits[layer], 0.0, False, False, scale=scale,
                        seqused_k=seg[1, :kv_heads] + used[layer:layer + 1])[0]
                    x = self._finish_layer(x, o, w, heads, d, eps)
                    continue
                if kernel:
                    o = self._kernel_attention(q, kc.view(-1, d), vc.view(-1, d), seg[0], 0,
                                               seg[1, :kv_heads] + used[layer:layer + 1], limits[layer], scale)
                    x = self._finish_layer(x, o, w, heads, d, eps)
                    continue
                # every head's queries against every row (one batch), the ownership mask keeping each head to its own
                rows_kv = vc.view(1, -1, d)
                scores = _decode_scores(q.reshape(1, heads, d), kc.view(1, -1, d), scale).view(kv_heads, g, -1) + own
                p = torch.softmax(scores, -1).to(vc.dtype).view(1, heads, -1)
                o = _split_pv(p, rows_kv, _splits(rows_kv.size(1), True))           # [1, H, D]
            x = self._finish_layer(x, o, w, heads, d, eps)
        logits = torch.matmul(_rms(x, final_norm, eps), lm_head_t).float()
        return logits, torch.stack(hs)


    def _finish_layer(self, x: torch.Tensor, o: torch.Tensor, w: List[torch.Tensor], heads: int, d: int,
                      eps: float) -> torch.Tensor:
        """A decode step's o_proj over the attention output o (any shape of heads * d values), residual, MLP."""
        attn = torch.matmul(o.reshape(1, heads * d), w[4])
        if w[5].numel() > 0:
            attn = attn + w[5]
        x = x + attn
        h2 = _rms(x, w[6], eps)
        gate_up = torch.matmul(h2, w[7])
        inter = gate_up.size(1) // 2
        return x + torch.matmul(F.silu(gate_up[:, :inter]) * gate_up[:, inter:], w[8])


class GraphedFusedAttention(FusedAttention):
    """FusedAttention plus CUDA-graph capture/replay of decode_step through kvgate's own operators."""

    @torch.jit.export
    def has_graphs(self) -> bool:
        return True

    def _kernel_attention(self, q: torch.Tensor, k_rows: torch.Tensor, v_rows: torch.Tensor, starts: torch.Tensor,
                          head_rows: int, lengths: torch.Tensor, max_len: int, scale: float) -> torch.Tensor:
        return torch.ops.kvgate.decode_attention(q, k_rows, v_rows, starts, head_rows, lengths, max_len, scale)

    def _sink_gate_tail(self, qp: torch.Tensor, kp: torch.Tensor, q_bias: torch.Tensor, q_norm: torch.Tensor,
                        k_norm: torch.Tensor, sink_keys: torch.Tensor, bias: torch.Tensor, kv_heads: int,
                        eps: float) -> torch.Tensor:
        if qp.is_cuda and kp.size(2) // kv_heads in [8, 16, 32, 64]:
            return torch.ops.kvgate.sink_gate_scores(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, kv_heads, eps)
        return _sink_gate_torch(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, kv_heads, eps)

    @torch.jit.export
    def decode_capture(self, key: int, meta: torch.Tensor, embed: torch.Tensor, layer_w: List[torch.Tensor],
                       ks: List[torch.Tensor], vs: List[torch.Tensor], owns: List[torch.Tensor],
                       segments: List[torch.Tensor], limits: List[int], diag: torch.Tensor,
                       cos: torch.Tensor, sin: torch.Tensor, final_norm: torch.Tensor, lm_head_t: torch.Tensor,
                       heads: int, kv_heads: int, eps: float, scale: float) -> List[torch.Tensor]:
        torch.ops.kvgate.graph_prepare(key)
        # this step, run on the graph's side stream (also the warm-up capture needs: cuBLAS handles, workspaces)
        logits, hs = self.decode_step(meta, embed, layer_w, ks, vs, owns, segments, limits, diag, cos, sin, final_norm,
                                      lm_head_t, heads, kv_heads, eps, scale)
        torch.ops.kvgate.graph_begin(key)
        # recorded, not run: replays write the same storage at the indices their meta gives
        static_logits, static_hs = self.decode_step(meta, embed, layer_w, ks, vs, owns, segments, limits, diag, cos, sin,
                                                    final_norm, lm_head_t, heads, kv_heads, eps, scale)
        torch.ops.kvgate.graph_end(key)
        return [logits, hs, static_logits, static_hs]

    @torch.jit.export
    def decode_replay(self, key: int, static_meta: torch.Tensor, meta: torch.Tensor,
                      outs: List[torch.Tensor]) -> List[torch.Tensor]:
        static_meta.copy_(meta)
        torch.ops.kvgate.graph_replay(key)
        return [o.clone() for o in outs]

    @torch.jit.export
    def graph_reset(self, key: int):
        torch.ops.kvgate.graph_reset(key)

    @torch.jit.export
    def memory_stats(self, device: int) -> List[int]:
        return torch.ops.kvgate.memory_stats(device)

    @torch.jit.export
    def memory_reset_peak(self, device: int):
        torch.ops.kvgate.memory_reset_peak(device)

    @torch.jit.export
    def gpu_trace_start(self):
        torch.ops.kvgate.gpu_trace_start()

    @torch.jit.export
    def gpu_trace_stop(self, path: str) -> str:
        return torch.ops.kvgate.gpu_trace_stop(path)


def rel(got, ref):
    return ((got.double() - ref).norm() / ref.norm()).item()


def softmax_attention(q, k, v, allowed, scale):
    """Reference in float64: q [H, T, D], k/v [Hkv, nk, D], allowed [T, nk] or [Hkv, T, nk] bool. Returns [H, T, D]."""
    g = q.size(0) // k.size(0)
    kk, vv = k.double().repeat_interleave(g, 0), v.double().repeat_interleave(g, 0)
    if allowed.dim() == 3:
        allowed = allowed.repeat_interleave(g, 0)
    s = (q.double() @ kk.transpose(1, 2)) * scale
    s = s.masked_fill(~allowed, float("-inf"))
    return torch.softmax(s, -1) @ vv


def check(module):
    """Every function against a float64 reference on fresh random inputs (fails loudly)."""
    torch.manual_seed(0)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    # forward (the original entry point)
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
        err = rel(module(q, k, v, m, scale), ref)
        assert err < 1e-3, err
        what = "no mask" if m.numel() == 1 else ("mask" if m.dim() == 2 else "per-head mask")
        print(f"forward ({what}): rel err {err:.2e} on {dev}")
    assert module.version() == VERSION
    # attend: causal (flash in half precision on a GPU), explicit mask, decode rows
    dtypes = [torch.float32, torch.float16]  # float16: FlashAttention-2 on a GPU, the fallbacks on a CPU
    no_mask = torch.zeros(1, 1, device=dev)
    for dtype in dtypes:
        tol = 1e-3 if dtype == torch.float32 else 5e-3
        for (nkv, g, t, nk, d, window) in [(2, 4, 5, 37, 64, 0), (8, 2, 64, 64, 128, 0), (8, 2, 100, 300, 128, 0),
                                            (8, 2, 100, 300, 128, 50), (2, 2, 1, 40, 64, 0), (2, 4, 3, 3, 32, 0)]:
            q = torch.randn(nkv * g, t, d, device=dev, dtype=dtype)
            k = torch.randn(nkv, nk, d, device=dev, dtype=dtype)
            v = torch.randn(nkv, nk, d, device=dev, dtype=dtype)
            qpos = torch.arange(nk - t, nk, device=dev)[:, None]
            kpos = torch.arange(nk, device=dev)[None, :]
            allowed = kpos <= qpos
            if window > 0:
                allowed = allowed & (qpos - kpos < window)
            ref = softmax_attention(q, k, v, allowed, 0.125)
            qb = q.reshape(nkv, g * t, d)
            err = rel(module.attend(qb, k, v, no_mask, 0.125, t, True, window), ref)
            assert err < tol, (dtype, t, nk, window, err)
            additive = torch.zeros(t, nk, device=dev).masked_fill(~allowed, float("-inf"))
            err2 = rel(module.attend(qb, k, v, additive, 0.125, t, False, 0), ref)
            assert err2 < tol, (dtype, t, nk, window, err2)
            # per-KV-head masks (heads that kept different entries): head 1 sees only the odd keys
            per_head = allowed.unsqueeze(0).repeat(nkv, 1, 1)
            per_head[1, :, 0::2] = False
            per_head[1, :, -1] = True  # every query row keeps a key
            ref3 = softmax_attention(q, k, v, per_head, 0.125)
            additive3 = torch.zeros(nkv, t, nk, device=dev).masked_fill(~per_head, float("-inf"))
            err3 = rel(module.attend(qb, k, v, additive3, 0.125, t, False, 0), ref3)
            assert err3 < tol, (dtype, t, nk, window, err3)
            print(f"attend {str(dtype)[6:]} T={t} nk={nk} window={window}: causal {err:.2e}, mask {err2:.2e}, "
                  f"per-head mask {err3:.2e}")
        # attend_segments: heads that kept different numbers of entries, each a segment of rows followed by spare rows
        for (nkv, g, t, d) in [(8, 2, 100, 128), (2, 4, 17, 64)]:
            gen = torch.Generator().manual_seed(nkv * t)
            kept = [int(x) for x in torch.randint(0, 300, (nkv,), generator=gen)]
            kept[0] = 0  # a head that kept nothing: only the chunk
            spare = [int(x) for x in torch.randint(0, 40, (nkv,), generator=gen)]
            lengths = [n + t for n in kept]
            starts = [0]
            for n, extra in zip(lengths, spare):
                starts.append(starts[-1] + n + extra)
            rows = starts[-1]
            k_rows = torch.randn(rows, d, device=dev, dtype=dtype)
            v_rows = torch.randn(rows, d, device=dev, dtype=dtype)
            q = torch.randn(nkv * g, t, d, device=dev, dtype=dtype)
            got = module.attend_segments(q.reshape(nkv, g * t, d), k_rows, v_rows,
                                         torch.tensor(starts, device=dev, dtype=torch.int32),
                                         torch.tensor(lengths, device=dev, dtype=torch.int32), max(lengths), 0.125, t)
            worst = 0.0
            for h in range(nkv):
                n = lengths[h]
                rows_h = slice(starts[h], starts[h] + n)
                allowed = torch.arange(n, device=dev)[None, :] <= torch.arange(n - t, n, device=dev)[:, None]
                ref = softmax_attention(q[h * g:(h + 1) * g], k_rows[rows_h].unsqueeze(0), v_rows[rows_h].unsqueeze(0),
                                        allowed, 0.125)
                worst = max(worst, rel(got[h * g:(h + 1) * g], ref))
            assert worst < tol, (dtype, nkv, t, worst)
            print(f"attend_segments {str(dtype)[6:]} Hkv={nkv} G={g} T={t} kept={kept} spare={spare}: "
                  f"worst head rel err {worst:.2e}")
        # a decode step that sees every key (no mask)
        q = torch.randn(8 * 2, 1, 64, device=dev, dtype=dtype)
        k = torch.randn(8, 50, 64, device=dev, dtype=dtype)
        v = torch.randn(8, 50, 64, device=dev, dtype=dtype)
        ref = softmax_attention(q, k, v, torch.ones(1, 50, dtype=torch.bool, device=dev), 0.125)
        err = rel(module.attend(q.reshape(8, 2, 64), k, v, no_mask, 0.125, 1, False, 0), ref)
        assert err < tol, err
        print(f"attend {str(dtype)[6:]} decode, no mask: {err:.2e}")
    # decoder_in / decoder_out against the op-by-op formulas in float64
    hidden, heads, kv_heads, d, inter, t, p0, eps = 64, 4, 2, 16, 96, 7, 5, 1e-6
    x = torch.randn(t, hidden, device=dev)
    in_norm = 1 + 0.1 * torch.randn(hidden, device=dev)
    qkv_t = torch.randn(hidden, (heads + 2 * kv_heads) * d, device=dev) / 8
    bias = torch.randn((heads + 2 * kv_heads) * d, device=dev)
    qk_norm = 1 + 0.1 * torch.randn(heads + kv_heads, 1, d, device=dev)
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2, device=dev).double() / d))
    ang = torch.arange(0, 64, device=dev).double()[:, None] * inv[None, :]
    cos, sin = torch.cat((ang.cos(), ang.cos()), -1).float(), torch.cat((ang.sin(), ang.sin()), -1).float()

    def rms64(a, w):
        a = a.double()
        return a / torch.sqrt(a.pow(2).mean(-1, keepdim=True) + eps) * w.double()

    # rotate_half as a signed permutation (RotaryTables.java): out[j] = -x[j + d/2], out[j + d/2] = x[j]
    rot = torch.zeros(d, d, device=dev)
    for j in range(d // 2):
        rot[j + d // 2, j] = -1
        rot[j, j + d // 2] = 1
    for use_bias, use_norm in ((False, True), (True, False)):
        h, q, k, v = module.decoder_in(x, in_norm, qkv_t, bias if use_bias else torch.zeros(0, device=dev),
                                       qk_norm if use_norm else torch.zeros(0, device=dev), cos[p0:p0 + t],
                                       sin[p0:p0 + t], rot, heads, kv_heads, eps)
        rh = rms64(x, in_norm)
        qkv = rh @ qkv_t.double() + (bias.double() if use_bias else 0)
        qkv = qkv.view(t, heads + 2 * kv_heads, d).transpose(0, 1)
        rqk, rv = qkv[:heads + kv_heads], qkv[heads + kv_heads:]
        if use_norm:
            rqk = rms64(rqk, qk_norm)
        c, s = cos[p0:p0 + t].double(), sin[p0:p0 + t].double()
        rqk = rqk * c + torch.cat((-rqk[..., d // 2:], rqk[..., :d // 2]), -1) * s
        errs = [rel(h, rh), rel(q, rqk[:heads]), rel(k, rqk[heads:]), rel(v, rv)]
        assert max(errs) < 1e-4, errs
        print(f"decoder_in (bias={use_bias}, qk_norm={use_norm}): max rel err {max(errs):.2e}")
    attn = torch.randn(heads, t, d, device=dev)
    o_t = torch.randn(heads * d, hidden, device=dev) / 16
    post = 1 + 0.1 * torch.randn(hidden, device=dev)
    gate_up_t = torch.randn(hidden, 2 * inter, device=dev) / 8
    down_t = torch.randn(inter, hidden, device=dev) / 10
    got = module.decoder_out(x, attn, o_t, torch.zeros(0, device=dev), post, gate_up_t, down_t, eps)
    rx = x.double() + attn.double().transpose(0, 1).reshape(t, -1) @ o_t.double()
    gu = rms64(rx, post) @ gate_up_t.double()
    ref = rx + (F.silu(gu[:, :inter]) * gu[:, inter:]) @ down_t.double()
    err = rel(got, ref)
    assert err < 1e-4, err
    print(f"decoder_out: rel err {err:.2e}")


def tiny_model(dev, dtype):
    """A random 2-layer Qwen3-like model and a cache: layer 0 shared [Hkv, 2100, D] with 1030 entries, layer 1 ragged."""
    torch.manual_seed(1)
    hidden, heads, kv_heads, d, inter, vocab = 64, 4, 2, 32, 96, 50  # head_dim 32: kvgate::decode_attention's smallest
    cfg = dict(hidden=hidden, heads=heads, kv_heads=kv_heads, d=d, inter=inter, vocab=vocab, eps=1e-6, scale=d ** -0.5)
    r = lambda *shape, sc=1.0: (torch.randn(*shape, device=dev) * sc).to(dtype)
    layer_w = []
    for layer in range(2):
        layer_w += [1 + r(hidden, sc=0.1), r(hidden, (heads + 2 * kv_heads) * d, sc=0.125),
                    r((heads + 2 * kv_heads) * d, sc=0.1) if layer == 1 else torch.zeros(0, device=dev, dtype=dtype),
                    1 + r(heads + kv_heads, 1, d, sc=0.1) if layer == 0 else torch.zeros(0, device=dev, dtype=dtype),
                    r(heads * d, hidden, sc=0.0625), torch.zeros(0, device=dev, dtype=dtype), 1 + r(hidden, sc=0.1),
                    r(hidden, 2 * inter, sc=0.125), r(inter, hidden, sc=0.1)]
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2, device=dev).double() / d))
    ang = torch.arange(0, 64, device=dev).double()[:, None] * inv[None, :]
    cos = torch.cat((ang.cos(), ang.cos()), -1).to(dtype)
    sin = torch.cat((ang.sin(), ang.sin()), -1).to(dtype)
    embed, final_norm, lm_head_t = r(vocab, hidden), 1 + r(hidden, sc=0.1), r(hidden, vocab, sc=0.125)
    # layer 0: shared, 1030 of 2100 columns filled (long enough for the split p @ v)
    k0, v0 = r(kv_heads, 2100, d), r(kv_heads, 2100, d)
    # layer 1: ragged, a segment per head with room for 125 appended tokens: head 0 rows 0-724 (600 kept, one token
    # appended: row 600), head 1 rows 725-1349 (500 kept from row 725, its appended token at row 1225); 1350 rows in
    # all (long enough for the split p @ v: 4 pieces of 337 rows and 2 rows more)
    k1, v1 = r(1350, 1, d), r(1350, 1, d)
    own = torch.full((kv_heads, 1, 1350), float("-inf"), device=dev)
    own[0, 0, 0:601] = 0
    own[1, 0, 725:1226] = 0
    segments = [torch.tensor([[0, 725, 1350], [600, 500, 0]], device=dev, dtype=torch.int32),
                torch.tensor([600, 1225], device=dev)]
    diag = torch.full((kv_heads, 1, kv_heads), float("-inf"), device=dev)
    diag[0, 0, 0] = diag[1, 0, 1] = 0
    cache = [k0, v0, k1, v1, own.to(dtype)]
    return cfg, layer_w, cos, sin, embed, final_norm, lm_head_t, cache, segments, diag.to(dtype)


def decode_reference(cfg, layer_w, cos, sin, embed, final_norm, lm_head_t, cache, segments, token, position, at):
    """float64, op by op, attending per head to the keys it holds plus the new one; updates `cache` like the module."""
    heads, kv_heads, d, eps = cfg["heads"], cfg["kv_heads"], cfg["d"], cfg["eps"]
    g = heads // kv_heads

    def rms64(a, w):
        return a / torch.sqrt(a.pow(2).mean(-1, keepdim=True) + eps) * w.double()

    x = embed[token].double()[None, :]
    c, s = cos[position].double(), sin[position].double()
    hs = []
    k0, v0, k1, v1, own = cache
    for layer in range(2):
        w = layer_w[9 * layer:9 * layer + 9]
        h = rms64(x, w[0])
        hs.append(h)
        qkv = h @ w[1].double() + (w[2].double() if w[2].numel() else 0)
        qkv = qkv.view(heads + 2 * kv_heads, d)
        qk, v = qkv[:heads + kv_heads], qkv[heads + kv_heads:]
        if w[3].numel():
            qk = rms64(qk, w[3].view(heads + kv_heads, d))
        qk = qk * c + torch.cat((-qk[:, d // 2:], qk[:, :d // 2]), -1) * s
        q, k = qk[:heads], qk[heads:]
        outs = []
        for kvh in range(kv_heads):
            if layer == 0:
                k0[kvh, at[0]] = k[kvh].to(k0.dtype)
                v0[kvh, at[0]] = v[kvh].to(v0.dtype)
                keys, values = k0[kvh, :at[0] + 1].double(), v0[kvh, :at[0] + 1].double()
            else:
                row = int(segments[1][kvh]) + at[1]
                k1[row, 0] = k[kvh].to(k1.dtype)
                v1[row, 0] = v[kvh].to(v1.dtype)
                own[:, 0, row] = float("-inf")
                own[kvh, 0, row] = 0
                mine = own[kvh, 0] == 0
                keys, values = k1[mine, 0].double(), v1[mine, 0].double()
            for qh in range(g):
                p = torch.softmax((q[kvh * g + qh] @ keys.T) * cfg["scale"], -1)
                outs.append(p @ values)
        x = x + torch.cat(outs)[None, :] @ w[4].double()
        gu = rms64(x, w[6]) @ w[7].double()
        inter = gu.size(1) // 2
        x = x + (F.silu(gu[:, :inter]) * gu[:, inter:]) @ w[8].double()
    return (rms64(x, final_norm) @ lm_head_t.double()), torch.stack(hs)


def check_prefill(module, buffered):
    """prefill (a first chunk through the whole model) against a float64 reference and against the same chunk through
    the per-layer functions (decoder_in / attend / decoder_out), which kvgate uses for every other chunk; `buffered`,
    the same module written with stack_inputs_bytes 0, keeps the attention inputs in its up-front array instead."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for dtype in ([torch.float32, torch.float16] if dev == "cuda" else [torch.float32]):
        tol = 1e-4 if dtype == torch.float32 else 1e-2
        cfg, layer_w, cos, sin, embed, final_norm, lm_head_t, _, _, _ = tiny_model(dev, dtype)
        heads, kv_heads, d, eps, scale = cfg["heads"], cfg["kv_heads"], cfg["d"], cfg["eps"], cfg["scale"]
        g, t = heads // kv_heads, 40
        ids = torch.randint(0, cfg["vocab"], (t,), device=dev)
        rot = torch.zeros(d, d, device=dev, dtype=dtype)
        for j in range(d // 2):
            rot[j + d // 2, j] = -1
            rot[j, j + d // 2] = 1
        c, s = cos[:t], sin[:t]
        ng = ([], torch.zeros(0, dtype=torch.long, device=dev), 0, 0.0)  # no gates
        got = module.prefill(ids, embed, layer_w, c, s, rot, final_norm, heads, kv_heads, eps, scale, True, *ng)
        assert len(got) == 2 + 2 * 2 and list(got[1].shape) == [2, t, cfg["hidden"]], [list(a.shape) for a in got]
        assert module.prefill(ids, embed, layer_w, c, s, rot, final_norm, heads, kv_heads, eps, scale, False, *ng)[1].numel() == 0
        in_buffer = buffered.prefill(ids, embed, layer_w, c, s, rot, final_norm, heads, kv_heads, eps, scale, True, *ng)
        # the same ops either way; a GPU's kernels may still differ in the last bits between two calls
        stacked_vs_buffered = max(rel(a, b) for a, b in zip(got, in_buffer))
        assert stacked_vs_buffered < (1e-6 if dtype == torch.float32 else 1e-3), ("stacked vs buffered", dtype, stacked_vs_buffered)

        def rms64(a, w):
            return a / torch.sqrt(a.pow(2).mean(-1, keepdim=True) + eps) * w.double()

        # float64, op by op
        x = embed[ids].double()
        hs, kvs = [], []
        causal = torch.ones(t, t, device=dev, dtype=torch.bool).tril()
        for layer in range(2):
            w = layer_w[9 * layer:9 * layer + 9]
            h = rms64(x, w[0])
            hs.append(h)
            qkv = h @ w[1].double() + (w[2].double() if w[2].numel() else 0)
            qkv = qkv.view(t, heads + 2 * kv_heads, d).transpose(0, 1)
            qk, v = qkv[:heads + kv_heads], qkv[heads + kv_heads:]
            if w[3].numel():
                qk = rms64(qk, w[3])
            qk = qk * c.double() + torch.cat((-qk[..., d // 2:], qk[..., :d // 2]), -1) * s.double()
            q, k = qk[:heads], qk[heads:]
            kvs += [k, v]
            sc = (q @ k.repeat_interleave(g, 0).transpose(1, 2)) * scale
            o = torch.softmax(sc.masked_fill(~causal, float("-inf")), -1) @ v.repeat_interleave(g, 0)   # [H, T, D]
            x = x + o.transpose(0, 1).reshape(t, -1) @ w[4].double()
            gu = rms64(x, w[6]) @ w[7].double()
            inter = gu.size(1) // 2
            x = x + (F.silu(gu[:, :inter]) * gu[:, inter:]) @ w[8].double()
        want = [rms64(x, final_norm), torch.stack(hs)] + kvs
        errs = [rel(a, b) for a, b in zip(got, want)]
        assert max(errs) < tol, (dtype, errs)
        # the per-layer functions, as kvgate calls them for later chunks
        x = embed.index_select(0, ids)
        layered = []
        for layer in range(2):
            w = layer_w[9 * layer:9 * layer + 9]
            h, q, k, v = module.decoder_in(x, w[0], w[1], w[2], w[3], c, s, rot, heads, kv_heads, eps)
            layered += [k, v]
            attn = module.attend(q.reshape(kv_heads, g * t, d), k, v, torch.zeros(1, 1, device=dev), scale, t, True, 0)
            x = module.decoder_out(x, attn, w[4], w[5], w[6], w[7], w[8], eps)
        same = max(rel(a, b.double()) for a, b in zip(got[2:] + [got[0]], layered + [F.rms_norm(x, [x.size(-1)], final_norm, eps)]))
        assert same < 1e-6, (dtype, same)
        # a later chunk over the storage the first one left (prefill_more): rows 24..40 against the float64 reference
        p = 24
        first = module.prefill(ids[:p], embed, layer_w, cos[:p], sin[:p], rot, final_norm, heads, kv_heads, eps, scale, False,
                               *ng)
        ks, vs = [], []
        for layer in range(2):
            k0, v0 = first[2 + 2 * layer], first[3 + 2 * layer]
            ks.append(torch.zeros(kv_heads, t + 5, d, device=dev, dtype=dtype))   # spare rows after the chunk's
            vs.append(torch.zeros(kv_heads, t + 5, d, device=dev, dtype=dtype))
            ks[layer][:, :p] = k0
            vs[layer][:, :p] = v0
        # grown: the first chunk's own k/v (no room) into new storage of t + 7 rows, returned
        grown = module.prefill_more(ids[p:], embed, layer_w, [first[2], first[4]], [first[3], first[5]], p, t + 7,
                                    cos[p:t], sin[p:t], rot, final_norm, heads, kv_heads, eps, scale, True, *ng)
        assert len(grown) == 2 + 2 * 2 and list(grown[2].shape) == [kv_heads, t + 7, d], [list(a.shape) for a in grown]
        assert all(float(a[:, t:].abs().max()) == 0 for a in grown[2:]), "prefill_more's grown storage not zero past the chunk"
        more = module.prefill_more(ids[p:], embed, layer_w, ks, vs, p, 0, cos[p:t], sin[p:t], rot, final_norm, heads,
                                   kv_heads, eps, scale, True, *ng)
        assert len(more) == 2 and list(more[1].shape) == [2, t - p, cfg["hidden"]], [list(a.shape) for a in more]
        assert all(float(a[:, t:].abs().max()) == 0 for a in ks + vs), "prefill_more wrote past the chunk's rows"
        want_more = [want[0][p:], want[1][:, p:]] + kvs
        errs_more = []
        for out_list, storage in ((more, [a for pair in zip(ks, vs) for a in pair]), (grown, grown[2:])):
            got_more = [out_list[0], out_list[1]] + [a[:, :t] for a in storage]
            errs_more += [rel(a, b) for a, b in zip(got_more, want_more)]
        assert max(errs_more) < tol, (dtype, errs_more)
        # gates bound into the call: its scores equal sink_gate_scores of the inputs it would have handed over, for
        # every layer and for a subset of rows (gated layers), in prefill and prefill_more
        n_h, n_g, n_d, n_s, hid = 2, 2, 16, 4, cfg["hidden"]
        wq = (torch.randn(2, hid, n_h * n_g * n_d, device=dev) / hid ** 0.5).to(dtype)
        wk = (torch.randn(2, hid, n_h * n_d, device=dev) / hid ** 0.5).to(dtype)
        gw = [wq, torch.randn(2, 1, n_h * n_g * n_d, device=dev) * 0.1, wk, torch.rand(2, 1, 1, 1, n_d, device=dev) + 0.5,
              torch.rand(2, 1, 1, 1, n_d, device=dev) + 0.5, torch.randn(2, n_h, n_d, n_s, device=dev) * 2,
              torch.randn(2, 1, n_h, n_g, device=dev)]
        for rows in (torch.zeros(0, dtype=torch.long, device=dev), torch.tensor([1], device=dev)):
            w_rows = gw if rows.numel() == 0 else [a[1:] for a in gw]
            gated = module.prefill(ids, embed, layer_w, c, s, rot, final_norm, heads, kv_heads, eps, scale, True, w_rows,
                                   rows, n_h, 1e-6)
            xs = got[1] if rows.numel() == 0 else got[1][1:]
            want_scores = module.sink_gate_scores(xs, *w_rows, n_h, 1e-6)
            near = 1e-6 if dtype == torch.float32 else 1e-3  # two calls: a GPU may differ in the last bits
            assert rel(gated[1], want_scores) < near, ("prefill's gate scores", dtype, rows, rel(gated[1], want_scores))
            assert max(rel(a, b) for a, b in zip(gated[2:] + [gated[0]], got[2:] + [got[0]])) < near
            gated_more = module.prefill_more(ids[p:], embed, layer_w, [first[2], first[4]], [first[3], first[5]], p, t,
                                             cos[p:t], sin[p:t], rot, final_norm, heads, kv_heads, eps, scale, True,
                                             w_rows, rows, n_h, 1e-6)
            xs_more = grown[1] if rows.numel() == 0 else grown[1][1:]
            want_more_scores = module.sink_gate_scores(xs_more, *w_rows, n_h, 1e-6)
            assert rel(gated_more[1], want_more_scores) < near, ("prefill_more's gate scores", rel(gated_more[1], want_more_scores))
        print(f"prefill {str(dtype)[6:]}: stacked vs buffered inputs {stacked_vs_buffered:.1e}; max rel err {max(errs):.2e} against float64, {same:.1e} against the per-layer "
              f"functions; prefill_more {max(errs_more):.2e} against float64; gates bound into both: their scores as "
              f"sink_gate_scores'")


def check_prefill_segments(module):
    """prefill_segments against the per-layer functions kvgate's layer-by-layer path calls (decoder_in, its append's
    row and mask writes, attend_segments, decoder_out) on a hand-made ragged layout: heads with different kept
    entries, spare rows after the chunk's."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for dtype in ([torch.float32, torch.float16] if dev == "cuda" else [torch.float32]):
        cfg, layer_w, cos, sin, embed, final_norm, _, _, _, _ = tiny_model(dev, dtype)
        heads, kv_heads, d, eps, scale = cfg["heads"], cfg["kv_heads"], cfg["d"], cfg["eps"], cfg["scale"]
        g, t, p0 = heads // kv_heads, 17, 30
        rot = torch.zeros(d, d, device=dev, dtype=dtype)
        for j in range(d // 2):
            rot[j + d // 2, j] = -1
            rot[j, j + d // 2] = 1
        ids = torch.randint(0, cfg["vocab"], (t,), device=dev)
        kept, spare = [9, 22], [3, 0]           # entries each head kept; spare rows after its chunk rows
        seg = [kept[h] + t + spare[h] for h in range(kv_heads)]
        start = [0, seg[0]]
        total = sum(seg)
        rows = torch.tensor([start[h] + kept[h] + i for h in range(kv_heads) for i in range(t)], dtype=torch.int32, device=dev)
        starts = torch.tensor(start + [total], dtype=torch.int32, device=dev)
        used = torch.tensor([kept[h] + t for h in range(kv_heads)], dtype=torch.int32, device=dev)
        diag = torch.eye(kv_heads, device=dev).to(dtype).log().reshape(kv_heads, 1, kv_heads)
        ks0 = [torch.randn(total, 1, d, device=dev).to(dtype) for _ in range(2)]
        vs0 = [torch.randn(total, 1, d, device=dev).to(dtype) for _ in range(2)]
        owns0 = [torch.full((kv_heads, 1, total), float("-inf"), device=dev, dtype=dtype) for _ in range(2)]
        for o in owns0:
            for h in range(kv_heads):
                o[h, 0, start[h]:start[h] + kept[h]] = 0
        c, s = cos[p0:p0 + t], sin[p0:p0 + t]
        ks, vs, owns = [a.clone() for a in ks0], [a.clone() for a in vs0], [a.clone() for a in owns0]
        got = module.prefill_segments(ids, embed, layer_w, ks, vs, owns, [rows, rows], [starts, starts], [used, used],
                                      [max(kept) + t] * 2, diag, c, s, rot, final_norm, heads, kv_heads, eps, scale, True,
                                      [], torch.zeros(0, dtype=torch.long, device=dev), 0, 0.0)
        # the per-layer functions, writes as LayerKv.append makes them
        x = embed.index_select(0, ids)
        rk, rv, ro, hs = [a.clone() for a in ks0], [a.clone() for a in vs0], [a.clone() for a in owns0], []
        cols = diag.reshape(kv_heads, 1, kv_heads, 1).repeat(1, 1, 1, t).reshape(kv_heads, 1, kv_heads * t)
        for layer in range(2):
            w = layer_w[9 * layer:9 * layer + 9]
            h, q, k, v = module.decoder_in(x, w[0], w[1], w[2], w[3], c, s, rot, heads, kv_heads, eps)
            hs.append(h)
            rk[layer][rows.long()] = k.reshape(kv_heads * t, 1, d)
            rv[layer][rows.long()] = v.reshape(kv_heads * t, 1, d)
            ro[layer][:, :, rows.long()] = cols
            attn = module.attend_segments(q.reshape(kv_heads, g * t, d), rk[layer].reshape(-1, d), rv[layer].reshape(-1, d),
                                          starts, used, max(kept) + t, scale, t)
            x = module.decoder_out(x, attn, w[4], w[5], w[6], w[7], w[8], eps)
        want = [F.rms_norm(x, [x.size(-1)], final_norm, eps), torch.stack(hs)]
        err = max([rel(a, b) for a, b in zip(got, want)] + [rel(a, b) for a, b in zip(ks + vs, rk + rv)])
        assert err < (1e-6 if dtype == torch.float32 else 1e-3), ("prefill_segments", dtype, err)
        assert all(torch.equal(a, b) for a, b in zip(owns, ro)), "prefill_segments' ownership columns"
        print(f"prefill_segments {str(dtype)[6:]}: {err:.1e} against the per-layer functions, ownership masks equal")


def sink_gate_reference(x, wq, q_bias, wk, q_norm, k_norm, sink_keys, bias, kv_heads, eps):
    """ALGORITHM.md §2 in float64, written out per term (x [n, T, D] and the weights as the module gets them,
    sink_keys [n, Hkv, d, S]). Returns [n, Hkv, T]."""
    n, t = x.size(0), x.size(1)
    xd = x.double()
    qp = xd @ wq.double().reshape(n, x.size(2), -1) + q_bias.double().reshape(n, 1, -1)
    kp = xd @ wk.double().reshape(n, x.size(2), -1)
    d = kp.size(2) // kv_heads
    g = qp.size(2) // kp.size(2)
    q = qp.view(n, t, kv_heads, g, d)
    q = q / (q.pow(2).mean(-1, keepdim=True) + eps).sqrt() * q_norm.double().reshape(n, 1, 1, 1, d)
    k = kp.view(n, t, kv_heads, 1, d)
    k = k / (k.pow(2).mean(-1, keepdim=True) + eps).sqrt() * k_norm.double().reshape(n, 1, 1, 1, d)
    keys = sink_keys.double().reshape(n, 1, kv_heads, d, -1)
    logit = (q * k).sum(-1) / d ** 0.5 + bias.double().reshape(n, 1, kv_heads, g)
    lse = torch.logsumexp(q @ keys / d ** 0.5, -1)
    return torch.sigmoid(logit - lse).mean(-1).transpose(1, 2)


def check_sink_gates(module, kernel):
    """sink_gate_scores against the float64 reference (stacked gates and one gate's own shapes, float32 and half
    inputs), and with kvgate's operators on a GPU the kernel against torch's ops on the same projections."""
    torch.manual_seed(3)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    cases = ((3, 37, 64, 2, 3, 16, 5), (28, 1000, 128, 8, 2, 16, 16), (2, 9, 32, 4, 1, 32, 3), (2, 11, 48, 2, 2, 24, 4))
    for n, t, hidden, h, g, d, s in cases:
        for dtype in ([torch.float32, torch.float16] if dev == "cuda" else [torch.float32]):
            x = torch.randn(n, t, hidden, device=dev).to(dtype)
            wq = (torch.randn(n, hidden, h * g * d, device=dev) / hidden ** 0.5).to(dtype)
            wk = (torch.randn(n, hidden, h * d, device=dev) / hidden ** 0.5).to(dtype)
            q_bias = torch.randn(n, 1, h * g * d, device=dev) * 0.1
            q_norm, k_norm = torch.rand(n, 1, 1, 1, d, device=dev) + 0.5, torch.rand(n, 1, 1, 1, d, device=dev) + 0.5
            sink_keys = torch.randn(n, h, d, s, device=dev) * 2
            bias = torch.randn(n, 1, h, g, device=dev)
            args = (q_bias, wk, q_norm, k_norm, sink_keys, bias, h, 1e-6)
            got = module.sink_gate_scores(x, wq, *args)
            ref = sink_gate_reference(x, wq, q_bias, wk, q_norm, k_norm, sink_keys, bias, h, 1e-6)
            err = (got.double() - ref).abs().max().item()
            assert got.shape == (n, h, t) and err < (1e-5 if dtype == torch.float32 else 5e-3), (n, t, h, g, d, s, dtype, err)
            line = f"sink_gate_scores n={n} T={t} Hkv={h} G={g} d={d} S={s} {str(dtype)[6:]}: max abs err {err:.1e}"
            if kernel and dev == "cuda" and d in (8, 16, 32, 64):
                xp = x if x.dtype == wq.dtype else x.to(wq.dtype)
                qp, kp = xp @ wq, xp @ wk
                fused = torch.ops.kvgate.sink_gate_scores(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, h, 1e-6)
                plain = _sink_gate_torch(qp, kp, q_bias, q_norm, k_norm, sink_keys, bias, h, 1e-6)
                kerr = (fused - plain).abs().max().item()
                assert kerr < 2e-5, (n, t, h, g, d, s, dtype, kerr)
                line += f"; kernel vs torch's ops {kerr:.1e}"
            print(line)
        # one gate's own shapes (n = 1): 1-d norms and bias, sink keys a transposed view [Hkv, d, S]
        x1 = x[:1].float()
        one = module.sink_gate_scores(x1, wq[0].float(), q_bias[0, 0], wk[0].float(), q_norm[0].flatten(),
                                      k_norm[0].flatten(), sink_keys[0].transpose(1, 2).contiguous().transpose(1, 2),
                                      bias[0, 0], h, 1e-6)
        ref1 = sink_gate_reference(x1, wq[:1].float(), q_bias[:1], wk[:1].float(), q_norm[:1], k_norm[:1], sink_keys[:1],
                                   bias[:1], h, 1e-6)
        assert (one.double() - ref1).abs().max().item() < 1e-5


def check_decode_kernel():
    """kvgate::decode_attention (float32 decode attention, native/kvgate_decode_attention.cu) against float64 on both
    layouts: rows per head at h * head_rows (shared), or from per-head starts with per-head lengths (ragged)."""
    torch.manual_seed(2)
    dev = "cuda"
    for hkv, g, d, cap, used in ((8, 2, 128, 33000, 32769), (2, 4, 32, 700, 300), (4, 7, 64, 1024, 1),
                                 (3, 1, 256, 600, 513), (1, 8, 128, 5000, 4097)):
        q = torch.randn(hkv, g, d, device=dev)
        k, v = torch.randn(hkv, cap, d, device=dev), torch.randn(hkv, cap, d, device=dev)
        scale = d ** -0.5
        lengths = torch.tensor([used], device=dev, dtype=torch.int32)
        got = torch.ops.kvgate.decode_attention(q, k.view(-1, d), v.view(-1, d), torch.zeros(0, device=dev, dtype=torch.int32),
                                                cap, lengths, cap, scale)
        ref = torch.softmax(q.double() @ k[:, :used].double().transpose(1, 2) * scale, -1) @ v[:, :used].double()
        err_shared = rel(got, ref)
        # ragged: head h's rows start at starts[h] with lengths[h] rows (segments of different lengths, one empty tail)
        lens = torch.randint(1, cap // hkv + 1, (hkv,), device=dev, dtype=torch.int32)
        starts = torch.arange(hkv, device=dev, dtype=torch.int32) * (cap // hkv)
        rows_k, rows_v = k.view(-1, d), v.view(-1, d)
        got = torch.ops.kvgate.decode_attention(q, rows_k, rows_v, starts, 0, lens, cap // hkv, scale)
        ref = torch.stack([torch.softmax(q[h].double() @ rows_k[starts[h]:starts[h] + lens[h]].double().T * scale, -1)
                           @ rows_v[starts[h]:starts[h] + lens[h]].double() for h in range(hkv)])
        err_ragged = rel(got, ref)
        assert max(err_shared, err_ragged) < 1e-5, (hkv, g, d, err_shared, err_ragged)
        print(f"decode_attention Hkv={hkv} G={g} D={d} used={used}: rel err {err_shared:.1e} shared, {err_ragged:.1e} ragged")


def check_gather_rows(module):
    """gather_rows against each layer's own index_select, for a shared and a ragged storage and an int32 index."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for dtype in ([torch.float32, torch.float16] if dev == "cuda" else [torch.float32]):
        d = 8
        shared_k = torch.randn(2, 11, d, device=dev, dtype=dtype)
        shared_v = torch.randn(2, 11, d, device=dev, dtype=dtype)
        ragged_k = torch.randn(17, 1, d, device=dev, dtype=dtype)
        ragged_v = torch.randn(17, 1, d, device=dev, dtype=dtype)
        first = torch.tensor([3, 0, 21, 21, 12], dtype=torch.int32)
        second = torch.tensor([16, 2, 0], dtype=torch.int32)
        index = torch.cat([torch.tensor([7, 7], dtype=torch.int32), first, second]).to(dev)  # leading ints of others
        got = module.gather_rows([shared_k, ragged_k], [shared_v, ragged_v], index, [2, 7], [5, 3], d)
        want = [shared_k.reshape(-1, 1, d)[first.long()], shared_v.reshape(-1, 1, d)[first.long()],
                ragged_k[second.long()], ragged_v[second.long()]]
        assert len(got) == 4 and all(torch.equal(a, b) for a, b in zip(got, want)), [list(a.shape) for a in got]
    print("gather_rows: equal to each layer's own gather")


def check_decode(module, graphs):
    """decode_step (both cache layouts) against the float64 reference, then CUDA-graph replays against eager steps."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for dtype in ([torch.float32, torch.float16] if dev == "cuda" else [torch.float32]):
        tol = 1e-4 if dtype == torch.float32 else 1e-2
        cfg, layer_w, cos, sin, embed, final_norm, lm_head_t, cache, segments, diag = tiny_model(dev, dtype)
        ref_cache = [a.clone() for a in cache]
        # layer 0 attends only its first 1536 of 2100 columns (the steps write columns 1030-1032), as a captured
        # graph does: 4 pieces of 384 keys (_splits); layer 1's longest segment is 725 rows
        none = torch.zeros(0, device=dev, dtype=dtype)
        args = lambda c: (embed, layer_w, [c[0], c[2]], [c[1], c[3]], [none, c[4]], [none, none] + segments,
                          [1536, 725], diag, cos, sin, final_norm, lm_head_t, cfg["heads"], cfg["kv_heads"], cfg["eps"], cfg["scale"])
        # layer 1's index: tokens appended to each segment since its re-layout (one before the first step)
        steps = [(3, 20, (1030, 1)), (41, 21, (1031, 2)), (5, 22, (1032, 3))]
        assert _splits(1536) == 4 and _splits(1281) == 1 and _splits(1350, True) == 4
        for i, (token, position, at) in enumerate(steps):
            meta = torch.tensor([token, position, at[0], at[1]], device=dev)
            logits, hs = module.decode_step(meta, *args(cache))
            ref_logits, ref_hs = decode_reference(cfg, layer_w, cos, sin, embed, final_norm, lm_head_t, ref_cache,
                                                  segments, token, position, at)
            errs = [rel(logits, ref_logits), rel(hs.reshape(2, -1), ref_hs.reshape(2, -1)),
                    max(rel(a, b.double()) for a, b in zip(cache, ref_cache) if a.numel())]
            assert max(errs) < tol, (dtype, i, errs)
            print(f"decode_step {str(dtype)[6:]} step {i}: logits {errs[0]:.2e}, attention inputs {errs[1]:.2e}, cache {errs[2]:.2e}")
        if not graphs or dev != "cuda":
            continue
        # the same three steps captured once and replayed, against eager steps on a copy of the cache
        cfg, layer_w, cos, sin, embed, final_norm, lm_head_t, cache, segments, diag = tiny_model(dev, dtype)
        eager_cache = [a.clone() for a in cache]
        key = 7
        static_meta = None
        for i, (token, position, at) in enumerate(steps):
            meta = torch.tensor([token, position, at[0], at[1]], device=dev)
            want, want_hs = module.decode_step(meta, *args(eager_cache))
            if static_meta is None:
                static_meta = meta.clone()  # the graph reads this tensor: replays copy each step's meta into it
                got, got_hs, static_logits, static_hs = module.decode_capture(key, static_meta, *args(cache))
            else:
                got, got_hs = module.decode_replay(key, static_meta, meta, [static_logits, static_hs])
            errs = [rel(got, want.double()), rel(got_hs, want_hs.double()),
                    max(rel(x, y.double()) for x, y in zip(cache, eager_cache) if x.numel())]
            # not bit-identical: cuBLAS may pick other kernels on the capture stream (float16: ~1e-3)
            assert max(errs) < (1e-5 if dtype == torch.float32 else 5e-3), (dtype, i, errs)
            print(f"decode graph {str(dtype)[6:]} step {i} ({'captured' if i == 0 else 'replayed'}): "
                  f"logits {errs[0]:.1e}, attention inputs {errs[1]:.1e}, cache {errs[2]:.1e} against eager steps")
        module.graph_reset(key)
        module.memory_reset_peak(0)
        before = module.memory_stats(0)
        big = torch.empty(64 << 20, dtype=torch.uint8, device=dev)
        after = module.memory_stats(0)
        del big
        assert after[1] >= before[0] + (64 << 20), (before, after)
        print(f"memory_stats: peak {after[1] / 2**20:.0f} MiB after a 64 MiB allocation on top of {before[0] / 2**20:.0f} MiB")
        a = torch.randn(2048, 2048, device=dev)
        torch.cuda.synchronize()
        module.gpu_trace_start()
        for _ in range(3):
            a = a @ a / 2048
        torch.cuda.synchronize()
        lines = module.gpu_trace_stop("").splitlines()
        busy, kernels = int(lines[0].split("\t")[1]), [ln.split("\t") for ln in lines[2:]]
        launches = sum(int(k[0]) for k in kernels)
        assert busy > 0 and launches >= 6, lines  # 3 matmuls and 3 divisions at least
        print(f"gpu_trace: {launches} GPU activities, {busy / 1e3:.1f} us busy for 3 matmuls of 2048^2 and their divisions")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Writes kvgate's fused TorchScript module (docs/GPU.md).")
    parser.add_argument("out", nargs="?", default="fused-attention.pt")
    parser.add_argument("--graph-ops", metavar="LIB", help="kvgate's CUDA-graph operators (tools/build_cuda_graph_ops.sh): "
                        "adds decode_capture/decode_replay; kvgate must then load the same library (KVGATE_CUDA_GRAPH_OPS)")
    parser.add_argument("--no-flash-decode", dest="flash_decode", action="store_false", help="decode steps on an unevicted "
                        "(shared-layout) cache in float16/bfloat16 through matmul -> softmax -> split matmul instead of "
                        "FlashAttention-2 with the filled length read on the device (the default: 1.3-2x faster per step "
                        "on an H100, BENCHMARKS.md)")
    parser.add_argument("--no-decode-kernel", dest="decode_kernel", action="store_false", help="float32 decode steps "
                        "through matmul -> softmax -> split matmul instead of kvgate::decode_attention (needs --graph-ops; "
                        "the default with it)")
    parser.add_argument("--stack-inputs-bytes", type=int, default=256 << 20, metavar="N", help="a whole-model prefill "
                        "keeps the attention inputs (for the gates) in a list stacked once at the end while they take at "
                        "most N bytes, else in one array made up front (0: always the array; an A/B switch)")
    opts = parser.parse_args()
    if opts.graph_ops:
        torch.ops.load_library(opts.graph_ops)
    kind = GraphedFusedAttention if opts.graph_ops else FusedAttention
    scripted = torch.jit.script(kind(opts.flash_decode, bool(opts.graph_ops) and opts.decode_kernel, opts.stack_inputs_bytes))
    check(scripted)
    check_prefill(scripted, torch.jit.script(kind(opts.flash_decode, bool(opts.graph_ops) and opts.decode_kernel, 0)))
    check_sink_gates(scripted, bool(opts.graph_ops))
    check_gather_rows(scripted)
    check_prefill_segments(scripted)
    if opts.graph_ops and torch.cuda.is_available():
        check_decode_kernel()
    check_decode(scripted, bool(opts.graph_ops))
    scripted.save(opts.out)
    print(f"wrote {opts.out} (version {VERSION}, CUDA graphs: {'yes' if opts.graph_ops else 'no'}, "
          f"flash decode: {'yes' if opts.flash_decode else 'no'}, "
          f"float32 decode kernel: {'yes' if opts.graph_ops and opts.decode_kernel else 'no'}, "
          f"prefill inputs stacked up to {opts.stack_inputs_bytes} bytes)")
