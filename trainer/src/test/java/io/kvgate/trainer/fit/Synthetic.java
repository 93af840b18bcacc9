package io.kvgate.trainer.fit;

import io.kvgate.datasets.FeatureBatch;
import io.kvgate.gates.Gate;
import io.kvgate.gates.LinearGate;
import io.kvgate.gates.SinkGate;

import java.util.Random;

/**
 * Synthetic (x, S) rows whose targets are a known teacher gate's scores. Hidden states look like a transformer's
 * after RMSNorm: a stable mean plus a low-rank spread plus a little isotropic noise.
 */
final class Synthetic {
    static final String FP = "synthetic-model-fp";

    private Synthetic() {}

    static float[] hiddenStates(Random r, int rows, int d) {
        int rank = Math.max(2, d / 4);
        double[] mu = new double[d];
        for (int i = 0; i < d; i++) mu[i] = r.nextGaussian() * 0.8;
        double[] basis = new double[rank * d];
        for (int i = 0; i < basis.length; i++) basis[i] = r.nextGaussian() / Math.sqrt(rank);
        float[] x = new float[rows * d];
        double[] g = new double[rank];
        for (int n = 0; n < rows; n++) {
            for (int k = 0; k < rank; k++) g[k] = r.nextGaussian() * (1.0 / (1 + 0.2 * k));
            for (int i = 0; i < d; i++) {
                double v = mu[i] + 0.1 * r.nextGaussian();
                for (int k = 0; k < rank; k++) v += g[k] * basis[k * d + i];
                x[n * d + i] = (float) v;
            }
        }
        return x;
    }

    /** A random sink-gate teacher with all parameters active. */
    static SinkGate sinkTeacher(SinkGate.Dims d, long seed) {
        Random r = new Random(seed);
        SinkGate.Params p = SinkGate.Params.zeros(d);
        fill(r, p.qWeight, 1.5 / Math.sqrt(d.hidden()));
        fill(r, p.qBias, 0.5);
        fill(r, p.kWeight, 1.5 / Math.sqrt(d.hidden()));
        for (int i = 0; i < d.dim(); i++) {
            p.qNorm[i] = (float) (1.5 + 0.3 * r.nextGaussian());
            p.kNorm[i] = (float) (1.5 + 0.3 * r.nextGaussian());
        }
        fill(r, p.kBase, 0.7);
        for (int i = 0; i < p.b.length; i++) p.b[i] = (float) (-0.5 + 0.5 * r.nextGaussian());
        return new SinkGate(0, p);
    }

    /** A random logistic teacher whose bias puts about a third of the scores above 0.05 on {@code calibration}. */
    static LinearGate linearTeacher(int d, int heads, long seed, float[] calibration) {
        Random r = new Random(seed);
        float[] w = new float[heads * d], c = new float[heads];
        fill(r, w, 1.5 / Math.sqrt(d));
        int rows = calibration.length / d;
        for (int h = 0; h < heads; h++) {
            float[] z = new LinearGate(0, d, heads, w, c).scoreRows(calibration, rows);
            double[] logits = new double[rows];
            for (int i = 0; i < rows; i++) logits[i] = Math.log(z[i * heads + h] / (1 - z[i * heads + h]));
            java.util.Arrays.sort(logits);
            c[h] = (float) (Math.log(0.05 / 0.95) - logits[rows * 2 / 3]);
        }
        return new LinearGate(0, d, heads, w, c);
    }

    /** Rows scored by {@code teacher} for each layer (layers get different inputs); every 10th row held out. */
    static InMemoryTrainingRows source(Gate teacher, int[] layers, int rows, int group, long seed) {
        int d = teacher.hiddenSize(), h = teacher.kvHeads();
        InMemoryTrainingRows src = new InMemoryTrainingRows(FP, "qwen3", d, h, group);
        for (int layer : layers) {
            Random r = new Random(seed * 31 + layer);
            float[] x = hiddenStates(r, rows, d);
            float[] s = teacher.scoreRows(x, rows);
            int shard = 1000;
            for (int start = 0; start < rows; start += shard) {
                int n = Math.min(shard, rows - start);
                float[] bx = java.util.Arrays.copyOfRange(x, start * d, (start + n) * d);
                float[] bs = java.util.Arrays.copyOfRange(s, start * h, (start + n) * h);
                boolean[] held = new boolean[n];
                for (int i = 0; i < n; i++) held[i] = (start + i) % 10 == 0;
                src.add(new FeatureBatch(layer, n, d, h, bx, bs, held));
            }
        }
        return src;
    }

    static void fill(Random r, float[] a, double scale) {
        for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * scale);
    }
}
