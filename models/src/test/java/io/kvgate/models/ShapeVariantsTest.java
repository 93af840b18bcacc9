package io.kvgate.models;

import io.kvgate.models.util.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shapes and layer patterns the shipped fixtures do not cover (MQA, MHA, head_dim ≠ hidden/heads, untied head,
 * biases everywhere, Qwen sliding layers, Gemma patterns with soft-capping and linear RoPE): random-weight
 * checkpoints must load, and cached/chunked/reconstruction paths must agree with one full recomputation.
 */
class ShapeVariantsTest {
    @TempDir
    Path tmp;

    static Path randomCheckpoint(Path dir, String configJson, long seed) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), configJson);
        ModelConfig c = ModelConfig.parse(dir.resolve("config.json"));
        Random r = new Random(seed);
        SafetensorsWriter w = new SafetensorsWriter();
        for (Map.Entry<String, long[]> e : WeightLayout.expected(c).entrySet()) {
            long n = 1;
            for (long d : e.getValue()) n *= d;
            float[] v = new float[(int) n];
            boolean norm = e.getKey().endsWith("norm.weight");
            for (int i = 0; i < v.length; i++)
                v[i] = (float) (norm ? (c.family() == ModelConfig.Family.GEMMA3 ? 0 : 1) + 0.2 * r.nextGaussian() : 0.15 * r.nextGaussian());
            String name = e.getKey().equals("lm_head.weight") ? "lm_head.weight" : "model." + e.getKey();
            w.putF32(name, e.getValue(), v);
        }
        w.write(dir.resolve("model.safetensors"));
        return dir;
    }

    static final String QWEN3_MQA = """
            {"model_type": "qwen3", "vocab_size": 97, "hidden_size": 48, "intermediate_size": 72, "num_hidden_layers": 2,
             "num_attention_heads": 6, "num_key_value_heads": 1, "head_dim": 12, "attention_bias": true,
             "tie_word_embeddings": false, "rope_theta": 5000.0, "max_position_embeddings": 64, "torch_dtype": "float32"}""";
    static final String QWEN2_MHA_SLIDING = """
            {"model_type": "qwen2", "vocab_size": 80, "hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 3,
             "num_attention_heads": 4, "num_key_value_heads": 4, "use_sliding_window": true, "sliding_window": 6,
             "max_window_layers": 1, "rope_theta": 10000.0, "tie_word_embeddings": true}""";
    static final String GEMMA3_PATTERN = """
            {"model_type": "gemma3_text", "vocab_size": 70, "hidden_size": 40, "intermediate_size": 56, "num_hidden_layers": 4,
             "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 8, "query_pre_attn_scalar": 10,
             "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
             "sliding_window": 5, "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0,
             "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 100000.0},
                                 "sliding_attention": {"rope_type": "default", "rope_theta": 1000.0}},
             "dtype": "bfloat16"}""";

    @Test
    void qwen3MultiQueryUntiedWithBiases() throws IOException {
        check(randomCheckpoint(tmp.resolve("qwen3"), QWEN3_MQA, 1));
    }

    @Test
    void qwen2MultiHeadWithSlidingLayers() throws IOException {
        Path dir = randomCheckpoint(tmp.resolve("qwen2"), QWEN2_MHA_SLIDING, 2);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            assertEquals(6, ck.config().windowOf(2));
            assertEquals(0, ck.config().windowOf(0));
        }
        check(dir);
    }

    @Test
    void gemma3CustomPatternSoftcapsAndLinearRope() throws IOException {
        check(randomCheckpoint(tmp.resolve("gemma3"), GEMMA3_PATTERN, 3));
    }

    /** Chunked prefill (incl. token by token) and the reconstruction pass agree with one full pass. */
    static void check(Path dir) {
        try (Checkpoint ck = Checkpoint.open(dir); Model m = Model.load(ck)) {
            int[] ids = KvCacheTest.prompt(23, m.config().vocabSize());
            float[] full = ParityTest.logitsAll(m, ids, ids.length);
            for (float x : full) assertTrue(Float.isFinite(x));
            for (int chunk : new int[] {1, 4, 9}) {
                double e = Fixtures.relErr(ParityTest.logitsAll(m, ids, chunk), full);
                assertTrue(e < 1e-5, dir.getFileName() + " chunk " + chunk + ": rel err " + e);
            }
            try (KvCache c = m.newCache(); ai.djl.ndarray.NDManager s = m.manager().newSubManager()) {
                int[] head = java.util.Arrays.copyOf(ids, 15), tail = java.util.Arrays.copyOfRange(ids, 15, 23);
                m.forward(s, c, head, ForwardOptions.defaults(), 4);
                float[] probe = m.forward(s, c, tail, ForwardOptions.defaults().withExtendCache(false).withLogits(ForwardOptions.Logits.ALL)).logits().toFloatArray();
                float[] want = java.util.Arrays.copyOfRange(full, 15 * m.config().vocabSize(), full.length);
                double e = Fixtures.relErr(probe, want);
                assertTrue(e < 1e-5, dir.getFileName() + " reconstruction pass: rel err " + e);
                assertEquals(15, c.nextPosition());
            }
        }
    }

}
