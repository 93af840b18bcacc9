#!/usr/bin/env python3
"""Writes a gate artifact with random weights for a checkpoint's shape: timing gate overhead only. --type sink (the
default) writes Fast KVzip's sink-attention gates (d' = 16, 16 sink keys: the gate the method fits), --type linear
the one-projection baseline gate.

A gate's cost does not depend on its values, so GPU overhead can be measured on a model for which no gates were fitted
(here: the random-weight Qwen3-0.6B-shaped model, whose features cannot be collected on the GPU machine). Never use
such an artifact for evaluation.

    python3 tools/make_random_gates.py CHECKPOINT_DIR OUT_DIR --fingerprint FP [--type sink|linear]
    ./kvgate bench eviction --model CHECKPOINT_DIR --gates OUT_DIR --device gpu --dtype float16 ...

FP is the checkpoint's fingerprint: `kvgate inspect OUT_DIR --model CHECKPOINT_DIR` prints it when it differs
(run once with any value, then again with the printed one).
"""
import argparse
import json
import os

import numpy as np
from safetensors.numpy import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--fingerprint", default="unknown")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--type", choices=["sink", "linear"], default="sink")
    args = ap.parse_args()

    cfg = json.load(open(os.path.join(args.checkpoint, "config.json")))
    cfg = cfg.get("text_config", cfg)
    layers, hidden = cfg["num_hidden_layers"], cfg["hidden_size"]
    kv, heads = cfg["num_key_value_heads"], cfg["num_attention_heads"]
    rng = np.random.default_rng(args.seed)
    group, dim, sinks = heads // kv, 16, 16
    tensors = {}
    for layer in range(layers):
        t = {}
        if args.type == "linear":
            t["weight"] = rng.standard_normal((kv, hidden)) / np.sqrt(hidden)
            t["bias"] = np.full((kv,), -2.0)
        else:  # SinkGate.tensors(): q/k projections to d', shared q/k norms, sink keys, per-(head, group) bias
            t["q_proj.weight"] = rng.standard_normal((kv * group * dim, hidden)) / np.sqrt(hidden)
            t["q_proj.bias"] = np.zeros((kv * group * dim,))
            t["k_proj.weight"] = rng.standard_normal((kv * dim, hidden)) / np.sqrt(hidden)
            t["q_norm.weight"] = np.ones((dim,))
            t["k_norm.weight"] = np.ones((dim,))
            t["k_base"] = rng.standard_normal((kv, 1, sinks, dim))
            t["b"] = np.full((kv, 1, group), -2.0)
        for name, value in t.items():
            tensors[f"layers.{layer}.{name}"] = value.astype(np.float32)
    hyper = {"note": "random weights for timing only (tools/make_random_gates.py)", "seed": args.seed}
    if args.type == "sink":
        hyper.update({"dim": dim, "sinks": sinks, "norm_eps": 1e-6})
    os.makedirs(args.out, exist_ok=True)
    save_file(tensors, os.path.join(args.out, "gates.safetensors"), metadata={"format": "kvgate-gates", "gate_type": args.type})
    metric = {"pairs": 0, "mse": 0.0, "bce": 0.0, "agreement": 0.0, "spearman": 0.0, "target_above_threshold": 0.0}
    manifest = {
        "format": "kvgate-gates", "format_version": 1, "kvgate_version": "0.1.0", "gate_type": args.type,
        "tensor_prefix": "layers.{layer}.",
        "hyper_parameters": hyper,
        "gated_layers": list(range(layers)), "hidden_size": hidden, "kv_heads": kv, "group_size": heads // kv,
        "model": {"fingerprint": args.fingerprint, "model_type": cfg.get("model_type", "")},
        "corpus": {"source": "none (random weights)", "tokens": 0, "held_out_tokens": 0},
        "metrics": {"threshold": 0.05, "overall": metric, "layers": {str(l): metric for l in range(layers)}},
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"random {args.type} gates for {layers} layers x {kv} KV heads (hidden {hidden}) -> {args.out}")


if __name__ == "__main__":
    main()
