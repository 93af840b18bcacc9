package io.kvgate.trainer.fit;

import io.kvgate.gates.SinkGate;
import io.kvgate.gates.SinkGate.Dims;
import io.kvgate.gates.SinkGate.Params;
import io.kvgate.gates.SinkGate.RowState;

import java.util.Arrays;
import java.util.List;

/**
 * The sink gate's fitting objective, probability-space least squares
 * L = mean over (row, head) of (s_h(x) − S_h)², and its gradient with respect to every gate parameter,
 * derived by hand through the gate alone (the LLM is never differentiated):
 * <pre>
 * ∂L/∂s_h = 2(s_h − S_h)/(N·H);   ∂s_h/∂u_hg = σ(1−σ)/G with u = l − logsumexp_s ls
 * ∂u/∂l = 1;   ∂u/∂ls_s = −softmax_s(ls)
 * l = q·k/√d′ + b;   ls_s = q·K_s/√d′;   q = w_q ⊙ v/r  (RMSNorm, r = √(mean v² + ε)):
 * ∂v_j = (∂q̂_j − q̂_j · mean_i(∂q̂_i q̂_i)) / r
 * </pre>
 * The two D-sized products (projections forward, weight gradients backward) are done for the whole minibatch as
 * float axpy loops that the JIT vectorises; the small per-row part reuses {@link SinkGate#forwardFromProjections}.
 * Checked against finite differences in SinkObjectiveTest.
 */
final class SinkObjective {
    private SinkObjective() {}

    /** Gradient arrays in the layout of {@link Params#arrays()}, float64. */
    static final class Grad {
        final double[] qWeight, qBias, kWeight, qNorm, kNorm, kBase, b;

        Grad(Dims d) {
            qWeight = new double[d.queryRows() * d.hidden()];
            qBias = new double[d.queryRows()];
            kWeight = new double[d.keyRows() * d.hidden()];
            qNorm = new double[d.dim()];
            kNorm = new double[d.dim()];
            kBase = new double[d.kvHeads() * d.sinks() * d.dim()];
            b = new double[d.kvHeads() * d.group()];
        }

        List<double[]> arrays() {
            return List.of(qWeight, qBias, kWeight, qNorm, kNorm, kBase, b);
        }

        void zero() {
            for (double[] a : arrays()) Arrays.fill(a, 0);
        }
    }

    /** Buffers reused across calls: transposed weights, projections and their gradients for a minibatch. */
    static final class Scratch {
        final Dims d;
        final RowState st;
        final float[] qWt, kWt;      // [D, rows] transposed weights
        float[] qProj = new float[0], kProj = new float[0], dQ = new float[0], dK = new float[0];
        final float[] gqW, gkW;      // float accumulators of the weight gradients
        final double[] dq, dqPre, dk, dkPre, dScore;

        Scratch(Dims d) {
            dScore = new double[d.kvHeads()];
            this.d = d;
            st = new RowState(d);
            qWt = new float[d.hidden() * d.queryRows()];
            kWt = new float[d.hidden() * d.keyRows()];
            gqW = new float[d.queryRows() * d.hidden()];
            gkW = new float[d.keyRows() * d.hidden()];
            dq = new double[d.dim()];
            dqPre = new double[d.dim()];
            dk = new double[d.keyRows()];
            dkPre = new double[d.dim()];
        }

        void ensure(int rows) {
            if (qProj.length < rows * d.queryRows()) {
                qProj = new float[rows * d.queryRows()];
                kProj = new float[rows * d.keyRows()];
                dQ = new float[rows * d.queryRows()];
                dK = new float[rows * d.keyRows()];
            }
        }
    }

    /**
     * Loss over the rows {@code idx[0..count)} (null: the first {@code count}) of x [*, D] / target [*, H]; when
     * {@code grad} is not null the gradient of that loss is added to it. Evaluated in chunks of 512 rows.
     */
    static double lossAndGradient(Params p, float[] x, float[] target, int[] idx, int count, Grad grad, Scratch sc) {
        return lossAndGradient(p, x, target, idx, count, grad, sc, Space.PROBABILITY, 0);
    }

    /** Where the squared error is measured: on scores, or on logit(score) against logit(clip(S, ε, 1−ε)). */
    enum Space { PROBABILITY, LOGIT }

    static double lossAndGradient(Params p, float[] x, float[] target, int[] idx, int count, Grad grad, Scratch sc, Space space, double eps) {
        Dims d = p.dims;
        transpose(p.qWeight, d.queryRows(), d.hidden(), sc.qWt);
        transpose(p.kWeight, d.keyRows(), d.hidden(), sc.kWt);
        if (grad != null) {
            Arrays.fill(sc.gqW, 0);
            Arrays.fill(sc.gkW, 0);
        }
        double loss = 0;
        final int chunk = 512;
        int[] rows = new int[Math.min(chunk, Math.max(1, count))];
        for (int start = 0; start < count; start += chunk) {
            int n = Math.min(chunk, count - start);
            for (int k = 0; k < n; k++) rows[k] = idx == null ? start + k : idx[start + k];
            loss += chunk(p, x, target, rows, n, count, grad, sc, space, eps);
        }
        if (grad != null) {
            for (int i = 0; i < sc.gqW.length; i++) grad.qWeight[i] += sc.gqW[i];
            for (int i = 0; i < sc.gkW.length; i++) grad.kWeight[i] += sc.gkW[i];
        }
        return loss;
    }

