package io.kvgate.gates;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import io.kvgate.models.FusedSinkGates;
import io.kvgate.models.KvgateException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Fast KVzip sink-attention gate of one layer (ALGORITHM.md §2). With d′ = {@link Dims#dim}, S = {@link Dims#sinks}:
 * <pre>
 * q[h,g] = rmsnorm_q(W_q x + b_q)[h,g]        k[h] = rmsnorm_k(W_k x)[h]       (RMSNorm: w ⊙ v / sqrt(mean v² + 1e-6))
 * l[h,g]    = q[h,g]·k[h] / √d′ + b[h,g]
 * ls[h,g,s] = q[h,g]·K_s[h,s] / √d′
 * s[h](x)   = mean_g sigmoid(l[h,g] − logsumexp_s ls[h,g,s])
 * </pre>
 * Official tensor names and shapes (the PyTorch module {@code Weight} of the public code; H KV heads,
 * G query heads per KV head, D hidden size):
 * <table>
 *   <tr><td>{@code q_proj.weight}</td><td>[H·G·d′, D]</td><td>rows ordered (h, g, d′)</td></tr>
 *   <tr><td>{@code q_proj.bias}</td><td>[H·G·d′]</td><td></td></tr>
 *   <tr><td>{@code k_proj.weight}</td><td>[H·d′, D]</td><td>rows ordered (h, d′)</td></tr>
 *   <tr><td>{@code q_norm.weight}</td><td>[d′]</td><td>shared by all heads</td></tr>
 *   <tr><td>{@code k_norm.weight}</td><td>[d′]</td><td>shared by all heads</td></tr>
 *   <tr><td>{@code k_base}</td><td>[H, 1, S, d′]</td><td>sink keys K_s</td></tr>
 *   <tr><td>{@code b}</td><td>[H, 1, G]</td><td>added once (the inference formula)</td></tr>
 * </table>
 */
public final class SinkGate implements Gate {
    public static final int DEFAULT_DIM = 16;
    public static final int DEFAULT_SINKS = 16;
    public static final double NORM_EPS = 1e-6;

    /** Sizes of one sink gate: hidden D, KV heads H, group G, projection d′, sink keys S. */
    public record Dims(int hidden, int kvHeads, int group, int dim, int sinks) {
        public Dims {
            if (hidden <= 0 || kvHeads <= 0 || group <= 0 || dim <= 0 || sinks <= 0)
                throw new IllegalArgumentException("sink gate sizes must be positive: " + hidden + "," + kvHeads + "," + group + "," + dim + "," + sinks);
        }

        public static Dims standard(int hidden, int kvHeads, int group) {
            return new Dims(hidden, kvHeads, group, DEFAULT_DIM, DEFAULT_SINKS);
        }

        /** Query rows H·G·d′. */
        public int queryRows() {
            return kvHeads * group * dim;
        }

        /** Key rows H·d′. */
        public int keyRows() {
            return kvHeads * dim;
        }
    }

    /**
     * The parameters as flat row-major float arrays in the official layouts. Mutable so that the fitter can
     * optimise them in place before handing them to a gate; a gate must not see them change afterwards.
     */
    public static final class Params {
        public final Dims dims;
        public final float[] qWeight, qBias, kWeight, qNorm, kNorm, kBase, b;

        public Params(Dims d, float[] qWeight, float[] qBias, float[] kWeight, float[] qNorm, float[] kNorm, float[] kBase, float[] b) {
            this.dims = d;
            this.qWeight = check("q_proj.weight", qWeight, (long) d.queryRows() * d.hidden());
            this.qBias = check("q_proj.bias", qBias, d.queryRows());
            this.kWeight = check("k_proj.weight", kWeight, (long) d.keyRows() * d.hidden());
            this.qNorm = check("q_norm.weight", qNorm, d.dim());
            this.kNorm = check("k_norm.weight", kNorm, d.dim());
            this.kBase = check("k_base", kBase, (long) d.kvHeads() * d.sinks() * d.dim());
            this.b = check("b", b, (long) d.kvHeads() * d.group());
        }

        /** Zero projections, unit norms, zero sink keys and bias: the official initial state. */
        public static Params zeros(Dims d) {
            float[] qn = new float[d.dim()], kn = new float[d.dim()];
            java.util.Arrays.fill(qn, 1f);
            java.util.Arrays.fill(kn, 1f);
            return new Params(d, new float[d.queryRows() * d.hidden()], new float[d.queryRows()], new float[d.keyRows() * d.hidden()],
                    qn, kn, new float[d.kvHeads() * d.sinks() * d.dim()], new float[d.kvHeads() * d.group()]);
        }

        /**
         * Every parameter random (non-zero sink keys, non-unit norms), so every term of the gate matters: for tests and
         * benchmarks of the scoring paths, not a starting point for fitting.
         */
        public static Params random(Dims d, java.util.Random r) {
            Params p = zeros(d);
            gaussian(r, p.qWeight, 1 / Math.sqrt(d.hidden()));
            gaussian(r, p.qBias, 0.3);
            gaussian(r, p.kWeight, 1 / Math.sqrt(d.hidden()));
            for (int i = 0; i < d.dim(); i++) {
                p.qNorm[i] = (float) (1 + 0.5 * r.nextGaussian());
                p.kNorm[i] = (float) (1 + 0.5 * r.nextGaussian());
            }
            gaussian(r, p.kBase, 1.0);
            gaussian(r, p.b, 1.0);
            return p;
        }

        private static void gaussian(java.util.Random r, float[] a, double scale) {
            for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * scale);
        }

        public Params copy() {
            return new Params(dims, qWeight.clone(), qBias.clone(), kWeight.clone(), qNorm.clone(), kNorm.clone(), kBase.clone(), b.clone());
        }

        /** All arrays in a fixed order (used by optimisers that treat parameters as one vector). */
        public List<float[]> arrays() {
            return List.of(qWeight, qBias, kWeight, qNorm, kNorm, kBase, b);
        }

        private static float[] check(String name, float[] a, long n) {
            if (a.length != n) throw new IllegalArgumentException(name + ": expected " + n + " values, got " + a.length);
            return a;
        }
    }

    /**
     * Per-row intermediates of the plain-Java forward pass (double precision), kept so that a fitter can run
     * the backward pass without recomputing them. Index layouts: [h·G + g] for per-query values,
     * [(h·G + g)·d′ + i] for query vectors, [h·d′ + i] for key vectors, [(h·G + g)·S + s] for sink softmax.
     */
    public static final class RowState {
        public final double[] qPre, qRms, qHat, q, kPre, kRms, kHat, k, logit, sinkProb, sig, score;

        public RowState(Dims d) {
            int hg = d.kvHeads() * d.group();
            qPre = new double[hg * d.dim()];
            qRms = new double[hg];
            qHat = new double[hg * d.dim()];
            q = new double[hg * d.dim()];
            kPre = new double[d.keyRows()];
            kRms = new double[d.kvHeads()];
            kHat = new double[d.keyRows()];
            k = new double[d.keyRows()];
            logit = new double[hg];
            sinkProb = new double[hg * d.sinks()];
            sig = new double[hg];
            score = new double[d.kvHeads()];
        }
    }

    private final int layer;
    private final Params p;
    private final DeviceParams device;

    public SinkGate(int layer, Params params) {
        this.layer = layer;
        this.p = params;
        Dims d = params.dims;
        this.device = new DeviceParams(m -> List.of(
                m.create(p.qWeight, new Shape(d.queryRows(), d.hidden())).transpose(),  // [D, H·G·d′]
                m.create(p.qBias, new Shape(d.queryRows())),
                m.create(p.kWeight, new Shape(d.keyRows(), d.hidden())).transpose(),    // [D, H·d′]
                m.create(p.qNorm, new Shape(d.dim())),
                m.create(p.kNorm, new Shape(d.dim())),
                m.create(p.kBase, new Shape(d.kvHeads(), d.sinks(), d.dim())).transpose(0, 2, 1), // [H, d′, S]
                m.create(p.b, new Shape(d.kvHeads(), d.group())),
                // scalar operands as 0-d device arrays: a Java scalar operand is a blocking host-to-device copy
                // per op, i.e. a GPU sync (docs/GPU.md)
                m.create((float) (1.0 / Math.sqrt(d.dim()))),
                m.create((float) NORM_EPS)));
    }

    /** Builds a gate from official-named tensors; wrong or missing tensors are a {@link KvgateException}. */
    public static SinkGate fromTensors(int layer, Dims d, Map<String, GateTensor> t, String where) {
        Params params = new Params(d,
                take(t, "q_proj.weight", where, d.queryRows(), d.hidden()),
                take(t, "q_proj.bias", where, d.queryRows()),
                take(t, "k_proj.weight", where, d.keyRows(), d.hidden()),
                take(t, "q_norm.weight", where, d.dim()),
                take(t, "k_norm.weight", where, d.dim()),
                take(t, "k_base", where, d.kvHeads(), 1, d.sinks(), d.dim()),
                take(t, "b", where, d.kvHeads(), 1, d.group()));
        return new SinkGate(layer, params);
    }

    static float[] take(Map<String, GateTensor> t, String name, String where, long... shape) {
        GateTensor g = t.get(name);
        if (g == null) throw new KvgateException(where + ": missing tensor '" + name + "'");
        if (!java.util.Arrays.equals(g.shape(), shape))
            throw new KvgateException(where + ": tensor '" + name + "' has shape " + java.util.Arrays.toString(g.shape())
                    + ", expected " + java.util.Arrays.toString(shape));
        return g.data();
    }

    public Params params() {
        return p;
    }

    public Dims dims() {
        return p.dims;
    }

    @Override
    public GateType type() {
        return GateType.SINK;
    }

    @Override
    public int layer() {
        return layer;
    }

    @Override
    public int hiddenSize() {
        return p.dims.hidden();
    }

    @Override
    public int kvHeads() {
        return p.dims.kvHeads();
    }

    @Override
    public Map<String, GateTensor> tensors() {
        Dims d = p.dims;
        Map<String, GateTensor> m = new LinkedHashMap<>();
        m.put("q_proj.weight", GateTensor.of(p.qWeight, d.queryRows(), d.hidden()));
        m.put("q_proj.bias", GateTensor.of(p.qBias, d.queryRows()));
        m.put("k_proj.weight", GateTensor.of(p.kWeight, d.keyRows(), d.hidden()));
        m.put("q_norm.weight", GateTensor.of(p.qNorm, d.dim()));
        m.put("k_norm.weight", GateTensor.of(p.kNorm, d.dim()));
        m.put("k_base", GateTensor.of(p.kBase, d.kvHeads(), 1, d.sinks(), d.dim()));
        m.put("b", GateTensor.of(p.b, d.kvHeads(), 1, d.group()));
        return m;
    }

    @Override
    public List<NDArray> deviceParams(ai.djl.Device on) {
        return device.on(on);
    }

    /**
     * w: one gate's {W_q [D, H·G·d′], b_q, W_k [D, H·d′], q_norm [d′], k_norm [d′], K_s [H, d′, S], b [H, G], 1/√d′, ε},
     * or n gates' stacked with a leading axis (and broadcast axes: b_q [n, 1, ·], norms [n, 1, 1, 1, d′], b [n, 1, H, G]).
     */
    @Override
    public NDArray scoreBatch(NDArray xs, List<NDArray> w) {
        Dims d = p.dims;
        long n = xs.getShape().get(0), t = xs.getShape().get(1);
        int h = d.kvHeads(), g = d.group(), dim = d.dim();
        NDArray invSqrtD = w.get(7), eps = w.get(8);
        NDManager owner = xs.getManager();
        try (NDManager scope = owner.newSubManager()) {
            xs.tempAttach(scope);
            NDArray x = Gate.projectionInput(xs, w.get(0)); // W_q and W_k share a dtype
            NDArray q = rmsNorm(Gate.project(x, w.get(0)).add(w.get(1)).reshape(n, t, h, g, dim), w.get(3), eps); // [n,T,H,G,d′]
            NDArray k = rmsNorm(Gate.project(x, w.get(2)).reshape(n, t, h, 1, dim), w.get(4), eps);             // [n,T,H,1,d′]
            NDArray logit = q.mul(k).sum(new int[] {4}).mul(invSqrtD).add(w.get(6));                 // [n,T,H,G]
            NDArray qh = q.transpose(0, 2, 1, 3, 4).reshape(n, h, t * g, dim);                        // [n,H,T·G,d′]
            NDArray ls = qh.matMul(w.get(5)).mul(invSqrtD);                                           // [n,H,T·G,S]
            NDArray max = ls.max(new int[] {3}, true);
            NDArray lse = ls.sub(max).exp().sum(new int[] {3}).log().add(max.squeeze(3));             // [n,H,T·G]
            NDArray u = logit.transpose(0, 2, 1, 3).reshape(n, h, t * g).sub(lse);
            NDArray score = Activation.sigmoid(u).reshape(n, h, t, g).mean(new int[] {3});             // [n,H,T]
            score.attach(owner);
            return score;
        }
    }

    /** {@link #scoreBatch} through the model's fused module: one call (and on a GPU one kernel after the projections). */
    public NDArray scoreFused(NDArray xs, List<NDArray> w, FusedSinkGates fused) {
        return fused.scores(xs, w.get(0), w.get(1), w.get(2), w.get(3), w.get(4), w.get(5), w.get(6), p.dims.kvHeads(), NORM_EPS);
    }

    /** {@link #scoreFused}'s parameters bound for a whole-model chunk call ({@link FusedSinkGates#bind}). */
    public FusedSinkGates.Bound bindFused(int[] layers, int numLayers, List<NDArray> w, FusedSinkGates fused) {
        return fused.bind(layers, numLayers, w.get(0), w.get(1), w.get(2), w.get(3), w.get(4), w.get(5), w.get(6),
                p.dims.kvHeads(), NORM_EPS);
    }

    @Override
    public int[] projectionParams() {
        return new int[] {0, 2}; // W_q, W_k
    }

    @Override
    public List<NDArray> stack(List<List<NDArray>> perGate, NDManager m) {
        int n = perGate.size();
        Dims d = p.dims;
        List<NDArray> first = perGate.get(0);
        return List.of(DeviceParams.stack(perGate, 0, m), DeviceParams.stack(perGate, 1, m).expandDims(1), DeviceParams.stack(perGate, 2, m),
                DeviceParams.stack(perGate, 3, m).reshape(n, 1, 1, 1, d.dim()), DeviceParams.stack(perGate, 4, m).reshape(n, 1, 1, 1, d.dim()),
                DeviceParams.stack(perGate, 5, m), DeviceParams.stack(perGate, 6, m).reshape(n, 1, d.kvHeads(), d.group()),
                first.get(7), first.get(8)); // scalars shared by every gate of these dims
    }

    private static NDArray rmsNorm(NDArray v, NDArray weight, NDArray eps) {
        NDArray rms = v.square().mean(new int[] {-1}, true).add(eps).sqrt();
        return v.div(rms).mul(weight);
    }

    @Override
    public float[] scoreRows(float[] x, int rows) {
        Dims d = p.dims;
        if ((long) rows * d.hidden() != x.length) throw new IllegalArgumentException("x has " + x.length + " values, expected " + rows + "×" + d.hidden());
        RowState st = new RowState(d);
        float[] out = new float[rows * d.kvHeads()];
        for (int r = 0; r < rows; r++) {
            forwardRow(x, r * d.hidden(), st);
            for (int h = 0; h < d.kvHeads(); h++) out[r * d.kvHeads() + h] = (float) st.score[h];
        }
        return out;
    }

    /** The plain-Java forward pass of one row {@code x[off .. off+D)}, leaving every intermediate in {@code st}. */
    public void forwardRow(float[] x, int off, RowState st) {
        forwardRow(p, x, off, st);
    }

    /** As {@link #forwardRow(float[], int, RowState)}, for parameters that are still being fitted. */
    public static void forwardRow(Params p, float[] x, int off, RowState st) {
        Dims d = p.dims;
        int hidden = d.hidden();
        for (int r = 0; r < d.queryRows(); r++) st.qPre[r] = p.qBias[r] + dot(p.qWeight, r * hidden, x, off, hidden);
        for (int r = 0; r < d.keyRows(); r++) st.kPre[r] = dot(p.kWeight, r * hidden, x, off, hidden);
        forwardFromProjections(p, st);
    }

    /**
     * The rest of the forward pass once {@code st.qPre} (= W_q x + b_q) and {@code st.kPre} (= W_k x) are filled,
     * for callers that compute the projections of many rows at once.
     */
    public static void forwardFromProjections(Params p, RowState st) {
        Dims d = p.dims;
        int h = d.kvHeads(), g = d.group(), dim = d.dim(), sinks = d.sinks();
        double invSqrtD = 1.0 / Math.sqrt(dim);
        for (int hg = 0; hg < h * g; hg++) st.qRms[hg] = rmsNorm(st.qPre, hg * dim, dim, p.qNorm, st.qHat, st.q);
        for (int hh = 0; hh < h; hh++) st.kRms[hh] = rmsNorm(st.kPre, hh * dim, dim, p.kNorm, st.kHat, st.k);
        for (int hh = 0; hh < h; hh++) {
            double mean = 0;
            for (int gg = 0; gg < g; gg++) {
                int hg = hh * g + gg, qo = hg * dim;
                double l = 0;
                for (int i = 0; i < dim; i++) l += st.q[qo + i] * st.k[hh * dim + i];
                l = l * invSqrtD + p.b[hg];
                st.logit[hg] = l;
                // log-sum-exp over the sink logits, kept as a softmax for the backward pass
                double max = Double.NEGATIVE_INFINITY;
                for (int s = 0; s < sinks; s++) {
                    double ls = 0;
                    int ko = (hh * sinks + s) * dim;
                    for (int i = 0; i < dim; i++) ls += st.q[qo + i] * p.kBase[ko + i];
                    ls *= invSqrtD;
                    st.sinkProb[hg * sinks + s] = ls;
                    if (ls > max) max = ls;
                }
                double sum = 0;
                for (int s = 0; s < sinks; s++) {
                    double e = Math.exp(st.sinkProb[hg * sinks + s] - max);
                    st.sinkProb[hg * sinks + s] = e;
                    sum += e;
                }
                for (int s = 0; s < sinks; s++) st.sinkProb[hg * sinks + s] /= sum;
                double lse = max + Math.log(sum);
                double sig = 1.0 / (1.0 + Math.exp(lse - l));
                st.sig[hg] = sig;
                mean += sig;
            }
            st.score[hh] = mean / g;
        }
    }

    /** out = w ⊙ v/rms(v) over {@code v[off .. off+n)}; returns rms (with eps). */
    private static double rmsNorm(double[] v, int off, int n, float[] w, double[] hat, double[] out) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += v[off + i] * v[off + i];
        double rms = Math.sqrt(ss / n + NORM_EPS);
        for (int i = 0; i < n; i++) {
            hat[off + i] = v[off + i] / rms;
            out[off + i] = w[i] * hat[off + i];
        }
        return rms;
    }

    /** Dot product of a weight row and an input row, four accumulators for instruction-level parallelism. */
    static double dot(float[] w, int wo, float[] x, int xo, int n) {
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int i = 0;
        for (; i + 3 < n; i += 4) {
            a0 += w[wo + i] * x[xo + i];
            a1 += w[wo + i + 1] * x[xo + i + 1];
            a2 += w[wo + i + 2] * x[xo + i + 2];
            a3 += w[wo + i + 3] * x[xo + i + 3];
        }
        for (; i < n; i++) a0 += w[wo + i] * x[xo + i];
        return (a0 + a1) + (a2 + a3);
    }

    @Override
    public void close() {
        device.close();
    }
}
