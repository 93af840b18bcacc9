package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;

import static io.kvgate.models.FusedAttention.tensor;
import static io.kvgate.models.FusedAttention.tensorList;

/**
 * The Qwen2/Qwen3 decoder layer in two calls of the fused TorchScript module (tools/make_fused_attention.py,
 * {@code decoder_in}, {@code decoder_out}) instead of ~50 NDArray ops: on a GPU every op is a JNI call of ~10 µs, so
 * a decode step of the 0.6B model was host-bound at ~1800 calls per token. Attention and the cache append stay in
 * {@link Model} (between the two calls) so every cache layout and observer keeps working. Same formulas as
 * {@code Model.qwenDecoderLayer}, which stays the reference.
 */
final class FusedDecoderLayers {
    /** {@code KVGATE_FUSED_LAYERS=0} (or {@code -Dkvgate.fusedLayers=false}) keeps Model's own layer ops (A/B timing). */
    static final String ENV = "KVGATE_FUSED_LAYERS";

    /**
     * {@code KVGATE_WHOLE_PREFILL=0} (or {@code -Dkvgate.wholePrefill=false}) runs a first chunk layer by layer too
     * instead of as one {@code prefill} call (A/B timing).
     */
    static final String WHOLE_PREFILL_ENV = "KVGATE_WHOLE_PREFILL";

    static boolean enabled() {
        return switchedOn("kvgate.fusedLayers", ENV);
    }

    static boolean switchedOn(String property, String env) {
        String v = System.getProperty(property, System.getenv(env));
        return v == null || !(v.equals("0") || v.equalsIgnoreCase("false") || v.equalsIgnoreCase("off"));
    }

    private final FusedAttention module;
    private final Weights w;
    private final ModelConfig config;
    private final RotaryTables[] rope;
    private final NDArray none; // stands for an absent bias or q/k norm
    private IValue layerWeights; // every layer's 9 tensors as one list (prefill, decode_step), made once asked for

    FusedDecoderLayers(FusedAttention module, Weights w, ModelConfig config, RotaryTables[] rope, NDManager manager) {
        this.module = module;
        this.w = w;
        this.config = config;
        this.rope = rope;
        this.none = manager.zeros(new Shape(0), w.embedTokens.getDataType());
    }

    /**
     * Every layer's weights in the order of the module's whole-model functions (input norm, qkv, qkv bias, q/k norm,
     * o, o bias, post-attention norm, gate_up, down; an absent one empty), one list made once: passing it costs no
     * per-call marshalling. Owned here (closed by {@link #close}): callers must not close it.
     */
    IValue layerWeights() {
        if (layerWeights == null) {
            java.util.List<PtNDArray> all = new java.util.ArrayList<>();
            for (Weights.Layer lw : w.layers)
                for (NDArray a : new NDArray[] {lw.inputNorm(), lw.qkvT(), lw.qkvBias(), lw.qkNorm(), lw.oT(), lw.oBias(),
                        lw.postAttentionNorm(), lw.gateUpT(), lw.downT()})
                    all.add((PtNDArray) orNone(a));
            layerWeights = IValue.listFrom(all.toArray(new PtNDArray[0]));
        }
        return layerWeights;
    }

    /**
     * A first chunk (the cache holds nothing yet) through the whole model in one {@code prefill} call: token
     * {@code ids} at positions p0... (one RoPE table for every layer, no sliding windows). Returns, in {@code out},
     * [final-normed x [T, hidden], attention inputs [L, T, hidden] (empty unless {@code keepInputs}), then every
     * layer's k, v [Hkv, T, D]] (fresh arrays the cache may adopt). With {@code gates}, the second entry is instead
     * their scores [n, kvHeads, T] of the attention inputs (float32), computed in the same call.
     */
    NDList prefill(PtNDManager out, int[] ids, int p0, boolean keepInputs, FusedSinkGates.Bound gates) {
        NDArray[] cs = rope[0].window(p0, ids.length);
        try (NDArray idArray = out.create(java.util.Arrays.stream(ids).asLongStream().toArray())) {
            IValue[] g = gateArguments(gates);
            return module.runKeeping("prefill", out, java.util.List.of(layerWeights(), g[0]), tensor(idArray),
                    tensor(w.embedTokens), layerWeights(), tensor(cs[0]), tensor(cs[1]), tensor(rope[0].rotateHalf()),
                    tensor(w.finalNorm), IValue.from((long) config.numHeads()), IValue.from((long) config.numKvHeads()),
                    IValue.from(config.rmsNormEps()), IValue.from(config.attentionScale()), IValue.from(keepInputs || gates != null),
                    g[0], g[1], g[2], g[3]);
        }
    }