    private static double chunk(Params p, float[] x, float[] target, int[] rows, int n, int total, Grad grad, Scratch sc, Space space, double eps) {
        Dims d = p.dims;
        int hidden = d.hidden(), heads = d.kvHeads(), g = d.group(), dim = d.dim(), sinks = d.sinks();
        int qr = d.queryRows(), kr = d.keyRows();
        double invSqrtD = 1.0 / Math.sqrt(dim), norm = 1.0 / ((double) total * heads);
        sc.ensure(n);
        // projections of the whole chunk: proj[b, r] = Σ_i x[b, i]·Wt[i, r]
        project(x, rows, n, hidden, sc.qWt, qr, sc.qProj);
        project(x, rows, n, hidden, sc.kWt, kr, sc.kProj);
        RowState st = sc.st;
        double loss = 0;
        for (int b = 0; b < n; b++) {
            int r = rows[b];
            for (int i = 0; i < qr; i++) st.qPre[i] = sc.qProj[b * qr + i] + p.qBias[i];
            for (int i = 0; i < kr; i++) st.kPre[i] = sc.kProj[b * kr + i];
            SinkGate.forwardFromProjections(p, st);
            for (int h = 0; h < heads; h++) {
                double diff = residual(st.score[h], target[r * heads + h], space, eps);
                loss += diff * diff * norm;
                sc.dScore[h] = 2 * diff * norm * (space == Space.LOGIT ? 1 / (clamp(st.score[h]) * (1 - clamp(st.score[h]))) : 1);
            }
            if (grad == null) continue;
            Arrays.fill(sc.dk, 0);
            for (int h = 0; h < heads; h++) {
                double ds = sc.dScore[h];
                for (int gg = 0; gg < g; gg++) {
                    int hg = h * g + gg, qo = hg * dim;
                    double sig = st.sig[hg];
                    double du = ds / g * sig * (1 - sig);
                    grad.b[hg] += du;
                    // dq = (du·k + Σ_s (−du·p_s) K_s) / √d′ ; dK_s += (−du·p_s) q / √d′ ; dk += du·q/√d′
                    for (int i = 0; i < dim; i++) sc.dq[i] = du * st.k[h * dim + i];
                    for (int s = 0; s < sinks; s++) {
                        double dls = -du * st.sinkProb[hg * sinks + s];
                        int ko = (h * sinks + s) * dim;
                        for (int i = 0; i < dim; i++) {
                            sc.dq[i] += dls * p.kBase[ko + i];
                            grad.kBase[ko + i] += dls * st.q[qo + i] * invSqrtD;
                        }
                    }
                    for (int i = 0; i < dim; i++) {
                        sc.dq[i] *= invSqrtD;
                        sc.dk[h * dim + i] += du * st.q[qo + i] * invSqrtD;
                    }
                    rmsNormBackward(sc.dq, st.qHat, qo, st.qRms[hg], p.qNorm, grad.qNorm, sc.dqPre, dim);
                    for (int i = 0; i < dim; i++) {
                        grad.qBias[qo + i] += sc.dqPre[i];
                        sc.dQ[b * qr + qo + i] = (float) sc.dqPre[i];
                    }
                }
            }
            for (int h = 0; h < heads; h++) {
                int ko = h * dim;
                System.arraycopy(sc.dk, ko, sc.dq, 0, dim);
                rmsNormBackward(sc.dq, st.kHat, ko, st.kRms[h], p.kNorm, grad.kNorm, sc.dkPre, dim);
                for (int i = 0; i < dim; i++) sc.dK[b * kr + ko + i] = (float) sc.dkPre[i];
            }
        }
        if (grad != null) {
            // weight gradients: gW[r, :] += Σ_b dProj[b, r]·x[b, :]
            outer(sc.dQ, qr, x, rows, n, hidden, sc.gqW);
            outer(sc.dK, kr, x, rows, n, hidden, sc.gkW);
        }
        return loss;
    }

    private static double residual(double score, float target, Space space, double eps) {
        if (space == Space.PROBABILITY) return score - target;
        double s = clamp(score);
        return Math.log(s / (1 - s)) - Logit.of(target, eps);
    }

    /** Keeps logit(score) finite; scores this close to 0 or 1 only occur far from any decision. */
    private static double clamp(double s) {
        return Math.min(Math.max(s, 1e-12), 1 - 1e-12);
    }

    private static void project(float[] x, int[] rows, int n, int hidden, float[] wt, int out, float[] proj) {
        Arrays.fill(proj, 0, n * out, 0f);
        for (int b = 0; b < n; b++) {
            int xo = rows[b] * hidden, po = b * out;
            for (int i = 0; i < hidden; i++) {
                float xi = x[xo + i];
                if (xi == 0f) continue;
                int wo = i * out;
                for (int r = 0; r < out; r++) proj[po + r] += xi * wt[wo + r];
            }
        }
    }

    private static void outer(float[] dProj, int out, float[] x, int[] rows, int n, int hidden, float[] gw) {
        for (int b = 0; b < n; b++) {
            int xo = rows[b] * hidden;
            for (int r = 0; r < out; r++) {
                float a = dProj[b * out + r];
                if (a == 0f) continue;
                int go = r * hidden;
                for (int i = 0; i < hidden; i++) gw[go + i] += a * x[xo + i];
            }
        }
    }

    private static void transpose(float[] w, int rows, int cols, float[] out) {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
    }

    /** Through out = w ⊙ v̂: adds ∂w, writes ∂v (pre-norm) into {@code dPre}. {@code dOut} is overwritten. */
    private static void rmsNormBackward(double[] dOut, double[] hat, int off, double rms, float[] w, double[] dw, double[] dPre, int n) {
        double dot = 0;
        for (int i = 0; i < n; i++) {
            dw[i] += dOut[i] * hat[off + i];
            dOut[i] *= w[i];                     // now ∂v̂
            dot += dOut[i] * hat[off + i];
        }
        dot /= n;
        for (int i = 0; i < n; i++) dPre[i] = (dOut[i] - hat[off + i] * dot) / rms;
    }
}
