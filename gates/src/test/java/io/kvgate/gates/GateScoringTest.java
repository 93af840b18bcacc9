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
