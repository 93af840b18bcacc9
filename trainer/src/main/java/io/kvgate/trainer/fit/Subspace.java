package io.kvgate.trainer.fit;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.util.SplittableRandom;

/** Top eigenvectors of a symmetric positive semi-definite matrix by seeded subspace iteration (deterministic). */
final class Subspace {
    /** @param vectors [k × n] row-major, orthonormal; @param values the matching Rayleigh quotients, descending */
    record Eigen(double[] vectors, double[] values, int k) {}

    private Subspace() {}

    static Eigen top(double[] c, int n, int k, int iterations, long seed) {
        return top(c, n, k, iterations, seed, null);
    }

    /** As {@link #top(double[], int, int, int, long)}, the products with {@code c} as libtorch matmuls on {@code device} (null: Java). */
    static Eigen top(double[] c, int n, int k, int iterations, long seed, Device device) {
        try (NDManager m = device == null ? null : NDManager.newBaseManager(device)) {
            NDArray cd = m == null ? null : m.create(c, new Shape(n, n));
            return top(m == null ? (q, kk, out) -> multiply(c, n, q, kk, out) : (q, kk, out) -> multiply(m, cd, n, q, kk, out), n, k, iterations, seed);
        }
    }

    private interface Product {
        /** out[j·n + r] = Σ_i c[r, i]·q[j·n + i] for the k rows of q. */
        void apply(double[] q, int k, double[] out);
    }

    private static Eigen top(Product product, int n, int k, int iterations, long seed) {
        k = Math.min(k, n);
        SplittableRandom rng = new SplittableRandom(seed);
        double[] q = new double[k * n];
        for (int i = 0; i < q.length; i++) q[i] = rng.nextDouble() - 0.5;
        orthonormalise(q, k, n);
        double[] z = new double[k * n];
        for (int it = 0; it < iterations; it++) {
            product.apply(q, k, z);
            System.arraycopy(z, 0, q, 0, z.length);
            orthonormalise(q, k, n);
        }
        // Rayleigh quotients, then sort descending (subspace iteration converges to the top-k span)
        product.apply(q, k, z);
        double[] vals = new double[k];
        for (int j = 0; j < k; j++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += q[j * n + i] * z[j * n + i];
            vals[j] = s;
        }
        Integer[] order = new Integer[k];
        for (int j = 0; j < k; j++) order[j] = j;
        java.util.Arrays.sort(order, (a, b) -> Double.compare(vals[b], vals[a]));
        double[] sv = new double[k * n], sl = new double[k];
        for (int j = 0; j < k; j++) {
            System.arraycopy(q, order[j] * n, sv, j * n, n);
            sl[j] = vals[order[j]];
        }
        return new Eigen(sv, sl, k);
    }

    /** Q·C on the device holding {@code c}: the same as the Java product, as C is symmetric. */
    private static void multiply(NDManager m, NDArray c, int n, double[] q, int k, double[] out) {
        try (NDManager scope = m.newSubManager()) {
            double[] r = scope.create(q, new Shape(k, n)).matMul(c).toDoubleArray();
            System.arraycopy(r, 0, out, 0, k * n);
        }
    }

    private static void multiply(double[] c, int n, double[] q, int k, double[] out) {
        for (int j = 0; j < k; j++)
            for (int r = 0; r < n; r++) {
                double s = 0;
                int co = r * n, qo = j * n;
                for (int i = 0; i < n; i++) s += c[co + i] * q[qo + i];
                out[j * n + r] = s;
            }
    }

    /** Modified Gram-Schmidt on the k rows; a collapsed row is replaced by a unit vector orthogonal to the rest. */
    private static void orthonormalise(double[] q, int k, int n) {
        int fallback = 0;
        for (int j = 0; j < k; j++) {
            for (int pass = 0; pass < 2; pass++)
                for (int p = 0; p < j; p++) {
                    double d = 0;
                    for (int i = 0; i < n; i++) d += q[j * n + i] * q[p * n + i];
                    for (int i = 0; i < n; i++) q[j * n + i] -= d * q[p * n + i];
                }
            double norm = 0;
            for (int i = 0; i < n; i++) norm += q[j * n + i] * q[j * n + i];
            norm = Math.sqrt(norm);
            if (norm < 1e-12) {
                java.util.Arrays.fill(q, j * n, j * n + n, 0);
                q[j * n + (fallback++ % n)] = 1; // rank-deficient input: try unit vectors until one is independent
                j--;
                continue;
            }
            for (int i = 0; i < n; i++) q[j * n + i] /= norm;
        }
    }
}
