package io.kvgate.gates;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.kvgate.models.FusedSinkGates;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Sink gates scored by the fused module (KVGATE_FUSED_ATTENTION: one call, on a GPU with kvgate's operators one kernel
 * after the projections) give {@link SinkGate#scoreBatch}'s scores: parameters reach the module in the layouts it
 * expects. Runs only where a module is configured (the GPU machine, or a CPU torch with tools/make_fused_attention.py);
 * the module itself is checked against float64 when it is written.
 */
class FusedSinkGatesTest {
    private static final SinkGate.Dims DIMS = SinkGate.Dims.standard(48, 3, 4);

    @Test
    void fusedModuleScoresAsTheGatesOwnOps() {
        try (NDManager m = NDManager.newBaseManager()) {
            FusedSinkGates fused = FusedSinkGates.fromEnvironment(m);
            assumeTrue(fused != null, "no fused module configured (KVGATE_FUSED_ATTENTION)");
            Random r = new Random(11);
            int t = 29;
            int[] layers = {0, 2, 5};
            List<Gate> gates = new ArrayList<>();
            for (int l : layers) gates.add(new SinkGate(l, GateTestData.randomSink(DIMS, 40 + l)));
            try (GateSet set = new GateSet(GateType.SINK, gates)) {
                NDArray x32 = m.create(GateTestData.gaussian(r, layers.length * t * DIMS.hidden(), 1.0), new Shape(layers.length, t, DIMS.hidden()));
                for (DataType type : new DataType[] {DataType.FLOAT32, DataType.FLOAT16}) {
                    NDArray xs = x32.toType(type, false);
                    for (int[] subset : new int[][] {layers, {5}}) {
                        NDArray in = subset.length == layers.length ? xs : xs.get("2:3");
                        float[] own = set.scoreLayers(subset, in).toFloatArray();
                        NDArray viaModule = set.scoreLayers(subset, in, fused);
                        assertEquals(new Shape(subset.length, DIMS.kvHeads(), t), viaModule.getShape());
                        float[] got = viaModule.toFloatArray();
                        double worst = 0;
                        for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - own[i]));
                        assertTrue(worst < (type == DataType.FLOAT32 ? 2e-6 : 1e-4), type + " " + subset.length + " layers: worst " + worst);
                    }
                }
            }
        }
    }
}
