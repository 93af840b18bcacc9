#!/usr/bin/env python3
"""Reference speed of Hugging Face transformers on the GPU: prefill and decode tokens/s, batch 1.

The numbers kvgate's GPU runs are compared against (issue 7): same machine, same model, same dtype.

Models:
  qwen3-0.6b-random  a Qwen3-architecture model with Qwen3-0.6B's shape (hidden 1024, 28 layers, 16 heads,
                     8 KV heads, head_dim 128, intermediate 3072, vocab 151936, tied embeddings) and random
                     weights (seeded). Saved once in bf16 with --save-random DIR so kvgate loads the very same
                     weights; every transformers run below loads it back from DIR.
  tiny               checkpoints/tiny-retrieval-qwen3 (the repository's default model).

Prefill: one forward of T tokens with use_cache and logits for the last position only (what generation does;
kvgate's prefill computes the same). Decode: after building a T-token cache (chunked, so even eager attention
fits), greedy steps of one token each, the chosen id read back to the host every step as generation does.
Times: warm-up first, torch.cuda.synchronize() around each timed region, median over reps.

Prints a Markdown table and writes every figure to --json.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, Qwen3Config, Qwen3ForCausalLM

QWEN3_06B_SHAPE = dict(
    hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
    intermediate_size=3072, vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=40960,
    rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
    bos_token_id=151643, eos_token_id=151645, hidden_act="silu", attention_bias=False,
)
DTYPES = {"float16": torch.float16, "float32": torch.float32}


def make_random_qwen3(out_dir, seed):
    """Builds the 0.6B-shaped model with seeded random weights and saves it in bf16 (like hub checkpoints)."""
    if os.path.exists(os.path.join(out_dir, "config.json")):
        return
    torch.manual_seed(seed)
    config = Qwen3Config(**QWEN3_06B_SHAPE)
    with torch.device("cuda"):
        model = Qwen3ForCausalLM(config)
    # Perturb the norm weights so a wrong norm formula would show (init leaves them at exactly 1).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.to(torch.bfloat16).save_pretrained(out_dir)
    del model
    torch.cuda.empty_cache()


def sync_time(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def bandwidth_gbs():
    """Device-to-device copy bandwidth (bytes read + written per second), the decode floor's denominator."""
    n = 1 << 29  # 1 GiB of float16 per buffer
    a = torch.empty(n, dtype=torch.float16, device="cuda").normal_()
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    times = []
    for _ in range(10):
        t, _ = sync_time(lambda: b.copy_(a))
        times.append(t)
    del a, b
    torch.cuda.empty_cache()
    return 2 * n * 2 / statistics.median(times) / 1e9


def param_bytes(model):
    seen, total = set(), 0
    for p in model.parameters():
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        total += p.numel() * p.element_size()
    return total


def kv_bytes(cfg, tokens, elem):
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * head_dim * tokens * elem


