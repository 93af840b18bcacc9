package io.kvgate.trainer.fit;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.engine.EngineException;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.AtomicFiles;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.CholeskyDecomposition;
import org.apache.commons.math3.linear.NonPositiveDefiniteMatrixException;
import org.apache.commons.math3.linear.RealMatrix;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Sufficient statistics of a least-squares problem z ≈ W·[x; 1] for all KV heads at once, in float64:
 * AᵀA (A = rows of [x, 1]), Aᵀz (one column per head), Σz² and the row count. They are sums over rows, so
 * statistics of shards — or of machines — are combined with {@link #add} and moved with {@link #write}/{@link #read};
 * the ridge solution of the union is then exact.
 */
public final class NormalEquations {
    private static final int MAGIC = 0x4b564e45; // "KVNE"

    private final String modelFingerprint;
    private final int layer, features, heads, n1;
    private final double[] ata;   // [n1 × n1], symmetric; readers use the upper triangle
    private final double[] atz;   // [n1 × heads]
    private final double[] ztz;   // [heads]
    private long rows;

    /** Empty statistics for {@code features} inputs (plus the implicit bias column) and {@code heads} outputs. */
    public NormalEquations(String modelFingerprint, int layer, int features, int heads) {
        this.modelFingerprint = modelFingerprint;
        this.layer = layer;
        this.features = features;
        this.heads = heads;
        this.n1 = features + 1;
        this.ata = new double[n1 * n1];
        this.atz = new double[n1 * heads];
        this.ztz = new double[heads];
    }

    public int layer() { return layer; }
    public int features() { return features; }
    public int heads() { return heads; }
    public long rows() { return rows; }
    public String modelFingerprint() { return modelFingerprint; }

    /**
     * Rows per rank update. The update AᵀA += BᵀB is one float64 matmul in libtorch (multi-threaded BLAS, or the GPU):
     * for a 1024-wide model that is ~100x faster than the plain Java loop, which made fitting 28 layers from 200K
     * tokens take most of an hour (BENCHMARKS.md, gate fitting on the GPU machine).
     */
    private static final int BLOCK_ROWS = 4096;

    /** Adds the rows {@code rows[k]} (indices into row-major x [*, features] and z [*, heads]); null = all {@code count} rows. */
    public void accumulate(float[] x, float[] z, int[] rowsIdx, int count) {
        try (Accumulator a = accumulator(Device.cpu())) {
            a.add(x, z, rowsIdx, count);
        }
    }

    /** Sums on {@code device}, added into these statistics when the accumulator is closed. */
    public Accumulator accumulator(Device device) {
        return new Accumulator(device);
    }

    /**
     * Keeps the running AᵀA and Aᵀz on a device (float64) and reads them back once, on {@link #close}: per-block reads
     * of an [n1 × n1] matrix would cost more than the rank updates themselves on a GPU. Rows travel as float32 (exact:
     * x and z are float32) and are widened on the device. Not thread-safe; one per thread.
     */
    public final class Accumulator implements AutoCloseable {
        private final NDManager manager;
        private final NDArray ataSum, atzSum;
        private float[] a = new float[0], zb = new float[0];
        private long added;
        private boolean closed;

        private Accumulator(Device device) {
            manager = NDManager.newBaseManager(device);
            ataSum = manager.zeros(new Shape(n1, n1), DataType.FLOAT64);
            atzSum = manager.zeros(new Shape(n1, heads), DataType.FLOAT64);
        }

        public void add(float[] x, float[] z, int[] rowsIdx, int count) {
            int block = Math.min(BLOCK_ROWS, Math.max(1, count));
            if (a.length < block * n1) {
                a = new float[block * n1];
                zb = new float[block * heads];
            }
            for (int start = 0; start < count; start += block) {
                int len = Math.min(block, count - start);
                for (int k = 0; k < len; k++) {
                    int r = rowsIdx == null ? start + k : rowsIdx[start + k];
                    System.arraycopy(x, r * features, a, k * n1, features);
                    a[k * n1 + features] = 1f;
                    for (int h = 0; h < heads; h++) {
                        float zv = z[r * heads + h];
                        zb[k * heads + h] = zv;
                        ztz[h] += (double) zv * zv;
                    }
                }
                try (NDManager scope = manager.newSubManager()) {
                    NDArray b = scope.create(FloatBuffer.wrap(a, 0, len * n1).slice(), new Shape(len, n1)).toType(DataType.FLOAT64, false);
                    NDArray zs = scope.create(FloatBuffer.wrap(zb, 0, len * heads).slice(), new Shape(len, heads)).toType(DataType.FLOAT64, false);
                    NDArray bt = b.transpose();
                    ataSum.addi(bt.matMul(b));
                    atzSum.addi(bt.matMul(zs));
                }
            }
            added += count;
        }

        /** Reads the device sums back into the statistics (once; later calls do nothing). */
        @Override
        public void close() {
            if (closed) return;
            closed = true;
            try {
                if (added > 0) {
                    addInto(ata, ataSum.toDoubleArray());
                    addInto(atz, atzSum.toDoubleArray());
                    rows += added;
                }
            } finally {
                manager.close();
            }
        }
    }

    private static void addInto(double[] sum, double[] part) {
        for (int i = 0; i < sum.length; i++) sum[i] += part[i];
    }

    /** Adds another shard's statistics (same model, layer and sizes). */
    public NormalEquations add(NormalEquations o) {
        if (!modelFingerprint.equals(o.modelFingerprint))
            throw new KvgateException("cannot combine statistics of model " + o.modelFingerprint + " with model " + modelFingerprint);
        if (layer != o.layer || features != o.features || heads != o.heads)
            throw new KvgateException("cannot combine statistics of layer " + o.layer + " [" + o.features + "→" + o.heads + "] with layer "
                    + layer + " [" + features + "→" + heads + "]");
        for (int i = 0; i < ata.length; i++) ata[i] += o.ata[i];
        for (int i = 0; i < atz.length; i++) atz[i] += o.atz[i];
        for (int i = 0; i < heads; i++) ztz[i] += o.ztz[i];
        rows += o.rows;
        return this;
    }

    /** Σ over rows of x_i², i < features: the trace that scales λ. */
    public double featureTrace() {
        double t = 0;
        for (int i = 0; i < features; i++) t += ata[i * n1 + i];
        return t;
    }

    /** Mean of the inputs (from the bias column of AᵀA). */
    public double[] mean() {
        double[] m = new double[features];
        for (int i = 0; i < features; i++) m[i] = ata[i * n1 + features] / rows;
        return m;
    }

    /** Covariance of the inputs, [features × features] row-major (population). */
    public double[] covariance() {
        double[] mu = mean();
        double[] c = new double[features * features];
        for (int i = 0; i < features; i++)
            for (int j = i; j < features; j++) {
                double v = ata[i * n1 + j] / rows - mu[i] * mu[j];
                c[i * features + j] = v;
                c[j * features + i] = v;
            }
        return c;
    }

    /**
     * Ridge solution for penalty {@code lambda · featureTrace()/features} on the weights (the bias is not
     * penalised): coefficients [heads × (features + 1)] row-major, bias last. Empty when the system is not
     * positive definite (λ too small for collinear inputs).
     */
    public Optional<double[]> solve(double lambda) {
        double penalty = lambda * featureTrace() / features;
        double[][] m = new double[n1][n1];
        for (int i = 0; i < n1; i++)
            for (int j = i; j < n1; j++) {
                m[i][j] = ata[i * n1 + j];
                m[j][i] = m[i][j];
            }
        for (int i = 0; i < features; i++) m[i][i] += penalty;
        double[][] rhs = new double[n1][heads];
        for (int i = 0; i < n1; i++) for (int h = 0; h < heads; h++) rhs[i][h] = atz[i * heads + h];
        try {
            RealMatrix sol = new CholeskyDecomposition(new Array2DRowRealMatrix(m, false), 1e-12, 1e-300)
                    .getSolver().solve(new Array2DRowRealMatrix(rhs, false));
            double[] coef = new double[heads * n1];
            for (int h = 0; h < heads; h++) for (int i = 0; i < n1; i++) coef[h * n1 + i] = sol.getEntry(i, h);
            for (double v : coef) if (!Double.isFinite(v)) return Optional.empty();
            return Optional.of(coef);
        } catch (NonPositiveDefiniteMatrixException | org.apache.commons.math3.linear.NonSymmetricMatrixException e) {
            return Optional.empty();
        }
    }

    /**
     * {@link #solve} for every λ of {@code lambdas}, on a device through libtorch (float64): the system matrix goes up
     * once per λ and is inverted there (LU; DJL exposes no Cholesky), ~100x faster than the Java Cholesky for 1024
     * features. A λ whose system is singular, or whose solution is not finite, gets an empty result, as in
     * {@link #solve}; a merely ill-conditioned one is left to the held-out MSE to reject.
     */
    public List<Optional<double[]>> solve(double[] lambdas, Device device) {
        List<Optional<double[]>> out = new ArrayList<>();
        double[] m = new double[n1 * n1];
        try (NDManager manager = NDManager.newBaseManager(device)) {
            NDArray rhs = manager.create(atz, new Shape(n1, heads));
            for (double lambda : lambdas) {
                double penalty = lambda * featureTrace() / features;
                for (int i = 0; i < n1; i++)
                    for (int j = i; j < n1; j++) {
                        m[i * n1 + j] = ata[i * n1 + j];
                        m[j * n1 + i] = ata[i * n1 + j];
                    }
                for (int i = 0; i < features; i++) m[i * n1 + i] += penalty;
                try (NDManager scope = manager.newSubManager()) {
                    double[] sol = scope.create(m, new Shape(n1, n1)).inverse().matMul(rhs).toDoubleArray(); // [n1 × heads]
                    double[] coef = new double[heads * n1];
                    boolean finite = true;
                    for (int h = 0; h < heads; h++)
                        for (int i = 0; i < n1; i++) {
                            double v = sol[i * heads + h];
                            coef[h * n1 + i] = v;
                            finite &= Double.isFinite(v);
                        }
                    out.add(finite ? Optional.of(coef) : Optional.empty());
                } catch (EngineException e) {
                    out.add(Optional.empty()); // singular: libtorch refuses to invert
                }
            }
        }
        return out;
    }

    /**
     * Mean squared error per (row, head) of {@code coef} (as from {@link #solve}) on the rows summed here:
     * Σ_h (wᵀAᵀAw − 2wᵀAᵀz + zᵀz) / (rows·heads). Lets held-out statistics rank λ without another pass.
     */
    public double meanSquaredError(double[] coef) {
        double total = 0;
        for (int h = 0; h < heads; h++) {
            int o = h * n1;
            double quad = 0, lin = 0;
            for (int i = 0; i < n1; i++) {
                double wi = coef[o + i];
                lin += wi * atz[i * heads + h];
                double s = 0;
                for (int j = 0; j < n1; j++) s += ata[i < j ? i * n1 + j : j * n1 + i] * coef[o + j];
                quad += wi * s;
            }
            total += quad - 2 * lin + ztz[h];
        }
        return Math.max(0, total) / ((double) rows * heads);
    }

    public void write(Path file) {
        AtomicFiles.write(file, raw -> {
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(raw));
            out.writeInt(MAGIC);
            out.writeUTF(modelFingerprint);
            out.writeInt(layer);
            out.writeInt(features);
            out.writeInt(heads);
            out.writeLong(rows);
            for (double v : ata) out.writeDouble(v);
            for (double v : atz) out.writeDouble(v);
            for (double v : ztz) out.writeDouble(v);
            out.flush();
        });
    }

    public static NormalEquations read(Path file) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file)))) {
            if (in.readInt() != MAGIC) throw new KvgateException(file + ": not a kvgate normal-equations file");
            NormalEquations ne = new NormalEquations(in.readUTF(), in.readInt(), in.readInt(), in.readInt());
            ne.rows = in.readLong();
            for (int i = 0; i < ne.ata.length; i++) ne.ata[i] = in.readDouble();
            for (int i = 0; i < ne.atz.length; i++) ne.atz[i] = in.readDouble();
            for (int i = 0; i < ne.ztz.length; i++) ne.ztz[i] = in.readDouble();
            if (in.read() != -1) throw new KvgateException(file + ": trailing bytes after the statistics");
            return ne;
        } catch (IOException e) {
            throw new KvgateException(file + ": cannot read normal equations (" + e.getMessage() + ")", e);
        }
    }

    /** Exact equality of the sums (for tests of shard combination and serialisation). */
    public boolean sameSums(NormalEquations o, double relTol) {
        return rows == o.rows && close(ata, o.ata, relTol) && close(atz, o.atz, relTol) && close(ztz, o.ztz, relTol);
    }

    private static boolean close(double[] a, double[] b, double tol) {
        if (a.length != b.length) return false;
        double scale = 0;
        for (double v : a) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > tol * Math.max(scale, 1e-300)) return false;
        return true;
    }

    @Override
    public String toString() {
        return "NormalEquations[layer " + layer + ", " + features + "→" + heads + ", " + rows + " rows" + "]";
    }
}
