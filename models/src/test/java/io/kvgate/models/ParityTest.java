package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parity against transformers (float32 references in every fixture of src/test/resources/parity): full-forward
 * logits and hidden states, teacher-forced greedy decoding through the KV cache, and chunked prefill /
 * token-by-token decoding against one full recomputation.
 */
class ParityTest {
    static final double TOL = 1e-4;

    @TestFactory
    List<DynamicTest> everyFixture() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : Fixtures.parityDirs()) {
            String n = dir.getFileName().toString();
            tests.add(DynamicTest.dynamicTest(n + ": full forward logits and hidden states", () -> fullForward(dir)));
            tests.add(DynamicTest.dynamicTest(n + ": greedy decoding with the cache", () -> greedyDecoding(dir)));
            tests.add(DynamicTest.dynamicTest(n + ": chunked prefill equals full recomputation", () -> chunkedEqualsFull(dir)));
            tests.add(DynamicTest.dynamicTest(n + ": float16 compute within 1e-2", () -> float16(dir)));
        }
        assertTrue(tests.size() >= 12, "expected the three shipped fixtures at least");
        return tests;
    }

    static void fullForward(Path dir) {
        try (Checkpoint ck = Checkpoint.open(dir); SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
             Model model = Model.load(ck); NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
            int[] ids = Fixtures.toInts(ref.readLongs("input_ids"));
            float[][] firstLayer = new float[1][];
            ForwardObserver obs = new ForwardObserver() {
                @Override
                public void layerOutput(int layer, NDArray hidden) {
                    if (layer == 0) firstLayer[0] = hidden.toFloatArray();
                }
            };
            ForwardResult r = model.forward(scope, cache, ids,
                    ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL).withKeepHidden(true).withObserver(obs), ids.length);
            double eLogits = Fixtures.relErr(r.logits().toFloatArray(), ref.readFloats("logits"));
            double eFirst = Fixtures.relErr(firstLayer[0], ref.readFloats("hidden_first_layer_out"));
            double eLast = Fixtures.relErr(r.hiddenLast().toFloatArray(), ref.readFloats("hidden_last"));
            System.out.printf("parity %s: logits %.2e, hidden_first_layer_out %.2e, hidden_last %.2e%n", dir.getFileName(), eLogits, eFirst, eLast);
            assertTrue(eFirst < TOL, dir.getFileName() + ": hidden_first_layer_out rel err " + eFirst);
            assertTrue(eLast < TOL, dir.getFileName() + ": hidden_last rel err " + eLast);
            assertTrue(eLogits < TOL, dir.getFileName() + ": logits rel err " + eLogits);
            assertEquals(ids.length, cache.nextPosition());
        }
    }

    /** Teacher-forced on the reference continuation: each step's logits match, and the argmax where the margin is clear. */
    static void greedyDecoding(Path dir) {
        try (Checkpoint ck = Checkpoint.open(dir); SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
             Model model = Model.load(ck); KvCache cache = model.newCache()) {
            int[] ids = Fixtures.toInts(ref.readLongs("input_ids"));
            int[] greedy = Fixtures.toInts(ref.readLongs("greedy_ids"));
            float[] refLogits = ref.readFloats("greedy_logits");
            int v = model.config().vocabSize();
            int compared = 0;
            float[] logits;
            try (NDManager scope = model.manager().newSubManager()) {
                logits = model.forward(scope, cache, ids, ForwardOptions.defaults(), 16).logits().toFloatArray();
            }
            for (int i = 0; i < greedy.length; i++) {
                float[] want = Fixtures.row(refLogits, i, v);
                double e = Fixtures.relErr(logits, want);
                assertTrue(e < TOL, dir.getFileName() + ": greedy step " + i + " logits rel err " + e);
                if (Fixtures.top2Margin(want) > 1e-2) {
                    assertEquals(greedy[i], Fixtures.argmax(logits), dir.getFileName() + ": greedy id at step " + i);
                    compared++;
                }
                try (NDManager scope = model.manager().newSubManager()) {
                    logits = model.forward(scope, cache, new int[] {greedy[i]}, ForwardOptions.defaults()).logits().toFloatArray();
                }
            }
            assertTrue(compared > greedy.length / 4, dir.getFileName() + ": too few clear-margin steps compared: " + compared);
            assertEquals(ids.length + greedy.length, cache.nextPosition());
        }
    }

    static void chunkedEqualsFull(Path dir) {
        try (Checkpoint ck = Checkpoint.open(dir); SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
             Model model = Model.load(ck)) {
            int[] ids = Fixtures.toInts(ref.readLongs("input_ids"));
            float[] full = logitsAll(model, ids, ids.length);
            for (int chunk : new int[] {1, 7}) { // token by token, and chunks that straddle the sliding window
                double e = Fixtures.relErr(logitsAll(model, ids, chunk), full);
                assertTrue(e < 1e-5, dir.getFileName() + ": chunk " + chunk + " vs full rel err " + e);
            }
        }
    }

    /** float16 weights and activations (the GPU mode; norms and softmax stay float32) against the float32 reference. */
    static void float16(Path dir) {
        try (Checkpoint ck = Checkpoint.open(dir); SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
             Model model = Model.load(ck, ai.djl.Device.cpu(), ai.djl.ndarray.types.DataType.FLOAT16)) {
            int[] ids = Fixtures.toInts(ref.readLongs("input_ids"));
            double e = Fixtures.relErr(logitsAll(model, ids, 16), ref.readFloats("logits"));
            assertTrue(e < 1e-2, dir.getFileName() + ": float16 logits rel err " + e);
        }
    }

    static float[] logitsAll(Model model, int[] ids, int chunk) {
        try (KvCache cache = model.newCache(); NDManager scope = model.manager().newSubManager()) {
            return model.forward(scope, cache, ids, ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL), chunk).logits().toFloatArray();
        }
    }
}