def build_cache(model, ids, chunk):
    """Fills a KV cache with ids in chunks (bounds eager attention's T x T scores) and returns the last logits."""
    cache, out = None, None
    for s in range(0, ids.shape[1], chunk):
        out = model(input_ids=ids[:, s:s + chunk], past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
    return cache, out.logits[:, -1]


def bench_prefill(model, ids, reps):
    def run():
        return model(input_ids=ids, use_cache=True, logits_to_keep=1).logits
    run()  # warm-up (kernel selection, allocator growth)
    torch.cuda.reset_peak_memory_stats()
    times = [sync_time(run)[0] for _ in range(reps)]
    return statistics.median(times), torch.cuda.max_memory_allocated()


def bench_decode(model, ids, steps, warmup, chunk):
    cache, last = build_cache(model, ids, chunk)
    nxt = last.argmax(-1, keepdim=True)
    torch.cuda.reset_peak_memory_stats()
    per_step = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
        token = int(out.logits[0, -1].argmax())  # the host gets the id, as in generation
        per_step.append(time.perf_counter() - t0)
        nxt = torch.tensor([[token]], device="cuda")
        cache = out.past_key_values
    del cache
    return statistics.median(per_step[warmup:]), torch.cuda.max_memory_allocated()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="qwen3-0.6b-random,tiny")
    ap.add_argument("--random-dir", default="/tmp/qwen3-0.6b-random")
    ap.add_argument("--tiny-dir", default="checkpoints/tiny-retrieval-qwen3")
    ap.add_argument("--dtypes", default="float16,float32")
    ap.add_argument("--attn", default="sdpa,eager",
                    help="attention paths: sdpa, eager, sdpa-nocudnn (sdpa with the cuDNN backend disabled)")
    ap.add_argument("--contexts", default="1024,8192,32768")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--decode-steps", type=int, default=32)
    ap.add_argument("--decode-warmup", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=4096, help="chunk size used to build the decode cache")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", default="hf_reference_bench.json")
    args = ap.parse_args()

    dev = torch.cuda.get_device_properties(0)
    bw = bandwidth_gbs()
    meta = {"gpu": dev.name, "torch": torch.__version__, "transformers": transformers.__version__,
            "copy_bandwidth_GBps": round(bw, 1), "reps": args.reps, "decode_steps": args.decode_steps}
    print(json.dumps(meta), flush=True)
    if "qwen3-0.6b-random" in args.models:
        make_random_qwen3(args.random_dir, args.seed)
    paths = {"qwen3-0.6b-random": args.random_dir, "tiny": args.tiny_dir}

    rows = []
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    for name in args.models.split(","):
        for dtype_name in args.dtypes.split(","):
            for attn in args.attn.split(","):
                # sdpa-nocudnn: the cuDNN attention backend plans per new shape, which a growing cache hits every step
                torch.backends.cuda.enable_cudnn_sdp(attn != "sdpa-nocudnn")
                model = AutoModelForCausalLM.from_pretrained(paths[name], dtype=DTYPES[dtype_name],
                                                             attn_implementation=attn.split("-")[0]).cuda().eval()
                cfg = model.config
                weights = param_bytes(model)
                elem = DTYPES[dtype_name].itemsize
                for T in [int(c) for c in args.contexts.split(",")]:
                    ids = torch.randint(0, cfg.vocab_size, (1, T), generator=gen).cuda()
                    row = {"model": name, "params": sum(p.numel() for p in model.parameters()),
                           "dtype": dtype_name, "attn": attn, "context": T}
                    with torch.inference_mode():
                        try:
                            t, peak = bench_prefill(model, ids, args.reps)
                            row.update(prefill_s=t, prefill_tok_s=T / t, prefill_peak_bytes=peak)
                        except torch.cuda.OutOfMemoryError as e:
                            row.update(prefill_error="OOM: " + str(e).split("\n")[0][:120])
                        torch.cuda.empty_cache()
                        try:
                            t, peak = bench_decode(model, ids, args.decode_steps, args.decode_warmup, args.chunk)
                            floor = (weights + kv_bytes(cfg, T, elem)) / (bw * 1e9)
                            row.update(decode_step_s=t, decode_tok_s=1 / t, decode_peak_bytes=peak,
                                       decode_floor_s=floor, decode_x_floor=t / floor)
                        except torch.cuda.OutOfMemoryError as e:
                            row.update(decode_error="OOM: " + str(e).split("\n")[0][:120])
                        torch.cuda.empty_cache()
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                del model
                torch.cuda.empty_cache()

    with open(args.json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print()
    print(f"GPU {meta['gpu']}, torch {meta['torch']}, transformers {meta['transformers']}, "
          f"copy bandwidth {bw:.0f} GB/s")
    print("| model | dtype | attn | context | prefill tok/s | prefill peak GiB | decode tok/s | ms/step | "
          "floor ms | x floor |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        pf = f"{r['prefill_tok_s']:,.0f}" if "prefill_tok_s" in r else r.get("prefill_error", "")[:20]
        pk = f"{r['prefill_peak_bytes'] / 2**30:.2f}" if "prefill_peak_bytes" in r else ""
        if "decode_tok_s" in r:
            dc = (f"{r['decode_tok_s']:.1f} | {r['decode_step_s'] * 1e3:.2f} | {r['decode_floor_s'] * 1e3:.3f} | "
                  f"{r['decode_x_floor']:.0f}")
        else:
            dc = r.get("decode_error", "")[:20] + " | | |"
        print(f"| {r['model']} | {r['dtype']} | {r['attn']} | {r['context']} | {pf} | {pk} | {dc} |")


if __name__ == "__main__":
    sys.exit(main())
