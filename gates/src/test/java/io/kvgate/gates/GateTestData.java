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
        return SinkGate.Params.random(d, new Random(seed));
    }
}
