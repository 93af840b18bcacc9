package io.kvgate.trainer.fit;

import io.kvgate.datasets.FeatureBatch;

import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Rows of a given shape made up on the fly, for timing the fit without collecting (kvgate bench fit): hidden states
 * like a transformer's after RMSNorm (a stable mean, a rank-8 spread, a little noise drawn from a fixed bank of noise
 * rows so that making them costs less than fitting them) and targets from a random logistic teacher plus noise, about
 * a quarter of them ≥ 0.05. Deterministic per (seed, layer); nothing is held in memory between calls.
 */
public final class SyntheticTrainingRows implements TrainingRows {
    private static final int RANK = 8, NOISE_ROWS = 4096;

    private final int hidden, kvHeads, group, layers, rows, heldOutEvery;
    private final long seed;

    public SyntheticTrainingRows(int hidden, int kvHeads, int group, int layers, int rows, int heldOutEvery, long seed) {
        if (hidden < 1 || kvHeads < 1 || group < 1 || layers < 1 || rows < 1 || heldOutEvery < 2)
            throw new IllegalArgumentException("synthetic rows need positive sizes and held-out-every ≥ 2");
        this.hidden = hidden;
        this.kvHeads = kvHeads;
        this.group = group;
        this.layers = layers;
        this.rows = rows;
        this.heldOutEvery = heldOutEvery;
        this.seed = seed;
    }

    @Override public String modelFingerprint() { return "synthetic-" + hidden + "x" + kvHeads + "x" + group; }
    @Override public String modelType() { return "synthetic"; }
    @Override public int hiddenSize() { return hidden; }
    @Override public int kvHeads() { return kvHeads; }
    @Override public int groupSize() { return group; }
    @Override public long tokens() { return rows; }
    @Override public long heldOutTokens() { return (rows + heldOutEvery - 1) / heldOutEvery; }
    @Override public String description() { return "synthetic rows (" + rows + " x " + hidden + ", " + kvHeads + " KV heads)"; }

    @Override
    public int[] gatedLayers() {
        int[] l = new int[layers];
        for (int i = 0; i < layers; i++) l[i] = i;
        return l;
    }

    /** Rows per {@link #batch}. */
    public static final int BATCH = 8192;

    /** Batches per layer. */
    public int batches() {
        return (rows + BATCH - 1) / BATCH;
    }

    @Override
    public void forEachBatch(int layer, Consumer<FeatureBatch> sink) {
        Layer l = new Layer(layer);
        for (int i = 0; i < batches(); i++) sink.accept(l.batch(i));
    }

    /** Batch {@code index} of {@code layer}: the same rows whichever order batches are asked for. */
    public FeatureBatch batch(int layer, int index) {
        return new Layer(layer).batch(index);
    }

    /** A layer's fixed parts: mean, spread directions, noise bank, teacher. */
    private final class Layer {
        final int layer;
        final float[] mu, basis, noise, teacher;
        final double[] offset = new double[kvHeads];

        Layer(int layer) {
            this.layer = layer;
            SplittableRandom r = new SplittableRandom(seed * 1_000_003L + layer);
            mu = gaussians(r, hidden, 0.8);
            basis = gaussians(r, RANK * hidden, 1 / Math.sqrt(RANK));
            noise = gaussians(r, NOISE_ROWS * hidden, 0.1);
            teacher = gaussians(r, kvHeads * hidden, 1.5 / Math.sqrt(hidden));
            for (int h = 0; h < kvHeads; h++) offset[h] = -3 - dot(teacher, h * hidden, mu, 0, hidden);
        }

        FeatureBatch batch(int index) {
            SplittableRandom r = new SplittableRandom((seed * 1_000_003L + layer) * 7919 + index);
            int start = index * BATCH, n = Math.min(BATCH, rows - start);
            double[] g = new double[RANK];
            float[] x = new float[n * hidden], t = new float[n * kvHeads];
            boolean[] held = new boolean[n];
            for (int k = 0; k < n; k++) {
                int o = k * hidden, no = r.nextInt(NOISE_ROWS) * hidden;
                for (int j = 0; j < RANK; j++) g[j] = r.nextGaussian() / (1 + 0.2 * j);
                for (int i = 0; i < hidden; i++) {
                    double v = mu[i] + noise[no + i];
                    for (int j = 0; j < RANK; j++) v += g[j] * basis[j * hidden + i];
                    x[o + i] = (float) v;
                }
                for (int h = 0; h < kvHeads; h++)
                    t[k * kvHeads + h] = (float) (1 / (1 + Math.exp(-(dot(teacher, h * hidden, x, o, hidden) + offset[h] + 0.5 * r.nextGaussian()))));
                held[k] = (start + k) % heldOutEvery == 0;
            }
            return new FeatureBatch(layer, n, hidden, kvHeads, x, t, held);
        }
    }

    private static float[] gaussians(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    private static double dot(float[] a, int ao, float[] b, int bo, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }
}
