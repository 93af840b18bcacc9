package io.kvgate.models;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensors a config implies, under their Hugging Face names relative to the text model
 * ({@code embed_tokens.weight}, {@code layers.0.self_attn.q_proj.weight}, ..., {@code lm_head.weight}),
 * with the shape each must have. The checkpoint is validated against it before anything is loaded.
 */
final class WeightLayout {
    private WeightLayout() {}

    static String layer(int l, String rest) {
        return "layers." + l + "." + rest;
    }

    /** Canonical name → expected shape, in load order. */
    static Map<String, long[]> expected(ModelConfig c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        long d = c.hiddenSize(), q = (long) c.numHeads() * c.headDim(), kv = (long) c.numKvHeads() * c.headDim();
        long inter = c.intermediateSize(), hd = c.headDim();
        m.put("embed_tokens.weight", new long[] {c.vocabSize(), d});
        for (int l = 0; l < c.numLayers(); l++) {
            m.put(layer(l, "input_layernorm.weight"), new long[] {d});
            m.put(layer(l, "self_attn.q_proj.weight"), new long[] {q, d});
            m.put(layer(l, "self_attn.k_proj.weight"), new long[] {kv, d});
            m.put(layer(l, "self_attn.v_proj.weight"), new long[] {kv, d});
            if (c.qkvBias()) {
                m.put(layer(l, "self_attn.q_proj.bias"), new long[] {q});
                m.put(layer(l, "self_attn.k_proj.bias"), new long[] {kv});
                m.put(layer(l, "self_attn.v_proj.bias"), new long[] {kv});
            }
            m.put(layer(l, "self_attn.o_proj.weight"), new long[] {d, q});
            if (c.oBias()) m.put(layer(l, "self_attn.o_proj.bias"), new long[] {d});
            if (c.qkNorm()) {
                m.put(layer(l, "self_attn.q_norm.weight"), new long[] {hd});
                m.put(layer(l, "self_attn.k_norm.weight"), new long[] {hd});
            }
            m.put(layer(l, "post_attention_layernorm.weight"), new long[] {d});
            if (c.family() == ModelConfig.Family.GEMMA3) {
                m.put(layer(l, "pre_feedforward_layernorm.weight"), new long[] {d});
                m.put(layer(l, "post_feedforward_layernorm.weight"), new long[] {d});
            }
            m.put(layer(l, "mlp.gate_proj.weight"), new long[] {inter, d});
            m.put(layer(l, "mlp.up_proj.weight"), new long[] {inter, d});
            m.put(layer(l, "mlp.down_proj.weight"), new long[] {d, inter});
        }
        m.put("norm.weight", new long[] {d});
        if (!c.tieWordEmbeddings()) m.put("lm_head.weight", new long[] {c.vocabSize(), d});
        return m;
    }
}
