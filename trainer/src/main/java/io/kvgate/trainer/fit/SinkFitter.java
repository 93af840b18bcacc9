package io.kvgate.trainer.fit;

import ai.djl.Device;
import io.kvgate.gates.SinkGate;
import io.kvgate.gates.SinkGate.Dims;
import io.kvgate.gates.SinkGate.Params;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Fits one layer's sink gate: closed-form start ({@link SinkInit}), then minibatch Adam on the probability-space
 * least-squares objective ({@link SinkObjective}) with a cosine learning-rate decay. Each parameter group gets a
 * step size proportional to its natural scale, so one learning rate suits every model. The iterate with the
 * lowest loss on a validation slice of the training rows (every 20th) is kept, and the fit stops once that loss
 * has not improved for {@link #PATIENCE_EVALS} evaluations — the held-out rows are never looked at. Deterministic
 * given the seed.
 *
 * <p>Why logit space by default (squared error between logit(s) and logit(clip(S, ε, 1−ε))): eviction keeps the top
 * r·n scores under one global threshold, so what matters is the order of the scores and where they fall around that
 * threshold — and with budgets of 10–50 % that threshold lies among the many small scores (on the tiny model 74 % of
 * targets are below 0.05). Logit-space error weighs relative errors among small scores as much as among large ones;
 * probability-space error is dominated by the few large-score tokens, which are kept anyway. Measured on the tiny
 * model (BENCHMARKS.md): logit space gives the better held-out agreement and rank correlation, probability space
 * the lower MSE. {@code Objective.PROBABILITY} remains available.
 */
public final class SinkFitter {
    /**
     * @param steps        Adam steps
     * @param batch        rows per step
     * @param learningRate relative step size (fraction of each parameter group's scale)
     * @param seed         seeds the initial noise, the minibatches and the principal directions
     * @param epsilon      target clipping of the logit transform (initialisation, and the logit objective)
     * @param objective    where the squared error is measured
     */
    public record Options(int steps, int batch, double learningRate, long seed, double epsilon, Objective objective) {
        public static Options defaults() {
            return new Options(400, 256, 0.02, 1, LinearFitter.DEFAULT_EPSILON, Objective.LOGIT);
        }
    }

    /** Squared error on scores (default), or on logits against logit(clip(S, ε, 1−ε)) as the linear gate uses. */
    public enum Objective {
        PROBABILITY, LOGIT;

        public String id() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        SinkObjective.Space space() {
            return this == LOGIT ? SinkObjective.Space.LOGIT : SinkObjective.Space.PROBABILITY;
        }
    }

    /** The fitted gate, with the validation loss at initialisation and at the kept iterate. */
    public record Fit(SinkGate gate, double initialValidationLoss, double validationLoss, int keptStep) {}

    /** Evaluations without a better validation loss before the fit stops early. */
    static final int PATIENCE_EVALS = 3;

    private SinkFitter() {}

    static Fit fit(int layer, Dims d, NormalEquations train, double[] linearCoef, RowBuffer rows, Options o) {
        return fit(layer, d, train, linearCoef, rows, o, null, new FitTimings());
    }

    /**
     * Fits on {@code device} through libtorch ({@link DeviceSinkObjective}), or in plain Java when it is null (the
     * reference). The schedule — minibatches, learning rates, evaluations, early stop — is the same either way.
     */
    static Fit fit(int layer, Dims d, NormalEquations train, double[] linearCoef, RowBuffer rows, Options o, Device device, FitTimings timings) {
        int n = rows.rows;
        float[] x = rows.x, t = rows.target;
        // validation slice for choosing the iterate
        int[] fitIdx, valIdx;
        if (n >= 400) {
            fitIdx = new int[n - (n + 19) / 20];
            valIdx = new int[(n + 19) / 20];
            int a = 0, b = 0;
            for (int r = 0; r < n; r++) {
                if (r % 20 == 0) valIdx[b++] = r;
                else fitIdx[a++] = r;
            }
        } else {
            fitIdx = valIdx = range(n);
        }
        long t0 = System.nanoTime();
        try (SinkOptimiser opt = device == null ? new JavaAdam(d, x, t, o) : new DeviceSinkObjective(device, d, x, t, n, o.objective().space(), o.epsilon())) {
            Params p = SinkInit.initialise(d, train, linearCoef, x, t, n, o.epsilon(), o.seed() * 7919 + layer,
                    o.objective() == Objective.PROBABILITY, opt instanceof DeviceSinkObjective dev ? dev::keyFeatures : null, device);
            opt.start(p);
            long t1 = System.nanoTime();
            timings.add(FitTimings.Stage.SINK_INIT, t1 - t0);
            double initLoss = opt.loss(valIdx);
            Params best = p.copy();
            double bestLoss = initLoss;
            int bestStep = 0;

            double qScale = p.qNorm[0];
            double xNorm = Math.sqrt(Math.max(1e-12, trace(train.covariance(), d.hidden()) + sq(train.mean())));
            double[] scales = {
                    // Adam moves every coordinate of a row at once, so a projection row·x moves by ~step·|x|₁ ≈ step·√D·|x|
                    qScale / (xNorm * Math.sqrt(d.hidden())),        // q_proj.weight: query pre-activation moves ~lr·|q|/√d′
                    qScale,                                          // q_proj.bias
                    rms(p.kWeight) / Math.sqrt(d.hidden()),          // k_proj.weight
                    qScale,                                          // q_norm
                    1,                                               // k_norm
                    1 / Math.max(qScale * Math.sqrt(d.dim()), 1e-3), // k_base: sink logits move by ~lr
                    1};                                              // b
            SplittableRandom rng = new SplittableRandom(o.seed() * 1_000_003L + 17 * layer + 1);
            int[] batch = new int[o.batch()];
            int evalEvery = Math.max(25, o.steps() / 10);
            final double b1 = 0.9, b2 = 0.999;
            double[] stepSizes = new double[scales.length];
            for (int step = 1; step <= o.steps(); step++) {
                for (int i = 0; i < batch.length; i++) batch[i] = fitIdx[rng.nextInt(fitIdx.length)];
                double lr = o.learningRate() * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * (step - 1) / o.steps())));
                for (int k = 0; k < scales.length; k++) stepSizes[k] = lr * scales[k];
                opt.step(batch, stepSizes, b1, b2, 1 - Math.pow(b1, step), 1 - Math.pow(b2, step));
                if (step % evalEvery == 0 || step == o.steps()) {
                    double loss = opt.loss(valIdx);
                    if (loss < bestLoss) {
                        bestLoss = loss;
                        best = opt.snapshot();
                        bestStep = step;
                    } else if (step - bestStep >= PATIENCE_EVALS * evalEvery) {
                        break; // validation loss stopped improving: more steps would only fit noise
                    }
                }
            }
            timings.add(FitTimings.Stage.SINK_STEPS, System.nanoTime() - t1);
            return new Fit(new SinkGate(layer, best), initLoss, bestLoss, bestStep);
        }
    }

    /** The reference optimiser: {@link SinkObjective} and the Adam update in plain Java (parameters float32, moments float64). */
    private static final class JavaAdam implements SinkOptimiser {
        private final float[] x, t;
        private final Options o;
        private final SinkObjective.Scratch sc;
        private final SinkObjective.Grad g;
        private Params p;
        private double[][] m, v;

        JavaAdam(Dims d, float[] x, float[] t, Options o) {
            this.x = x;
            this.t = t;
            this.o = o;
            sc = new SinkObjective.Scratch(d);
            g = new SinkObjective.Grad(d);
        }

        @Override
        public void start(Params start) {
            p = start.copy();
            List<float[]> params = p.arrays();
            m = new double[params.size()][];
            v = new double[params.size()][];
            for (int k = 0; k < params.size(); k++) {
                m[k] = new double[params.get(k).length];
                v[k] = new double[params.get(k).length];
            }
        }

        @Override
        public double loss(int[] idx) {
            return SinkObjective.lossAndGradient(p, x, t, idx, idx.length, null, sc, o.objective().space(), o.epsilon());
        }

        @Override
        public void step(int[] batch, double[] stepSizes, double b1, double b2, double c1, double c2) {
            g.zero();
            SinkObjective.lossAndGradient(p, x, t, batch, batch.length, g, sc, o.objective().space(), o.epsilon());
            List<float[]> params = p.arrays();
            List<double[]> grads = g.arrays();
            for (int k = 0; k < params.size(); k++) {
                float[] w = params.get(k);
                double[] gr = grads.get(k), mk = m[k], vk = v[k];
                double stepSize = stepSizes[k];
                for (int i = 0; i < w.length; i++) {
                    mk[i] = b1 * mk[i] + (1 - b1) * gr[i];
                    vk[i] = b2 * vk[i] + (1 - b2) * gr[i] * gr[i];
                    w[i] -= (float) (stepSize * (mk[i] / c1) / (Math.sqrt(vk[i] / c2) + 1e-12));
                }
            }
        }

        @Override
        public Params snapshot() {
            return p.copy();
        }

        @Override
        public void close() {}
    }

    private static int[] range(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        return a;
    }

    private static double rms(float[] a) {
        double s = 0;
        for (float v : a) s += (double) v * v;
        return Math.max(1e-8, Math.sqrt(s / Math.max(1, a.length)));
    }

    private static double trace(double[] c, int n) {
        double t = 0;
        for (int i = 0; i < n; i++) t += c[i * n + i];
        return t;
    }

    private static double sq(double[] a) {
        double s = 0;
        for (double v : a) s += v * v;
        return s;
    }
}
