#!/usr/bin/env python3
"""Parity on the GPU against the float32 references of the parity fixtures (issue 7).

  hf       run transformers itself on the GPU (float32 and float16, eager and sdpa) over each fixture's
           input_ids and report ||out - ref|| / ||ref|| for logits and final hidden states: the error a
           correct float16 implementation is expected to show, and a check that the GPU reference agrees
           with the CPU-made fixture.
  compare  compare safetensors files written by `kvgate forward` (tensors `logits` and, if present,
           `hidden_last`) with a fixture's reference.safetensors; exits 1 if any error exceeds its tolerance.

Fixture folders hold config.json, model.safetensors and reference.safetensors (see models/src/test/resources/parity).
"""
import argparse
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def cmd_hf(args):
    import torch
    from transformers import AutoModelForCausalLM
    print(f"torch float32 matmul precision by default: {torch.get_float32_matmul_precision()}, "
          f"cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}", flush=True)
    # Exact float32 (no TF32), like the CPU reference and like DJL (which never enables TF32).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    rows = []
    for fx in args.fixtures:
        ref = load_file(os.path.join(fx, "reference.safetensors"))
        ids = torch.from_numpy(ref["input_ids"].astype(np.int64))[None]
        for dev, dtype, attn in (("cpu", "float32", "eager"), ("cuda", "float32", "eager"), ("cuda", "float32", "sdpa"),
                                 ("cuda", "float16", "eager"), ("cuda", "float16", "sdpa")):
            model = AutoModelForCausalLM.from_pretrained(fx, dtype=getattr(torch, dtype),
                                                         attn_implementation=attn).to(dev).eval()
            with torch.inference_mode():
                ids = ids.to(dev)
                logits = model(input_ids=ids).logits[0].float().cpu().numpy()
                # last_hidden_state is after the final norm, like the fixture's hidden_last
                hidden = model.model(input_ids=ids).last_hidden_state[0].float().cpu().numpy()
            row = {"fixture": os.path.basename(fx.rstrip("/")), "impl": "transformers-" + dev, "dtype": dtype,
                   "attn": attn, "logits_rel_err": rel_err(logits, ref["logits"]),
                   "hidden_last_rel_err": rel_err(hidden, ref["hidden_last"])}
            rows.append(row)
            print(json.dumps(row), flush=True)
            del model
    return rows, True


def cmd_compare(args):
    rows, ok = [], True
    for fx, out_file in zip(args.fixtures, args.outputs):
        ref = load_file(os.path.join(fx, "reference.safetensors"))
        ours = load_file(out_file)
        row = {"fixture": os.path.basename(fx.rstrip("/")), "impl": "kvgate", "dtype": args.dtype,
               "tolerance": args.tol}
        for key, ref_key in (("logits", "logits"), ("hidden_last", "hidden_last")):
            if key in ours:
                err = rel_err(ours[key], ref[ref_key])
                row[key + "_rel_err"] = err
                ok &= err <= args.tol
        if "logits_rel_err" not in row:
            ok = False
            row["error"] = f"{out_file} has no tensor 'logits' (has {sorted(ours)})"
        row["pass"] = ok
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    hf = sub.add_parser("hf")
    hf.add_argument("fixtures", nargs="+")
    cmp = sub.add_parser("compare")
    cmp.add_argument("--fixtures", nargs="+", required=True)
    cmp.add_argument("--outputs", nargs="+", required=True)
    cmp.add_argument("--dtype", default="float32")
    cmp.add_argument("--tol", type=float, default=None, help="default 1e-4 (float32), 1e-2 (float16)")
    for p in (hf, cmp):
        p.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.cmd == "compare":
        if len(args.fixtures) != len(args.outputs):
            ap.error("--fixtures and --outputs must pair up")
        if args.tol is None:
            args.tol = 1e-4 if args.dtype == "float32" else 1e-2
    rows, ok = cmd_hf(args) if args.cmd == "hf" else cmd_compare(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print("| fixture | impl | dtype | attn | logits rel err | hidden_last rel err |")
    print("|---|---|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['fixture']} | {r['impl']} | {r['dtype']} | {r.get('attn', '')} | "
              f"{r.get('logits_rel_err', float('nan')):.2e} | {r.get('hidden_last_rel_err', float('nan')):.2e} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
