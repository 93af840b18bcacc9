package io.kvgate.trainer.fit;

import ai.djl.Device;
import io.kvgate.gates.SinkGate;
import io.kvgate.gates.SinkGate.Dims;
import io.kvgate.gates.SinkGate.Params;

import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Closed-form starting point of the sink gate, built so that at initialisation the gate is a calibrated
 * logistic model on normalised projections of x:
 * <ol>
 *   <li>Key features per head h: the rows of W_k[h] are the head's ridge (linear gate) direction, the top principal
 *       directions of x (seeded subspace iteration on the covariance from the normal equations), each scaled to
 *       unit variance, and — when x has a stable mean component — a large constant-like "offset" row, which makes
 *       the RMSNorm nearly a constant scale so the features stay close to linear in x. The last row is zero.</li>
 *   <li>The query is made input-independent (W_q ≈ 0, tiny seeded noise only to break the symmetry between the G query
 *       heads) and its bias holds the coefficients of a ridge regression of the logit target on the key features;
 *       the zero key slot pads every head's bias vector to one common norm R, so a shared q_norm weight R/√d′
 *       reproduces each head's coefficients exactly.</li>
 *   <li>When the objective is in probability space, per head a temperature α and bias β are calibrated by
 *       2-parameter Gauss-Newton least squares of sigmoid(α·u + β) against the targets (in logit space the ridge
 *       fit already is the least-squares optimum). Sink keys start at 0 (so logsumexp = ln S, absorbed into b).</li>
 * </ol>
 */
final class SinkInit {
    private SinkInit() {}

    /**
     * @param keyFeatures computes the key features [H][row·d′ + i] of every row for the given (partial) parameters on a
     *                    device; null: plain Java, row by row
     * @param device      where the subspace iteration's products run (null: plain Java)
     */
    static Params initialise(Dims d, NormalEquations train, double[] linearCoef, float[] x, float[] target, int rows,
                             double epsilon, long seed, boolean calibrateInProbabilitySpace, Function<Params, float[][]> keyFeatures,
                             Device device) {
        int hidden = d.hidden(), heads = d.kvHeads(), dim = d.dim();
        if (dim < 3) throw new IllegalArgumentException("sink gate projection size must be at least 3, got " + dim);
        double[] cov = train.covariance();
        double[] mu = train.mean();
        int pcs = Math.min(hidden, dim - 1);
        Subspace.Eigen eig = Subspace.top(cov, hidden, pcs, 30, seed, device);

        // offset row: usable when the mean direction's projection is large compared with its spread
        double muNorm = Math.sqrt(dot(mu, mu));
        double[] muHat = new double[hidden];
        for (int i = 0; i < hidden; i++) muHat[i] = muNorm > 0 ? mu[i] / muNorm : 0;
        double spread = Math.sqrt(Math.max(0, quad(cov, muHat, hidden)));
        boolean offset = muNorm > 0 && spread < 0.5 * muNorm;

        Params p = Params.zeros(d);
        float[] kRow = new float[hidden];
        for (int h = 0; h < heads; h++) {
            int slot = 0;
            double meanSq = 0;  // Σ over filled slots of E[feature²], to size the offset row
            // slot 0: the head's ridge direction
            double[] w = new double[hidden];
            for (int i = 0; i < hidden; i++) w[i] = linearCoef[h * (hidden + 1) + i];
            double sw = Math.sqrt(Math.max(0, quad(cov, w, hidden)));
            if (sw > 1e-12) {
                meanSq += putRow(p.kWeight, (h * dim + slot++) * hidden, w, 1 / sw, mu);
            }
            int lastUsable = dim - (offset ? 2 : 1);
            for (int c = 0; c < eig.k() && slot < lastUsable; c++) {
                if (eig.values()[c] <= 1e-12) break;
                double[] v = java.util.Arrays.copyOfRange(eig.vectors(), c * hidden, (c + 1) * hidden);
                meanSq += putRow(p.kWeight, (h * dim + slot++) * hidden, v, 1 / Math.sqrt(eig.values()[c]), mu);
            }
            if (offset) {
                double scale = 3 * Math.sqrt(Math.max(meanSq, 1)) / muNorm;
                putRow(p.kWeight, (h * dim + (dim - 2)) * hidden, muHat, scale, mu);
            }
            // row dim-1 stays zero: the padding slot of the query bias
        }

        // features φ_h(x) = rmsnorm(W_k[h] x)/√d′ and their ridge regression on the logit target, per head
        float[] zh = new float[rows];
        double[][] a = new double[heads][];
        double[] c0 = new double[heads];
        double[][] u = new double[heads][rows];
        float[][] phiAll = keyFeatures != null ? keyFeatures.apply(p) : keyFeatures(p, x, rows);
        for (int h = 0; h < heads; h++) {
            float[] phi = phiAll[h];
            for (int r = 0; r < rows; r++) zh[r] = Logit.of(target[r * heads + h], epsilon);
            NormalEquations ne = new NormalEquations(train.modelFingerprint(), train.layer(), dim, 1);
            ne.accumulate(phi, zh, null, rows);
            double[] coef = ne.solve(1e-4).or(() -> ne.solve(1e-2)).orElse(new double[dim + 1]);
            a[h] = java.util.Arrays.copyOf(coef, dim);
            a[h][dim - 1] = 0; // padding slot
            c0[h] = coef[dim];
            for (int r = 0; r < rows; r++) {
                double s = c0[h];
                for (int i = 0; i < dim; i++) s += a[h][i] * phi[r * dim + i];
                u[h][r] = s;
            }
        }

        // per-head temperature and bias in probability space, then the query bias vectors padded to one norm R
        double[] alpha = new double[heads], beta = new double[heads];
        double maxNorm = 1e-3;
        for (int h = 0; h < heads; h++) {
            // the ridge fit is already the logit-space least-squares optimum; only a probability-space objective needs calibrating
            double[] ab = calibrateInProbabilitySpace ? calibrate(u[h], target, h, heads, rows) : new double[] {1, 0};
            alpha[h] = ab[0];
            beta[h] = ab[1];
            maxNorm = Math.max(maxNorm, Math.abs(alpha[h]) * Math.sqrt(dot(a[h], a[h])));
        }
        double norm = 1.05 * maxNorm;
        for (int i = 0; i < dim; i++) p.qNorm[i] = (float) (norm / Math.sqrt(dim));
        SplittableRandom rng = new SplittableRandom(seed ^ 0x5DEECE66DL);
        double noise = 1e-3 * norm / Math.sqrt(dim) / Math.sqrt(Math.max(1e-12, traceOf(cov, hidden) + dot(mu, mu)));
        for (int i = 0; i < p.qWeight.length; i++) p.qWeight[i] = (float) (noise * (rng.nextDouble() * 2 - 1));
        for (int h = 0; h < heads; h++) {
            double used = 0;
            for (int i = 0; i < dim - 1; i++) used += Math.pow(alpha[h] * a[h][i], 2);
            double pad = Math.sqrt(Math.max(0, norm * norm - used));
            for (int g = 0; g < d.group(); g++) {
                int o = (h * d.group() + g) * dim;
                for (int i = 0; i < dim - 1; i++) p.qBias[o + i] = (float) (alpha[h] * a[h][i]);
                p.qBias[o + dim - 1] = (float) pad;
                p.b[h * d.group() + g] = (float) (alpha[h] * c0[h] + beta[h] + Math.log(d.sinks()));
            }
        }
        return p;
    }

