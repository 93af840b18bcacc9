package io.kvgate.gates;

import java.util.Random;

/** Random parameters and inputs for gate tests. */
final class GateTestData {
    private GateTestData() {}

    static float[] gaussian(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    /** A sink gate with every parameter random (non-zero sink keys, non-unit norms), so every term matters. */
    static SinkGate.Params randomSink(SinkGate.Dims d, long seed) {
        Random r = new Random(seed);
        SinkGate.Params p = SinkGate.Params.zeros(d);
        fill(r, p.qWeight, 1 / Math.sqrt(d.hidden()));
        fill(r, p.qBias, 0.3);
        fill(r, p.kWeight, 1 / Math.sqrt(d.hidden()));
        for (int i = 0; i < d.dim(); i++) {
            p.qNorm[i] = (float) (1 + 0.5 * r.nextGaussian());
            p.kNorm[i] = (float) (1 + 0.5 * r.nextGaussian());
        }
        fill(r, p.kBase, 1.0);
        fill(r, p.b, 1.0);
        return p;
    }

    static void fill(Random r, float[] a, double scale) {
        for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * scale);
    }
}
