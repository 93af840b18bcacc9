package io.kvgate.gates;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The device (DJL) and plain-Java scoring paths compute the same function, and that function is ALGORITHM.md §2. */
class GateScoringTest {
    private static final SinkGate.Dims DIMS = SinkGate.Dims.standard(48, 3, 4);

    @Test
    void sinkGateDevicePathMatchesPlainJava() {
        float[] x = GateTestData.gaussian(new Random(1), 37 * DIMS.hidden(), 1.0);
        try (SinkGate gate = new SinkGate(2, GateTestData.randomSink(DIMS, 7));
             NDManager m = NDManager.newBaseManager()) {
            float[] plain = gate.scoreRows(x, 37);
            NDArray xs = m.create(x, new Shape(37, DIMS.hidden()));
            NDArray dev = gate.score(xs);
            assertEquals(new Shape(3, 37), dev.getShape());
            assertPathsAgree(plain, dev.toFloatArray(), 37, 3, 2e-6);
            // only the input and the result remain in the caller's manager: intermediates were freed
            assertEquals(2, m.getManagedArrays().size());
            // a float16 input (GPU compute dtype) is scored in float32
            float[] half = gate.score(xs.toType(DataType.FLOAT16, false)).toFloatArray();
            assertPathsAgree(plain, half, 37, 3, 5e-3);
        }
    }

    @Test
    void linearGateDevicePathMatchesPlainJava() {
        Random r = new Random(3);
        int d = 40, h = 2, t = 25;
        float[] x = GateTestData.gaussian(r, t * d, 1.0);
        try (LinearGate gate = new LinearGate(0, d, h, GateTestData.gaussian(r, h * d, 0.3), GateTestData.gaussian(r, h, 1.0));
             NDManager m = NDManager.newBaseManager()) {
            float[] plain = gate.scoreRows(x, t);
            assertPathsAgree(plain, gate.score(m.create(x, new Shape(t, d))).toFloatArray(), t, h, 2e-6);
            // spot-check the formula itself for one row and head
            double z = gate.bias()[1];
            for (int i = 0; i < d; i++) z += gate.weight()[d + i] * x[3 * d + i];
            assertEquals(1 / (1 + Math.exp(-z)), plain[3 * h + 1], 1e-6);
        }
    }

    /** Several layers' gates stacked and scored in one batched computation give each layer's own scores. */
    @Test
    void stackedLayersScoreAsEachLayerAlone() {
        Random r = new Random(5);
        int t = 19, d = DIMS.hidden(), h = DIMS.kvHeads();
        int[] layers = {1, 4, 6};
        java.util.List<Gate> sinks = new java.util.ArrayList<>(), linears = new java.util.ArrayList<>();
        for (int l : layers) {
            sinks.add(new SinkGate(l, GateTestData.randomSink(DIMS, 20 + l)));
            linears.add(new LinearGate(l, d, h, GateTestData.gaussian(r, h * d, 0.3), GateTestData.gaussian(r, h, 1.0)));
        }
        for (GateSet set : new GateSet[] {new GateSet(GateType.SINK, sinks), new GateSet(GateType.LINEAR, linears)}) {
            try (set; NDManager m = NDManager.newBaseManager()) {
                float[] x = GateTestData.gaussian(r, layers.length * t * d, 1.0);
                NDArray xs = m.create(x, new Shape(layers.length, t, d));
                for (int pass = 0; pass < 2; pass++) { // the second pass reuses the stacked parameters
                    NDArray all = set.scoreLayers(layers, xs);
                    assertEquals(new Shape(layers.length, h, t), all.getShape());
                    float[] got = all.toFloatArray();
                    for (int i = 0; i < layers.length; i++) {
                        float[] rows = java.util.Arrays.copyOfRange(x, i * t * d, (i + 1) * t * d);
                        float[] plain = set.gate(layers[i]).scoreRows(rows, t);
                        assertPathsAgree(plain, java.util.Arrays.copyOfRange(got, i * h * t, (i + 1) * h * t), t, h, 2e-6);
                    }
                }
                // one layer alone, and a subset in another order, from the same set
                float[] one = set.scoreLayers(new int[] {6, 1}, xs.get("0:2")).toFloatArray();
                float[] sixAlone = set.score(6, xs.get(0)).toFloatArray();
                for (int i = 0; i < h * t; i++) assertEquals(sixAlone[i], one[i], 2e-6);
            }
        }
    }