    /** Writes {@code scale·v} as a W_k row; returns E[feature²] = scale²(vᵀΣv + (v·μ)²) with Σ unit-scaled away. */
    private static double putRow(float[] kWeight, int off, double[] v, double scale, double[] mu) {
        for (int i = 0; i < v.length; i++) kWeight[off + i] = (float) (v[i] * scale);
        double m = dot(v, mu) * scale;
        return 1 + m * m;
    }

    /** Gauss-Newton (Levenberg-damped) fit of min Σ (sigmoid(α·u + β) − S)² over α, β. */
    static double[] calibrate(double[] u, float[] target, int h, int heads, int rows) {
        double alpha = 1, beta = 0, damping = 1e-3;
        double loss = calLoss(u, target, h, heads, rows, alpha, beta);
        for (int it = 0; it < 60; it++) {
            double jaa = 0, jab = 0, jbb = 0, ga = 0, gb = 0;
            for (int r = 0; r < rows; r++) {
                double s = Logit.sigmoid(alpha * u[r] + beta), ds = s * (1 - s);
                double res = s - target[r * heads + h];
                double ja = ds * u[r], jb = ds;
                jaa += ja * ja;
                jab += ja * jb;
                jbb += jb * jb;
                ga += ja * res;
                gb += jb * res;
            }
            double a11 = jaa * (1 + damping) + 1e-12, a22 = jbb * (1 + damping) + 1e-12, det = a11 * a22 - jab * jab;
            double da = -(a22 * ga - jab * gb) / det, db = -(a11 * gb - jab * ga) / det;
            double next = calLoss(u, target, h, heads, rows, alpha + da, beta + db);
            if (next < loss) {
                alpha += da;
                beta += db;
                double rel = (loss - next) / Math.max(loss, 1e-300);
                loss = next;
                damping = Math.max(damping / 3, 1e-9);
                if (rel < 1e-10) break;
            } else {
                damping *= 4;
                if (damping > 1e8) break;
            }
        }
        return new double[] {alpha, beta};
    }

    /** Key features in plain Java: the normalised key projection of every row, / √d′. */
    private static float[][] keyFeatures(Params p, float[] x, int rows) {
        Dims d = p.dims;
        int dim = d.dim();
        SinkGate.RowState st = new SinkGate.RowState(d);
        float[][] phiAll = new float[d.kvHeads()][rows * dim];
        for (int r = 0; r < rows; r++) {
            SinkGate.forwardRow(p, x, r * d.hidden(), st);
            for (int h = 0; h < d.kvHeads(); h++)
                for (int i = 0; i < dim; i++) phiAll[h][r * dim + i] = (float) (st.kHat[h * dim + i] / Math.sqrt(dim));
        }
        return phiAll;
    }

    private static double calLoss(double[] u, float[] target, int h, int heads, int rows, double alpha, double beta) {
        double s = 0;
        for (int r = 0; r < rows; r++) {
            double d = Logit.sigmoid(alpha * u[r] + beta) - target[r * heads + h];
            s += d * d;
        }
        return s;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    private static double quad(double[] m, double[] v, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double t = 0;
            for (int j = 0; j < n; j++) t += m[i * n + j] * v[j];
            s += v[i] * t;
        }
        return s;
    }

    private static double traceOf(double[] m, int n) {
        double t = 0;
        for (int i = 0; i < n; i++) t += m[i * n + i];
        return t;
    }
}
