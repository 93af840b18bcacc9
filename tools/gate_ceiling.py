#!/usr/bin/env python3
"""How well can any gate that sees only a token's own hidden state x predict its KVzip target? (issue 4)

Reads a feature directory written by `kvgate collect` (manifest.json + shard-*/layer-LL.parquet; needs numpy and
pyarrow) and reports, per gated layer and overall, the held-out agreement of (prediction >= 0.05) with
(target >= 0.05) for probes of increasing power, all fitted on the training rows only:

  const     the best constant per layer and head (the base rate: what a gate that learned nothing scores)
  ridge     ridge regression of logit(clip(S, eps, 1-eps)) on [x, 1], relative lambda chosen on the held-out
            rows' logit MSE -- the same fit as kvgate's linear gate (LinearFitter), as a cross-check
  knn       mean logit target of the 15 nearest training rows (cosine on standardised x): nonlinear, local
  mlp       one hidden layer of 64 ReLU units on standardised x, logit MSE, Adam, iterate chosen on a
            validation slice of the training rows
  ridge/4   ridge on a quarter of the training rows (does more data of the same kind help?)
  pos       ridge on position features alone (log position, log distance to the context's end, relative
            position, start/end indicator bins) -- information a gate does not have
  x+pos     ridge on x and the position features together

Positions are the token's position in the wrapped context; a context's end is taken as its last sampled
position + 1 (sampling keeps about `sample_fraction` of the tokens, so this is close).
It also prints, per layer, the share of targets >= 0.05 among the first 16 positions (counted from the first
position that is sampled at all; the collector skips the sink tokens), the last 16 of each context, and the rest,
which shows how much of the target is decided by position.

  python3 tools/gate_ceiling.py runs/quickstart/features
"""
import argparse
import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq

THRESHOLD = 0.05
LAMBDAS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]


def read_layer(features, manifest, layer):
    dtype = {"f16": "<f2", "f32": "<f4"}[manifest["hidden_dtype"]]
    d, h = manifest["hidden_size"], manifest["kv_heads"]
    xs, ts, meta = [], [], []
    for shard in manifest["shards"]:
        table = pq.read_table(os.path.join(features, shard["name"], "layer-%02d.parquet" % layer))
        cols = table.to_pydict()
        xs.append(np.frombuffer(b"".join(cols["x"]), dtype=dtype).reshape(-1, d))
        ts.append(np.frombuffer(b"".join(cols["target"]), dtype="<f4").reshape(-1, h))
        meta.append(np.stack([cols["doc"], cols["position"], cols["held_out"]], 1).astype(np.int64))
    return np.concatenate(xs).astype(np.float64), np.concatenate(ts).astype(np.float64), np.concatenate(meta)


def logit(s, eps):
    s = np.clip(s, eps, 1 - eps)
    return np.log(s / (1 - s))


def ridge(x, z, lam):
    a = np.hstack([x, np.ones((len(x), 1))])
    pen = lam * np.trace(x.T @ x) / x.shape[1] * np.eye(a.shape[1])
    pen[-1, -1] = 0  # the bias is not penalised
    return np.linalg.solve(a.T @ a + pen, a.T @ z)


def apply(x, w):
    return np.hstack([x, np.ones((len(x), 1))]) @ w


def ridge_probe(x, z, tr, ho):
    best = min(((np.mean((apply(x[ho], w) - z[ho]) ** 2), lam, w)
                for lam in LAMBDAS for w in [ridge(x[tr], z[tr], lam)]), key=lambda b: b[0])
    return apply(x[ho], best[2])


def standardise(x, tr):
    return (x - x[tr].mean(0)) / (x[tr].std(0) + 1e-6)


def knn_probe(x, z, tr, ho, k=15):
    xs = standardise(x, tr)
    xs /= np.linalg.norm(xs, axis=1, keepdims=True) + 1e-12
    sim = xs[ho] @ xs[tr].T
    nearest = np.argpartition(-sim, k, axis=1)[:, :k]
    return z[tr][nearest].mean(1)


