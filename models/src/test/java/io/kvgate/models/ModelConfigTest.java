package io.kvgate.models;

import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** config.json in both key generations (transformers 5 and older hub files) parses to the same numbers. */
class ModelConfigTest {
    static Path config(String name) {
        try {
            return Path.of(ModelConfigTest.class.getResource("/configs/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void qwen2OldKeysEqualNewKeys() {
        ModelConfig fresh = ModelConfig.parse(Fixtures.parity("qwen2-tiny-a").resolve("config.json"));
        ModelConfig old = ModelConfig.parse(config("qwen2-old-style.json"));
        assertEquals(fresh, old);
        assertEquals(ModelConfig.Family.QWEN2, old.family());
        assertTrue(old.qkvBias() && !old.oBias() && !old.qkNorm());
        assertEquals(10000.0, old.ropeTheta(2));
        assertEquals(0, old.slidingWindow());
        assertArrayEquals(new int[] {0, 1, 2}, old.gatedLayers());
        assertEquals(SafetensorsFile.Dtype.BF16, old.checkpointDtype());
    }

    @Test
    void qwen2SlidingFromMaxWindowLayersEqualsLayerTypes() {
        ModelConfig old = ModelConfig.parse(config("qwen2-old-sliding.json"));
        assertEquals(ModelConfig.parse(config("qwen2-new-sliding.json")), old);
        assertFalse(old.isSlidingLayer(0));
        assertTrue(old.isSlidingLayer(1) && old.isSlidingLayer(2));
        assertEquals(8, old.slidingWindow());
        assertArrayEquals(new int[] {0}, old.gatedLayers());
    }

    @Test
    void gemma3OldKeysEqualPerLayerTypeRopeParameters() {
        ModelConfig fresh = ModelConfig.parse(config("gemma3-new-linear.json"));
        ModelConfig old = ModelConfig.parse(config("gemma3-old-linear.json"));
        assertEquals(fresh, old);
        for (int l = 0; l < 5; l++) {
            assertTrue(old.isSlidingLayer(l));
            assertEquals(10000.0, old.ropeTheta(l));
            assertEquals(1.0, old.ropeLinearFactor(l), "linear scaling only on global layers");
        }
        assertFalse(old.isSlidingLayer(5));
        assertEquals(1_000_000.0, old.ropeTheta(5));
        assertEquals(8.0, old.ropeLinearFactor(5));
        assertEquals(16, old.slidingWindow());
        assertEquals(0.25, old.attentionScale(), 1e-12); // query_pre_attn_scalar 16
        assertArrayEquals(new int[] {5}, old.gatedLayers());
        assertTrue(old.tieWordEmbeddings());
    }

    @Test
    void gemma3FixtureUsesPerLayerTypeRope() {
        ModelConfig c = ModelConfig.parse(Fixtures.parity("gemma3-tiny-a").resolve("config.json"));
        assertEquals(10000.0, c.ropeTheta(0));
        assertEquals(1_000_000.0, c.ropeTheta(5));
        assertArrayEquals(new int[] {1}, c.eosTokenIds());
    }

    /** A hub-style multimodal config: nested text_config that omits most keys (Gemma3TextConfig defaults apply). */
    @Test
    void gemma3MultimodalHubConfigUsesTextConfigAndDefaults() {
        ModelConfig c = ModelConfig.parse(config("gemma3-multimodal-hub.json"));
        assertEquals(ModelConfig.Family.GEMMA3, c.family());
        assertEquals(2560, c.hiddenSize());
        assertEquals(34, c.numLayers());
        assertEquals(8, c.numHeads());
        assertEquals(4, c.numKvHeads());
        assertEquals(256, c.headDim());
        assertEquals(262208, c.vocabSize());
        assertEquals(1024, c.slidingWindow());
        assertEquals(1.0 / 16, c.attentionScale(), 1e-12); // query_pre_attn_scalar default 256
        // sliding_window_pattern default 6: layers 5, 11, ... are global
        assertFalse(c.isSlidingLayer(5));
        assertTrue(c.isSlidingLayer(4) && c.isSlidingLayer(6));
        assertArrayEquals(new int[] {5, 11, 17, 23, 29}, c.gatedLayers());
        assertEquals(8.0, c.ropeLinearFactor(5));
        assertEquals(1.0, c.ropeLinearFactor(4));
        assertArrayEquals(new int[] {1, 106}, c.eosTokenIds());
        assertTrue(c.tieWordEmbeddings());
    }

    @Test
    void unknownModelTypeNamesItAndTheSupportedOnes() {
        KvgateException e = assertThrows(KvgateException.class, () -> ModelConfig.parse(config("unknown-type.json")));
        assertTrue(e.getMessage().contains("'llama'") && e.getMessage().contains("qwen2, qwen3, gemma3_text, gemma3"), e.getMessage());
    }

    @Test
    void unsupportedRopeTypeAndWrongValueTypesAreClearErrors() {
        KvgateException yarn = assertThrows(KvgateException.class, () -> ModelConfig.parse(config("qwen3-yarn.json")));
        assertTrue(yarn.getMessage().contains("yarn"), yarn.getMessage());
        KvgateException type = assertThrows(KvgateException.class, () -> ModelConfig.parse(config("qwen3-bad-type.json")));
        assertTrue(type.getMessage().contains("num_hidden_layers") && type.getMessage().contains("three"), type.getMessage());
        KvgateException missing = assertThrows(KvgateException.class, () -> ModelConfig.parse(config("qwen3-yarn.json").resolveSibling("nope.json")));
        assertTrue(missing.getMessage().contains("missing") && missing.getMessage().contains("nope.json"), missing.getMessage());
    }
}