    @Test
    void halfPrecisionInputsProjectedInTheirOwnPrecisionByDefaultScoreAsInFloat32() {
        Random r = new Random(8);
        int t = 23, d = DIMS.hidden(), h = DIMS.kvHeads();
        int[] layers = {0, 3};
        java.util.List<Gate> sinks = new java.util.ArrayList<>(), linears = new java.util.ArrayList<>();
        for (int l : layers) {
            sinks.add(new SinkGate(l, GateTestData.randomSink(DIMS, 30 + l)));
            linears.add(new LinearGate(l, d, h, GateTestData.gaussian(r, h * d, 0.3), GateTestData.gaussian(r, h, 1.0)));
        }
        assertEquals(DataType.FLOAT16, GateSet.projectionType(DataType.FLOAT16)); // the default: the inputs' own precision
        assertEquals(DataType.FLOAT32, GateSet.projectionType(DataType.FLOAT32));
        for (GateSet set : new GateSet[] {new GateSet(GateType.SINK, sinks), new GateSet(GateType.LINEAR, linears)}) {
            try (set; NDManager m = NDManager.newBaseManager()) {
                NDArray xs = m.create(GateTestData.gaussian(r, layers.length * t * d, 1.0), new Shape(layers.length, t, d))
                        .toType(DataType.FLOAT16, false);
                float[] float32;
                System.setProperty("kvgate.gatePrecision", "float32");
                try {
                    assertEquals(DataType.FLOAT32, GateSet.projectionType(DataType.FLOAT16));
                    float32 = set.scoreLayers(layers, xs).toFloatArray();
                } finally {
                    System.clearProperty("kvgate.gatePrecision");
                }
                NDArray half = set.scoreLayers(layers, xs); // the default
                assertEquals(DataType.FLOAT32, half.getDataType());
                float[] got = half.toFloatArray();
                double worst = 0;
                for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - float32[i]));
                // float16 projection outputs carry ~5e-4 relative rounding; the scores move by far less than their spread
                assertTrue(worst < 3e-3, set.type() + ": worst score difference " + worst);
                assertTrue(worst > 0, set.type() + ": identical to float32: the projections did not run in float16");
            }
        }
        System.setProperty("kvgate.gatePrecision", "bf16");
        try {
            io.kvgate.models.KvgateException e = org.junit.jupiter.api.Assertions.assertThrows(io.kvgate.models.KvgateException.class,
                    () -> GateSet.projectionType(DataType.FLOAT16));
            assertTrue(e.getMessage().contains("KVGATE_GATE_PRECISION=bf16"), e.getMessage());
        } finally {
            System.clearProperty("kvgate.gatePrecision");
        }
    }

    @Test
    void initialSinkGateScoresSigmoidOfBiasMinusLogSinks() {
        // zero projections and sink keys: q = 0, so l = b and logsumexp over 16 zero logits = ln 16
        SinkGate.Params p = SinkGate.Params.zeros(DIMS);
        for (int i = 0; i < p.b.length; i++) p.b[i] = 0.25f * i;
        float[] x = GateTestData.gaussian(new Random(5), 4 * DIMS.hidden(), 1.0);
        float[] s = new SinkGate(0, p).scoreRows(x, 4);
        for (int h = 0; h < DIMS.kvHeads(); h++) {
            double expect = 0;
            for (int g = 0; g < DIMS.group(); g++) expect += 1 / (1 + Math.exp(-(p.b[h * DIMS.group() + g] - Math.log(16)))) / DIMS.group();
            for (int r = 0; r < 4; r++) assertEquals(expect, s[r * DIMS.kvHeads() + h], 1e-6);
        }
    }

    @Test
    void scoresAreProbabilities() {
        float[] x = GateTestData.gaussian(new Random(9), 200 * DIMS.hidden(), 3.0);
        for (float v : new SinkGate(0, GateTestData.randomSink(DIMS, 11)).scoreRows(x, 200)) assertTrue(v > 0 && v < 1, "score " + v);
    }

    /** plain is [rows, heads], device is [heads, rows]. */
    private static void assertPathsAgree(float[] plain, float[] device, int rows, int heads, double tol) {
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++)
                assertEquals(plain[r * heads + h], device[h * rows + r], tol, "row " + r + " head " + h);
    }
}
