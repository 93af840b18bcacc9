package io.kvgate.trainer.fit;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import io.kvgate.gates.SinkGate;
import io.kvgate.gates.SinkGate.Dims;
import io.kvgate.gates.SinkGate.Params;

import java.util.ArrayList;
import java.util.List;

/**
 * {@link SinkObjective} as batched libtorch ops on a device, with the Adam update there too: the fitting rows are
 * uploaded once (x float32, targets float64), parameters and Adam moments live on the device in float64, and a step
 * reads nothing back. Same loss, same hand-derived gradient (no autograd: DJL allows one gradient collector per
 * process, and layers are fitted in parallel), checked against the Java objective in DeviceSinkObjectiveTest.
 * Deterministic: no scatter or atomic ops (row gathers happen outside the differentiated graph, reductions are
 * plain sums and matmuls).
 */
final class DeviceSinkObjective implements SinkOptimiser {
    private final Dims d;
    private final NDManager manager;
    private final NDArray x, target, logitTarget;          // [N, D] float32, [N, H], [N, H] float64
    private NDArray[] w, m, v;                             // parameters and Adam moments, Params.arrays() order
    private final NDArray eps, invSqrtD, one, clipLow;      // 0-d constants: a Java scalar operand is a host copy (docs/GPU.md)
    private final List<NDArray> resident = new ArrayList<>();
    private final SinkObjective.Space space;
    private final int rows;

    /** Uploads the fitting rows; {@link #start} then sets the parameters. */
    DeviceSinkObjective(Device device, Dims dims, float[] xRows, float[] targetRows, int rows, SinkObjective.Space space, double epsilon) {
        this.d = dims;
        this.space = space;
        this.rows = rows;
        this.manager = NDManager.newBaseManager(device);
        x = keep(manager.create(java.nio.FloatBuffer.wrap(xRows, 0, rows * d.hidden()).slice(), new Shape(rows, d.hidden())));
        float[] t = java.util.Arrays.copyOf(targetRows, rows * d.kvHeads());
        target = keep(manager.create(t, new Shape(rows, d.kvHeads())).toType(DataType.FLOAT64, false));
        logitTarget = keep(manager.create(Logit.of(t, t.length, epsilon), new Shape(rows, d.kvHeads())).toType(DataType.FLOAT64, false));
        eps = keep(manager.create(SinkGate.NORM_EPS));
        invSqrtD = keep(manager.create(1.0 / Math.sqrt(d.dim())));
        one = keep(manager.create(1.0));
        clipLow = keep(manager.create(1e-12));
    }

    /** Parameters to start from (float64 copies on the device) and zero Adam moments. */
    @Override
    public void start(Params p) {
        if (w != null) throw new IllegalStateException("already started");
        List<float[]> arrays = p.arrays();
        w = new NDArray[arrays.size()];
        m = new NDArray[arrays.size()];
        v = new NDArray[arrays.size()];
        for (int k = 0; k < w.length; k++) {
            float[] a = arrays.get(k);
            w[k] = keep(manager.create(a).toType(DataType.FLOAT64, false));
            m[k] = keep(manager.zeros(new Shape(a.length), DataType.FLOAT64));
            v[k] = keep(manager.zeros(new Shape(a.length), DataType.FLOAT64));
        }
    }

    private NDArray keep(NDArray a) {
        resident.add(a);
        return a;
    }

