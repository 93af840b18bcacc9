package io.kvgate.trainer.fit;

import io.kvgate.gates.SinkGate;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The hand-derived gradient of the sink gate's objective equals central finite differences. */
class SinkObjectiveTest {
    @Test
    void probabilitySpaceGradientMatchesFiniteDifferences() {
        check(SinkObjective.Space.PROBABILITY);
    }

    @Test
    void logitSpaceGradientMatchesFiniteDifferences() {
        check(SinkObjective.Space.LOGIT);
    }

    static void check(SinkObjective.Space space) {
        SinkGate.Dims d = new SinkGate.Dims(12, 2, 3, 5, 4);
        Random r = new Random(42);
        SinkGate.Params p = SinkGate.Params.zeros(d);
        for (float[] a : p.arrays()) for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * 0.7 + (a == p.qNorm || a == p.kNorm ? 1 : 0));
        int rows = 9;
        float[] x = new float[rows * d.hidden()], t = new float[rows * d.kvHeads()];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < t.length; i++) t[i] = r.nextFloat();
        SinkObjective.Scratch sc = new SinkObjective.Scratch(d);
        SinkObjective.Grad g = new SinkObjective.Grad(d);
        SinkObjective.lossAndGradient(p, x, t, null, rows, g, sc, space, 1e-3);

        List<float[]> params = p.arrays();
        List<double[]> grads = g.arrays();
        String[] names = {"q_proj.weight", "q_proj.bias", "k_proj.weight", "q_norm", "k_norm", "k_base", "b"};
        int checked = 0;
        for (int a = 0; a < params.size(); a++) {
            float[] arr = params.get(a);
            for (int n = 0; n < Math.min(arr.length, 12); n++) {
                int i = (n * 7919) % arr.length;
                float orig = arr[i];
                float hi = orig + 1e-2f, lo = orig - 1e-2f;
                arr[i] = hi;
                double lh = SinkObjective.lossAndGradient(p, x, t, null, rows, null, sc, space, 1e-3);
                arr[i] = lo;
                double ll = SinkObjective.lossAndGradient(p, x, t, null, rows, null, sc, space, 1e-3);
                arr[i] = orig;
                double numeric = (lh - ll) / ((double) hi - lo);
                double analytic = grads.get(a)[i];
                assertEquals(numeric, analytic, 1e-3 * Math.abs(numeric) + 2e-6, names[a] + "[" + i + "]");
                checked++;
            }
        }
        assertTrue(checked > 50);
    }
}
