package io.kvgate.trainer.fit;

import ai.djl.Device;
import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateType;
import io.kvgate.gates.SinkGate;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The libtorch path of the fit (CPU libtorch here; the same ops run on a GPU) equals the plain-Java reference. */
class DeviceFitTest {
    static final SinkGate.Dims DIMS = new SinkGate.Dims(24, 2, 3, 5, 4);
    static final int ROWS = 300;

    @BeforeAll
    static void quiet() {
        Progress.setEnabled(false);
    }

    record Problem(SinkGate.Params p, float[] x, float[] t) {}

    static Problem problem(long seed) {
        Random r = new Random(seed);
        SinkGate.Params p = SinkGate.Params.zeros(DIMS);
        for (float[] a : p.arrays()) for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * 0.7 + (a == p.qNorm || a == p.kNorm ? 1 : 0));
        float[] x = Synthetic.hiddenStates(r, ROWS, DIMS.hidden());
        float[] t = new float[ROWS * DIMS.kvHeads()];
        for (int i = 0; i < t.length; i++) t[i] = r.nextFloat() < 0.3 ? 0 : r.nextFloat();
        return new Problem(p, x, t);
    }

    static int[] rows(int n, int stride) {
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = (i * stride) % ROWS;
        return idx;
    }

    @Test
    void lossAndGradientEqualTheJavaObjective() {
        for (SinkObjective.Space space : SinkObjective.Space.values()) {
            Problem pr = problem(1);
            int[] idx = rows(97, 7);
            SinkObjective.Grad g = new SinkObjective.Grad(DIMS);
            double loss = SinkObjective.lossAndGradient(pr.p, pr.x, pr.t, idx, idx.length, g, new SinkObjective.Scratch(DIMS), space, 1e-3);
            try (DeviceSinkObjective dev = new DeviceSinkObjective(Device.cpu(), DIMS, pr.x, pr.t, ROWS, space, 1e-3)) {
                dev.start(pr.p);
                assertEquals(loss, dev.loss(idx), 1e-6 * Math.abs(loss), space + " loss"); // the Java projections are float32
                double[][] dg = dev.gradient(idx);
                List<double[]> ref = g.arrays();
                for (int k = 0; k < dg.length; k++) {
                    double scale = 0;
                    for (double v : ref.get(k)) scale = Math.max(scale, Math.abs(v));
                    assertTrue(scale > 0, space + " array " + k + " has a zero gradient: the check would be empty");
                    for (int i = 0; i < dg[k].length; i++)
                        assertEquals(ref.get(k)[i], dg[k][i], 1e-5 * scale, space + " gradient of array " + k + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void adamStepsFollowTheJavaOptimiser() {
        Problem pr = problem(2);
        SinkFitter.Options o = new SinkFitter.Options(30, 64, 0.02, 3, 1e-3, SinkFitter.Objective.LOGIT);
        SinkGate.Params java = pr.p.copy(), dev;
        // the reference loop, as SinkFitter's JavaAdam runs it
        SinkObjective.Scratch sc = new SinkObjective.Scratch(DIMS);
        SinkObjective.Grad g = new SinkObjective.Grad(DIMS);
        List<float[]> w = java.arrays();
        double[][] m = new double[w.size()][], v = new double[w.size()][];
        for (int k = 0; k < w.size(); k++) {
            m[k] = new double[w.get(k).length];
            v[k] = new double[w.get(k).length];
        }
        double[] sizes = {1e-3, 1e-2, 1e-3, 1e-2, 1e-2, 1e-2, 1e-2};
        try (DeviceSinkObjective d = new DeviceSinkObjective(Device.cpu(), DIMS, pr.x, pr.t, ROWS, SinkObjective.Space.LOGIT, 1e-3)) {
            d.start(pr.p);
            for (int step = 1; step <= o.steps(); step++) {
                int[] batch = rows(o.batch(), 11 * step + 1);
                double c1 = 1 - Math.pow(0.9, step), c2 = 1 - Math.pow(0.999, step);
                g.zero();
                SinkObjective.lossAndGradient(java, pr.x, pr.t, batch, batch.length, g, sc, SinkObjective.Space.LOGIT, 1e-3);
                for (int k = 0; k < w.size(); k++) {
                    float[] a = w.get(k);
                    double[] gr = g.arrays().get(k);
                    for (int i = 0; i < a.length; i++) {
                        m[k][i] = 0.9 * m[k][i] + 0.1 * gr[i];
                        v[k][i] = 0.999 * v[k][i] + 0.001 * gr[i] * gr[i];
                        a[i] -= (float) (sizes[k] * (m[k][i] / c1) / (Math.sqrt(v[k][i] / c2) + 1e-12));
                    }
                }
                d.step(batch, sizes, 0.9, 0.999, c1, c2);
            }
            dev = d.snapshot();
        }
        List<float[]> a = java.arrays(), b = dev.arrays();
        for (int k = 0; k < a.size(); k++) {
            double moved = 0;
            for (int i = 0; i < a.get(k).length; i++) moved = Math.max(moved, Math.abs(a.get(k)[i] - pr.p.arrays().get(k)[i]));
            assertTrue(moved > 0, "array " + k + " did not move");
            for (int i = 0; i < a.get(k).length; i++)
                assertEquals(a.get(k)[i], b.get(k)[i], 0.02 * moved + 1e-6, "array " + k + "[" + i + "] after " + o.steps() + " steps");
        }
    }

    @Test
    void ridgeGridOnTheDeviceEqualsTheCholeskySolves() {
        NormalEquationsTest.Data data = NormalEquationsTest.data(5);
        NormalEquations ne = new NormalEquations("fp", 0, NormalEquationsTest.D, NormalEquationsTest.H);
        ne.accumulate(data.x(), data.z(), null, NormalEquationsTest.N);
        double[] lambdas = LinearFitter.DEFAULT_LAMBDAS;
        List<Optional<double[]>> dev = ne.solve(lambdas, Device.cpu());
        for (int k = 0; k < lambdas.length; k++) {
            double[] ref = ne.solve(lambdas[k]).orElseThrow();
            assertArrayEquals(ref, dev.get(k).orElseThrow(), 1e-8, "λ=" + lambdas[k]);
        }
    }

    @Test
    void heldOutScoresOnTheDeviceEqualTheJavaScorerAcrossChunks() {
        int rows = 20_000; // more than one 16384-row scoring chunk
        Random r = new Random(9);
        RowBuffer buf = new RowBuffer(DIMS.hidden(), DIMS.kvHeads(), 16);
        float[] x = Synthetic.hiddenStates(r, rows, DIMS.hidden()), t = new float[rows * DIMS.kvHeads()];
        for (int i = 0; i < t.length; i++) t[i] = r.nextFloat() * 0.2f;
        for (int i = 0; i < rows; i++) buf.append(x, t, i);
        try (SinkGate gate = new SinkGate(0, problem(3).p)) {
            GateMetrics ref = GateTrainer.measure(gate, buf, null).result(), dev = GateTrainer.measure(gate, buf, Device.cpu()).result();
            assertEquals(ref.pairs(), dev.pairs());
            assertEquals(ref.mse(), dev.mse(), 1e-6 * ref.mse());
            assertEquals(ref.agreement(), dev.agreement(), 1e-4);
            assertEquals(ref.spearman(), dev.spearman(), 1e-4);
        }
    }

    @Test
    void wholeFitOnTheDeviceMatchesTheReferencePath() {
        SinkGate.Dims dims = SinkGate.Dims.standard(32, 2, 2);
        InMemoryTrainingRows src = Synthetic.source(Synthetic.sinkTeacher(dims, 5), new int[] {0, 1}, 6000, dims.group(), 1);
        GateTrainer.Options o = GateTrainer.Options.defaults(EnumSet.allOf(GateType.class));
        o = new GateTrainer.Options(o.types(), o.lambdas(), o.epsilon(), new SinkFitter.Options(150, 256, 0.02, 1, o.epsilon(), SinkFitter.Objective.LOGIT),
                o.maxSinkRows(), 1, null);
        Map<GateType, GateTrainer.Fitted> ref = GateTrainer.train(src, o), dev = GateTrainer.train(src, o.withDevice(Device.cpu()));
        for (GateType type : GateType.values()) {
            GateMetrics a = ref.get(type).overall(), b = dev.get(type).overall();
            System.out.printf("%s reference agree %.4f mse %.6f | device agree %.4f mse %.6f%n", type, a.agreement(), a.mse(), b.agreement(), b.mse());
            assertEquals(a.agreement(), b.agreement(), 0.005, type + " agreement");
            assertEquals(a.mse(), b.mse(), 0.02 * a.mse(), type + " mse");
            assertEquals(a.spearman(), b.spearman(), 0.005, type + " spearman");
        }
        // the sink fit must have moved off its closed-form start, or the comparison says nothing about the steps
        assertTrue(ref.get(GateType.SINK).details().values().stream().anyMatch(s -> !s.contains("(step 0)")), ref.get(GateType.SINK).details().toString());
    }
}