    /** The current parameters, read back as float32 (one host read per array). */
    @Override
    public Params snapshot() {
        float[][] a = new float[w.length][];
        for (int k = 0; k < w.length; k++) a[k] = w[k].toType(DataType.FLOAT32, false).toFloatArray();
        return new Params(d, a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    }

    /** Loss over rows {@code idx} (as {@link SinkObjective#lossAndGradient} without a gradient); one host read. */
    @Override
    public double loss(int[] idx) {
        try (NDManager scope = manager.newSubManager()) {
            for (NDArray a : resident) a.tempAttach(scope);
            double total = 0;
            for (int start = 0; start < idx.length; start += 8192) {
                int[] part = java.util.Arrays.copyOfRange(idx, start, Math.min(idx.length, start + 8192));
                total += forward(scope, part, idx.length, false).loss.getDouble();
            }
            return total;
        }
    }

    /** The gradient of the loss over rows {@code idx}, in {@link Params#arrays()} order (for tests). */
    double[][] gradient(int[] idx) {
        try (NDManager scope = manager.newSubManager()) {
            for (NDArray a : resident) a.tempAttach(scope);
            NDArray[] g = forward(scope, idx, idx.length, true).grads;
            double[][] out = new double[g.length][];
            for (int k = 0; k < g.length; k++) out[k] = g[k].toDoubleArray();
            return out;
        }
    }

    /**
     * One Adam step on rows {@code batch}: {@code stepSizes[k]} is the step of parameter array k, {@code c1}/{@code c2}
     * the bias corrections 1 − β^t. Queues work only; nothing is read back.
     */
    @Override
    public void step(int[] batch, double[] stepSizes, double b1, double b2, double c1, double c2) {
        try (NDManager scope = manager.newSubManager()) {
            for (NDArray a : resident) a.tempAttach(scope);
            NDArray[] g = forward(scope, batch, batch.length, true).grads;
            // per-step scalars in one upload: [b1, 1-b1, b2, 1-b2, 1/c1, 1/c2, step sizes...]
            double[] s = new double[6 + w.length];
            s[0] = b1; s[1] = 1 - b1; s[2] = b2; s[3] = 1 - b2; s[4] = 1 / c1; s[5] = 1 / c2;
            System.arraycopy(stepSizes, 0, s, 6, w.length);
            NDArray sc = scope.create(s);
            NDArray sb1 = sc.get(0), s1b1 = sc.get(1), sb2 = sc.get(2), s1b2 = sc.get(3), ic1 = sc.get(4), ic2 = sc.get(5);
            NDArray tiny = clipLow; // 1e-12, as the Java update's denominator guard
            for (int k = 0; k < w.length; k++) {
                NDArray gk = g[k];
                m[k].muli(sb1).addi(gk.mul(s1b1));
                v[k].muli(sb2).addi(gk.square().mul(s1b2));
                NDArray upd = m[k].mul(ic1).div(v[k].mul(ic2).sqrt().add(tiny)).mul(sc.get(6 + k));
                w[k].subi(upd);
            }
        }
    }

    private record Result(NDArray loss, NDArray[] grads) {}

    private Result forward(NDManager scope, int[] idxRows, int total, boolean withGrad) {
        int h = d.kvHeads(), g = d.group(), dim = d.dim(), s = d.sinks();
        long b = idxRows.length;
        long[] li = new long[idxRows.length];
        for (int i = 0; i < li.length; i++) li[i] = idxRows[i];
        NDArray idx = scope.create(li);
        NDArray xb = x.get(new NDIndex("{}", idx)).toType(DataType.FLOAT64, false);                 // [B, D]
        NDArray wq = w[0].reshape(d.queryRows(), d.hidden()), bq = w[1], wk = w[2].reshape(d.keyRows(), d.hidden());
        NDArray qn = w[3], kn = w[4], kBase = w[5].reshape(h, s, dim), bias = w[6].reshape(h, g);
        NDArray qPre = xb.matMul(wq.transpose()).add(bq).reshape(b, h, g, dim);
        NDArray qRms = qPre.square().mean(new int[] {3}, true).add(eps).sqrt();
        NDArray qHat = qPre.div(qRms);
        NDArray q = qHat.mul(qn);                                                                    // [B,H,G,d′]
        NDArray kPre = xb.matMul(wk.transpose()).reshape(b, h, dim);
        NDArray kRms = kPre.square().mean(new int[] {2}, true).add(eps).sqrt();
        NDArray kHat = kPre.div(kRms);
        NDArray k = kHat.mul(kn);                                                                    // [B,H,d′]
        NDArray l = q.mul(k.expandDims(2)).sum(new int[] {3}).mul(invSqrtD).add(bias);               // [B,H,G]
        NDArray qh = q.transpose(1, 0, 2, 3).reshape(h, b * g, dim);                                // [H,B·G,d′]
        NDArray ls = qh.matMul(kBase.transpose(0, 2, 1)).mul(invSqrtD);                              // [H,B·G,S]
        NDArray max = ls.max(new int[] {2}, true);
        NDArray e = ls.sub(max).exp();
        NDArray sum = e.sum(new int[] {2}, true);
        NDArray prob = e.div(sum);
        NDArray lse = sum.log().add(max).squeeze(2);                                                // [H,B·G]
        NDArray u = l.transpose(1, 0, 2).reshape(h, b * g).sub(lse);
        NDArray sig = Activation.sigmoid(u).reshape(h, b, g);                                        // [H,B,G]
        NDArray score = sig.mean(new int[] {2});                                                     // [H,B]
        double norm = 1.0 / ((double) total * h);
        NDArray residual, dScore;
        if (space == SinkObjective.Space.PROBABILITY) {
            residual = score.sub(target.get(new NDIndex("{}", idx)).transpose());
            dScore = residual.mul(2 * norm);
        } else {
            NDArray c = score.clip(1e-12, 1 - 1e-12);
            NDArray oneMinus = one.sub(c);
            residual = c.div(oneMinus).log().sub(logitTarget.get(new NDIndex("{}", idx)).transpose());
            dScore = residual.mul(2 * norm).div(c.mul(oneMinus));
        }
        NDArray loss = residual.square().sum().mul(norm);
        if (!withGrad) return new Result(loss, null);

        NDArray du = dScore.expandDims(2).mul(1.0 / g).mul(sig.mul(one.sub(sig)));                  // [H,B,G]
        NDArray gb = du.sum(new int[] {1});                                                          // [H,G]
        NDArray dls = prob.mul(du.reshape(h, b * g, 1)).neg();                                       // [H,B·G,S]
        NDArray kh = k.transpose(1, 0, 2);                                                           // [H,B,d′]
        NDArray dq = du.expandDims(3).mul(kh.expandDims(2)).reshape(h, b * g, dim)
                .add(dls.matMul(kBase)).mul(invSqrtD);                                               // [H,B·G,d′]
        NDArray gkBase = dls.transpose(0, 2, 1).matMul(qh).mul(invSqrtD);                            // [H,S,d′]
        NDArray dk = du.expandDims(3).mul(qh.reshape(h, b, g, dim)).sum(new int[] {2}).mul(invSqrtD); // [H,B,d′]
        NDArray dqo = dq.reshape(h, b, g, dim).transpose(1, 0, 2, 3);                                // [B,H,G,d′]
        NDArray gqNorm = dqo.mul(qHat).sum(new int[] {0, 1, 2});
        NDArray dqPre = normBackward(dqo.mul(qn), qHat, qRms, 3).reshape(b, d.queryRows());
        NDArray dko = dk.transpose(1, 0, 2);                                                         // [B,H,d′]
        NDArray gkNorm = dko.mul(kHat).sum(new int[] {0, 1});
        NDArray dkPre = normBackward(dko.mul(kn), kHat, kRms, 2).reshape(b, d.keyRows());
        NDArray gqW = dqPre.transpose().matMul(xb).reshape(-1);
        NDArray gqBias = dqPre.sum(new int[] {0});
        NDArray gkW = dkPre.transpose().matMul(xb).reshape(-1);
        return new Result(loss, new NDArray[] {gqW, gqBias, gkW, gqNorm, gkNorm, gkBase.reshape(-1), gb.reshape(-1)});
    }

    /** Through out = w ⊙ v/rms(v): ∂v from ∂v̂ (= ∂out ⊙ w) along {@code axis}. */
    private static NDArray normBackward(NDArray dHat, NDArray hat, NDArray rms, int axis) {
        NDArray dot = dHat.mul(hat).mean(new int[] {axis}, true);
        return dHat.sub(hat.mul(dot)).div(rms);
    }

    /**
     * Key features of the closed-form start: (W_k x)/rms(W_k x)/√d′ per head (the RMSNorm without its weight) for every
     * row, laid out [H][row·d′ + i] as {@link SinkInit} wants them.
     */
    float[][] keyFeatures(Params p) {
        int h = d.kvHeads(), dim = d.dim();
        float[][] out = new float[h][rows * dim];
        try (NDManager scope = manager.newSubManager()) {
            NDArray wk = scope.create(p.kWeight, new Shape(d.keyRows(), d.hidden())).toType(DataType.FLOAT64, false).transpose();
            x.tempAttach(scope);
            for (int start = 0; start < rows; start += 16384) {
                int n = Math.min(16384, rows - start);
                try (NDManager chunk = scope.newSubManager()) {
                    NDArray xb = x.get(new NDIndex("{}:{}", start, start + n));
                    xb.attach(chunk);
                    NDArray kPre = xb.toType(DataType.FLOAT64, false).matMul(wk).reshape(n, h, dim);
                    NDArray rms = kPre.square().mean(new int[] {2}, true).add(SinkGate.NORM_EPS).sqrt();
                    float[] f = kPre.div(rms).mul(1.0 / Math.sqrt(dim)).transpose(1, 0, 2).toType(DataType.FLOAT32, false).toFloatArray();
                    for (int hh = 0; hh < h; hh++) System.arraycopy(f, hh * n * dim, out[hh], start * dim, n * dim);
                }
            }
        }
        return out;
    }

    @Override
    public void close() {
        manager.close();
    }
}