def mlp_probe(x, z, tr, ho, seed, hidden=64, steps=1000, lr=3e-3, batch=256, decay=1e-3):
    rng = np.random.default_rng(seed)
    xs = standardise(x, tr)
    idx = np.flatnonzero(tr)
    val, fit = idx[::10], np.setdiff1d(idx, idx[::10])
    d, h = x.shape[1], z.shape[1]
    params = [rng.normal(0, d ** -0.5, (d, hidden)), np.zeros(hidden), rng.normal(0, hidden ** -0.5, (hidden, h)), z[fit].mean(0)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]

    def forward(p, rows):
        a = np.maximum(rows @ p[0] + p[1], 0)
        return a, a @ p[2] + p[3]

    best = (np.mean((forward(params, xs[val])[1] - z[val]) ** 2), [p.copy() for p in params])
    for step in range(1, steps + 1):
        b = fit[rng.integers(0, len(fit), batch)]
        a, y = forward(params, xs[b])
        g = 2 * (y - z[b]) / batch
        ga = g @ params[2].T * (a > 0)
        grads = [xs[b].T @ ga + decay * params[0], ga.sum(0), a.T @ g + decay * params[2], g.sum(0)]
        for i, (p, gr) in enumerate(zip(params, grads)):
            m1[i] = 0.9 * m1[i] + 0.1 * gr
            m2[i] = 0.999 * m2[i] + 0.001 * gr * gr
            p -= lr * (m1[i] / (1 - 0.9 ** step)) / (np.sqrt(m2[i] / (1 - 0.999 ** step)) + 1e-8)
        if step % 100 == 0:
            loss = np.mean((forward(params, xs[val])[1] - z[val]) ** 2)
            if loss < best[0]:
                best = (loss, [p.copy() for p in params])
    return forward(best[1], xs[ho])[1]


def position_features(meta):
    pos = meta[:, 1].astype(np.float64)
    end = np.zeros(meta[:, 0].max() + 1)
    np.maximum.at(end, meta[:, 0], pos + 1)
    to_end = end[meta[:, 0]] - pos
    cols = [np.log1p(pos), np.log1p(to_end), pos / end[meta[:, 0]]]
    cols += [((pos >= a) & (pos < b)).astype(float) for a, b in [(0, 16), (16, 64), (64, 128)]]
    cols += [((to_end > a) & (to_end <= b)).astype(float) for a, b in [(0, 16), (16, 64), (64, 128)]]
    return np.stack(cols, 1), to_end


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("features")
    ap.add_argument("--epsilon", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with open(os.path.join(a.features, "manifest.json")) as f:
        manifest = json.load(f)
    logit_threshold = logit(THRESHOLD, 0)
    probes = ["const", "ridge", "knn", "mlp", "ridge/4", "pos", "x+pos"]
    hits = {p: [] for p in probes}
    print("layer | S>=0.05 | " + " | ".join("%-7s" % p for p in probes) + " | S>=0.05 first16 / last16 / rest")
    for layer in manifest["gated_layers"]:
        x, t, meta = read_layer(a.features, manifest, layer)
        ho = meta[:, 2] == 1
        tr = ~ho
        z = logit(t, a.epsilon)
        above = t[ho] >= THRESHOLD
        quarter = tr & (np.cumsum(tr) % 4 == 1)
        pos, to_end = position_features(meta)
        pred = {
            "const": np.broadcast_to(np.where(np.mean(t[tr] >= THRESHOLD, 0) >= 0.5, np.inf, -np.inf), z[ho].shape),
            "ridge": ridge_probe(x, z, tr, ho),
            "knn": knn_probe(x, z, tr, ho),
            "mlp": mlp_probe(x, z, tr, ho, a.seed + layer),
            "ridge/4": ridge_probe(x, z, quarter, ho),
            "pos": ridge_probe(pos, z, tr, ho),
            "x+pos": ridge_probe(np.hstack([x, pos * np.sqrt(np.mean(x[tr] ** 2) * x.shape[1] / pos.shape[1])]), z, tr, ho),
        }
        row = []
        for p in probes:
            agree = (pred[p] >= logit_threshold) == above
            hits[p].append(agree.ravel())
            row.append("%.4f " % agree.mean())
        first, last = meta[:, 1] < meta[:, 1].min() + 16, to_end <= 16
        share = [np.mean(t[k] >= THRESHOLD) for k in (first, last, ~first & ~last)]
        print("%5d | %.3f   | %s | %.2f / %.2f / %.2f" % (layer, np.mean(t[ho] >= THRESHOLD), " | ".join(row), *share))
        sys.stdout.flush()
    print("  all |         | " + " | ".join("%.4f " % np.concatenate(hits[p]).mean() for p in probes))


if __name__ == "__main__":
    main()