    /**
     * A later chunk over an evicted cache in one {@code prefill_segments} call: every layer's staged chunk
     * ({@link LayerKv#stagedChunk}) gets the chunk's k/v written into its ragged storage, its ownership mask updated and
     * its segments attended over, in place. Returns, in {@code out}, [final-normed x [T, hidden], attention inputs
     * [L, T, hidden] (empty unless {@code keepInputs}; with {@code gates} their scores, as {@link #prefill}'s)].
     */
    NDList prefillSegments(PtNDManager out, int[] ids, int p0, LayerKv.RaggedChunk[] chunks, boolean keepInputs,
                           FusedSinkGates.Bound gates) {
        NDArray[] cs = rope[0].window(p0, ids.length);
        int n = chunks.length;
        NDArray[][] lists = new NDArray[6][n];
        long[] longest = new long[n];
        for (int l = 0; l < n; l++) {
            LayerKv.RaggedChunk c = chunks[l];
            NDArray[] each = {c.keys(), c.values(), c.ownership(), c.rows(), c.starts(), c.used()};
            for (int i = 0; i < 6; i++) lists[i][l] = each[i];
            longest[l] = c.longest();
        }
        try (NDArray idArray = out.create(java.util.Arrays.stream(ids).asLongStream().toArray())) {
            IValue[] g = gateArguments(gates);
            return module.runKeeping("prefill_segments", out, java.util.List.of(layerWeights(), g[0]), tensor(idArray),
                    tensor(w.embedTokens), layerWeights(), tensorList(lists[0]), tensorList(lists[1]), tensorList(lists[2]),
                    tensorList(lists[3]), tensorList(lists[4]), tensorList(lists[5]), IValue.listFrom(longest),
                    tensor(chunks[0].diagonal()), tensor(cs[0]), tensor(cs[1]), tensor(rope[0].rotateHalf()),
                    tensor(w.finalNorm), IValue.from((long) config.numHeads()), IValue.from((long) config.numKvHeads()),
                    IValue.from(config.rmsNormEps()), IValue.from(config.attentionScale()), IValue.from(keepInputs || gates != null),
                    g[0], g[1], g[2], g[3]);
        }
    }

    /**
     * The whole-model calls' gate arguments: the bound parameters, rows, KV heads and epsilon; without gates a list
     * the module does not read (KV heads 0 says none: the weight list, which costs no marshalling) and no rows.
     */
    private IValue[] gateArguments(FusedSinkGates.Bound gates) {
        if (gates == null) return new IValue[] {layerWeights(), tensor(none), IValue.from(0L), IValue.from(0.0)};
        return new IValue[] {gates.params(), tensor(gates.rows()), IValue.from((long) gates.kvHeads()), IValue.from(gates.eps())};
    }

    /**
     * A later chunk over a cache in the shared layout in one {@code prefill_more} call ({@link LayerKv#sharedStorage}): every layer's shared storage
     * ({@code keys}/{@code values} [Hkv, capacity, D], {@code past} rows filled) gets the chunk's k/v written at rows
     * past.. and is attended over causally; with {@code growTo} > 0 into new storage of that capacity (the filled rows
     * copied), else in place. Returns, in {@code out}, [final-normed x [T, hidden], attention inputs [L, T, hidden]
     * (empty unless {@code keepInputs}; with {@code gates} their scores, as {@link #prefill}'s), then, when grown,
     * every layer's new k, v].
     */
    NDList prefillMore(PtNDManager out, int[] ids, int p0, NDArray[] keys, NDArray[] values, int past, int growTo,
                       boolean keepInputs, FusedSinkGates.Bound gates) {
        NDArray[] cs = rope[0].window(p0, ids.length);
        try (NDArray idArray = out.create(java.util.Arrays.stream(ids).asLongStream().toArray())) {
            IValue[] g = gateArguments(gates);
            // outside inference mode: grown storage becomes the cache's, which appends write in place; every argument
            // but the kept lists is closed (the storage lists only, not their arrays)
            return module.runWritable("prefill_more", out, java.util.List.of(layerWeights(), g[0]), tensor(idArray),
                    tensor(w.embedTokens), layerWeights(), tensorList(keys), tensorList(values), IValue.from((long) past),
                    IValue.from((long) growTo), tensor(cs[0]), tensor(cs[1]), tensor(rope[0].rotateHalf()),
                    tensor(w.finalNorm), IValue.from((long) config.numHeads()), IValue.from((long) config.numKvHeads()),
                    IValue.from(config.rmsNormEps()), IValue.from(config.attentionScale()), IValue.from(keepInputs || gates != null),
                    g[0], g[1], g[2], g[3]);
        }
    }

    void close() {
        if (layerWeights != null) layerWeights.close();
    }

    /**
     * Input RMSNorm, q/k/v projections, q/k norm and RoPE of {@code layer} for x [T, hidden] at positions p0...
     * Returns h [T, hidden] (the attention input), q [H, T, D], k [Hkv, T, D], v [Hkv, T, D] in x's manager.
     */
    NDList in(int layer, NDArray x, int p0) {
        return module.run("decoder_in", (PtNDManager) x.getManager(), inArguments(layer, x, p0));
    }

    /** decoder_in's arguments. */
    private IValue[] inArguments(int layer, NDArray x, int p0) {
        Weights.Layer lw = w.layers[layer];
        NDArray[] cs = rope[layer].window(p0, (int) x.getShape().get(0));
        return new IValue[] {tensor(x), tensor(lw.inputNorm()), tensor(lw.qkvT()), tensor(orNone(lw.qkvBias())),
                tensor(orNone(lw.qkNorm())), tensor(cs[0]), tensor(cs[1]), tensor(rope[layer].rotateHalf()),
                IValue.from((long) config.numHeads()), IValue.from((long) config.numKvHeads()), IValue.from(config.rmsNormEps())};
    }

    /** o_proj over attn [H, T, D], residual, post-attention norm, MLP, residual: the layer's output [T, hidden]. */
    NDArray out(int layer, NDArray x, NDArray attn) {
        Weights.Layer lw = w.layers[layer];
        return module.run("decoder_out", (PtNDManager) x.getManager(), tensor(x), tensor(attn), tensor(lw.oT()),
                tensor(orNone(lw.oBias())), tensor(lw.postAttentionNorm()), tensor(lw.gateUpT()), tensor(lw.downT()),
                IValue.from(config.rmsNormEps())).get(0);
    }

    private NDArray orNone(NDArray a) {
        return a == null ? none : a;
    }
}
