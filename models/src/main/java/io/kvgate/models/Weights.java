package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * The frozen tensors, loaded once, in the compute dtype. Linear weights are kept as [out, in] (the checkpoint
 * layout) with a transposed view for {@code x.matMul(w)}; q/k/v and gate/up are fused so a layer costs fewer
 * kernel launches. Norm weights are stored ready to multiply: Gemma's (1 + w) precomputed in float32.
 */
final class Weights {
    /** One decoder layer; nullable fields are absent for the architecture. */
    record Layer(
            NDArray inputNorm,          // [hidden]
            NDArray qkvT,               // [hidden, (H + 2 Hk) D]
            NDArray qkvBias,            // [(H + 2 Hk) D] or null
            NDArray qkNorm,             // [H + Hk, 1, D]: q_norm repeated H times, then k_norm Hk times; or null
            NDArray oT,                 // [H D, hidden]
            NDArray oBias,              // [hidden] or null
            NDArray postAttentionNorm,  // [hidden]
            NDArray preFeedforwardNorm, // Gemma3 only
            NDArray postFeedforwardNorm,// Gemma3 only
            NDArray gateUpT,            // [hidden, 2 I]
            NDArray downT) {}           // [I, hidden]

    final NDArray embedTokens;  // [V, hidden]
    final NDArray lmHeadT;      // [hidden, V] (a view of embed_tokens when tied)
    final NDArray finalNorm;    // [hidden]
    final Layer[] layers;

    private Weights(NDArray embedTokens, NDArray lmHeadT, NDArray finalNorm, Layer[] layers) {
        this.embedTokens = embedTokens;
        this.lmHeadT = lmHeadT;
        this.finalNorm = finalNorm;
        this.layers = layers;
    }

    static Weights load(Checkpoint ckpt, NDManager manager, DataType dtype) {
        ModelConfig c = ckpt.config();
        try (TensorLoader loader = new TensorLoader(manager, dtype)) {
            Layer[] layers = new Layer[c.numLayers()];
            for (int l = 0; l < c.numLayers(); l++) {
                try (NDManager tmp = manager.newSubManager()) { // the unfused pieces die with the layer
                    layers[l] = loadLayer(new Reader(ckpt, loader, manager, tmp), c, l);
                }
            }
            Reader r = new Reader(ckpt, loader, manager, null);
            NDArray embed = r.keep("embed_tokens.weight");
            NDArray lmHead = c.tieWordEmbeddings() ? embed : r.keep("lm_head.weight");
            return new Weights(embed, transposed(manager, lmHead), r.norm("norm.weight", c), layers);
        }
    }

    private static Layer loadLayer(Reader r, ModelConfig c, int l) {
        boolean gemma = c.family() == ModelConfig.Family.GEMMA3;
        NDManager manager = r.manager;
        String p = "layers." + l + ".", a = p + "self_attn.", m = p + "mlp.";
        NDArray qkv = fuse(manager, r.temp(a + "q_proj.weight"), r.temp(a + "k_proj.weight"), r.temp(a + "v_proj.weight"));
        NDArray qkvBias = c.qkvBias() ? fuse(manager, r.temp(a + "q_proj.bias"), r.temp(a + "k_proj.bias"), r.temp(a + "v_proj.bias")) : null;
        NDArray qkNorm = null;
        if (c.qkNorm()) {
            NDArray q = r.norm(a + "q_norm.weight", c), k = r.norm(a + "k_norm.weight", c);
            NDList rows = new NDList();
            for (int h = 0; h < c.numHeads(); h++) rows.add(q);
            for (int h = 0; h < c.numKvHeads(); h++) rows.add(k);
            qkNorm = NDArrays.stack(rows, 0).reshape(c.numHeads() + c.numKvHeads(), 1, c.headDim());
            qkNorm.attach(manager);
            q.close();
            k.close();
        }
        NDArray gateUp = fuse(manager, r.temp(m + "gate_proj.weight"), r.temp(m + "up_proj.weight"));
        return new Layer(
                r.norm(p + "input_layernorm.weight", c),
                transposed(manager, qkv), qkvBias, qkNorm,
                transposed(manager, r.keep(a + "o_proj.weight")),
                c.oBias() ? r.keep(a + "o_proj.bias") : null,
                r.norm(p + "post_attention_layernorm.weight", c),
                gemma ? r.norm(p + "pre_feedforward_layernorm.weight", c) : null,
                gemma ? r.norm(p + "post_feedforward_layernorm.weight", c) : null,
                transposed(manager, gateUp),
                transposed(manager, r.keep(m + "down_proj.weight")));
    }

    /** Loads tensors either to keep (weights manager) or as temporaries (freed with the layer). */
    private record Reader(Checkpoint ckpt, TensorLoader loader, NDManager manager, NDManager tmp) {
        NDArray keep(String name) {
            return loader.load(ckpt.tensor(name));
        }

        NDArray temp(String name) {
            NDArray a = loader.load(ckpt.tensor(name));
            a.attach(tmp);
            return a;
        }

        /** Gemma: (1 + w) in float32, as Gemma3RMSNorm computes it; Qwen: w in the compute dtype. */
        NDArray norm(String name, ModelConfig c) {
            NDArray w = keep(name);
            if (c.family() != ModelConfig.Family.GEMMA3) return w;
            NDArray plusOne = w.toType(DataType.FLOAT32, false).add(1f);
            plusOne.attach(manager);
            w.close();
            return plusOne;
        }
    }

    private static NDArray fuse(NDManager manager, NDArray... parts) {
        NDArray f = NDArrays.concat(new NDList(parts), 0);
        f.attach(manager);
        return f;
    }

    /** A transposed view [in, out] of a [out, in] weight (no copy; matmul reads it with BLAS's transpose flag). */
    private static NDArray transposed(NDManager manager, NDArray w) {
        w.attach(manager);
        NDArray t = w.transpose();
        t.attach(manager);
        return t;
    }
}
