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

    /** Per-row scratch of the backward pass. */
    static final class Scratch {
        final RowState st;
        final double[] dq, dqPre, dk, dkPre;

        Scratch(Dims d) {
            st = new RowState(d);
            dq = new double[d.dim()];
            dqPre = new double[d.dim()];
            dk = new double[d.keyRows()];
            dkPre = new double[d.dim()];
        }
    }

    /**
     * Loss over the rows {@code idx[0..count)} of x [*, D] / target [*, H]; when {@code grad} is not null the
     * gradient of that loss is added to it.
     */
    static double lossAndGradient(Params p, float[] x, float[] target, int[] idx, int count, Grad grad, Scratch sc) {
        Dims d = p.dims;
        int hidden = d.hidden(), heads = d.kvHeads(), g = d.group(), dim = d.dim(), sinks = d.sinks();
        double invSqrtD = 1.0 / Math.sqrt(dim), norm = 1.0 / ((double) count * heads);
        RowState st = sc.st;
        double loss = 0;
        for (int k = 0; k < count; k++) {
            int r = idx == null ? k : idx[k];
            int xo = r * hidden;
            SinkGate.forwardRow(p, x, xo, st);
            for (int h = 0; h < heads; h++) {
                double diff = st.score[h] - target[r * heads + h];
                loss += diff * diff * norm;
            }
            if (grad == null) continue;
            Arrays.fill(sc.dk, 0);
            for (int h = 0; h < heads; h++) {
                double ds = 2 * (st.score[h] - target[r * heads + h]) * norm;
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
                        double v = sc.dqPre[i];
                        grad.qBias[qo + i] += v;
                        axpy(grad.qWeight, (qo + i) * hidden, v, x, xo, hidden);
                    }
                }
            }
            for (int h = 0; h < heads; h++) {
                int ko = h * dim;
                double[] dkh = Arrays.copyOfRange(sc.dk, ko, ko + dim);
                rmsNormBackward(dkh, st.kHat, ko, st.kRms[h], p.kNorm, grad.kNorm, sc.dkPre, dim);
                for (int i = 0; i < dim; i++) axpy(grad.kWeight, (ko + i) * hidden, sc.dkPre[i], x, xo, hidden);
            }
        }
        return loss;
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

    private static void axpy(double[] y, int yo, double a, float[] x, int xo, int n) {
        if (a == 0) return;
        for (int i = 0; i < n; i++) y[yo + i] += a * x[xo + i];
    }
}
