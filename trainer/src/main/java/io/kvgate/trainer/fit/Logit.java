package io.kvgate.trainer.fit;

/** The logit-space target of the linear gate: z = logit(clip(S, ε, 1−ε)). */
final class Logit {
    private Logit() {}

    static float of(float s, double eps) {
        double c = Math.min(Math.max(s, eps), 1 - eps);
        return (float) Math.log(c / (1 - c));
    }

    static float[] of(float[] s, int count, double eps) {
        float[] z = new float[count];
        for (int i = 0; i < count; i++) z[i] = of(s[i], eps);
        return z;
    }

    static double sigmoid(double u) {
        return 1 / (1 + Math.exp(-u));
    }
}
