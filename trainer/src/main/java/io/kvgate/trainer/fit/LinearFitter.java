package io.kvgate.trainer.fit;

import ai.djl.Device;
import io.kvgate.gates.LinearGate;
import io.kvgate.models.KvgateException;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Exact ridge regression of the logit targets z = logit(clip(S, ε, 1−ε)) on [x, 1], all KV heads at once,
 * from float64 normal equations. λ is relative: the penalty is λ·trace(XᵀX)/D, so one grid suits every
 * layer and model. It is chosen by the held-out rows' logit-space MSE, which their own normal equations give
 * in closed form (no second pass over the data).
 */
public final class LinearFitter {
    /** The default relative λ grid. */
    public static final double[] DEFAULT_LAMBDAS = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1};
    /** Default target clipping ε of the logit transform. */
    public static final double DEFAULT_EPSILON = 1e-3;

    /**
     * @param coefficients [H × (D+1)], bias last, float64
     * @param lambda       the relative λ chosen
     * @param heldOutLogitMse held-out MSE in logit space at that λ
     */
    public record Fit(LinearGate gate, double[] coefficients, double lambda, double heldOutLogitMse) {}

    private LinearFitter() {}

    /** Solves for every λ of the grid (plain Java, the reference) and keeps the one with the lowest held-out logit MSE. */
    public static Fit fit(int layer, NormalEquations train, NormalEquations heldOut, double[] lambdas) {
        return fit(layer, train, heldOut, lambdas, null);
    }

    /** As {@link #fit(int, NormalEquations, NormalEquations, double[])}, the solves on {@code device} (null: plain Java). */
    public static Fit fit(int layer, NormalEquations train, NormalEquations heldOut, double[] lambdas, Device device) {
        List<Optional<double[]>> solutions = device == null
                ? Arrays.stream(lambdas).mapToObj(train::solve).toList()
                : train.solve(lambdas, device);
        double bestMse = Double.POSITIVE_INFINITY, bestLambda = Double.NaN;
        double[] best = null;
        for (int k = 0; k < lambdas.length; k++) {
            double lambda = lambdas[k];
            Optional<double[]> c = solutions.get(k);
            if (c.isEmpty()) continue;
            double mse = heldOut.meanSquaredError(c.get());
            if (mse < bestMse) {
                bestMse = mse;
                bestLambda = lambda;
                best = c.get();
            }
        }
        if (best == null)
            throw new KvgateException("layer " + layer + ": the ridge system is singular for every λ of the grid; add larger values to --lambda-grid");
        return new Fit(toGate(layer, train.features(), train.heads(), best), best, bestLambda, bestMse);
    }

    static LinearGate toGate(int layer, int d, int heads, double[] coef) {
        float[] w = new float[heads * d], c = new float[heads];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d; i++) w[h * d + i] = (float) coef[h * (d + 1) + i];
            c[h] = (float) coef[h * (d + 1) + d];
        }
        return new LinearGate(layer, d, heads, w, c);
    }
}
