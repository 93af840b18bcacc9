package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.kvgate.models.FusedAttention.tensor;

/**
 * A greedy-decoding step of a whole Qwen2/Qwen3 model as one call of the fused module's {@code decode_step}
 * (tools/make_fused_attention.py) and, when the module was written with kvgate's CUDA-graph operators
 * (native/kvgate_cuda_graph.cpp), as one replay of a captured CUDA graph.
 *
 * <p>Why: op by op, a step of the 0.6B model is ~1000 kernels, each ~10 µs of host time (a JNI call, or TorchScript's
 * interpreter), so the GPU idled most of a 13–25 ms step (BENCHMARKS.md). The step reads everything that changes
 * from one small int64 tensor (token id, position, each layer's write index) and writes the cache in place, so its
 * kernels are the same at every step and one capture serves every following step of the sequence, until a layer
 * re-allocates its storage (growth, eviction) or the RoPE tables grow: then it is captured again. Steps that need
 * more than attention inputs from the pass (attention probabilities, observers of other kinds) keep Model's path.
 */
final class DecodeGraph {
    /** {@code KVGATE_DECODE_GRAPH=0} (or {@code -Dkvgate.decodeGraph=false}) keeps the layer-by-layer decode (A/B timing). */
    static final String ENV = "KVGATE_DECODE_GRAPH";
    /** Captured graphs kept at once (one per sequence being decoded; older ones are freed). */
    private static final int MAX_GRAPHS = 4;

    static boolean enabled() {
        String v = System.getProperty("kvgate.decodeGraph", System.getenv(ENV));
        return v == null || !(v.equals("0") || v.equalsIgnoreCase("false"));
    }

    private final FusedAttention module;
    private final Weights w;
    private final ModelConfig config;
    private final RotaryTables rope;
    private final NDManager manager;  // static graph inputs/outputs live here
    private final IValue layerWeights; // every layer's 9 tensors (FusedDecoderLayers owns it)
    private final NDArray none, diagonal;
    private final boolean graphs;
    private final Map<KvCache, Captured> captured = new LinkedHashMap<>(8, 0.75f, true); // least recently used first
    private long nextKey = 1;
    private long captures, replays;

    /**
     * One sequence's captured step: the arrays it was recorded against, the columns/rows each layer attends (valid
     * while every write index stays below its limit), its input and its outputs.
     */
    private record Captured(long key, NDArray[] bound, long[] limits, NDArray meta, NDArray logits, NDArray hidden) {
        boolean fits(NDArray[] arrays, LayerKv.DecodeSlot[] slots) {
            if (!sameArrays(bound, arrays)) return false;
            for (int l = 0; l < slots.length; l++) if (slots[l].ownership() == null && slots[l].writeIndex() >= limits[l]) return false;
            return true;
        }

        void free() {
            meta.close();
            logits.close();
            hidden.close();
        }
    }

    DecodeGraph(FusedAttention module, FusedDecoderLayers layers, Weights w, ModelConfig config, RotaryTables rope, NDManager parent) {
        this.module = module;
        this.w = w;
        this.config = config;
        this.rope = rope;
        this.manager = parent.newSubManager();
        this.graphs = module.hasGraphs() && parent.getDevice().isGpu();
        DataType dtype = w.embedTokens.getDataType();
        this.none = manager.zeros(new Shape(0), dtype);
        this.diagonal = LayerKv.headDiagonal(manager, config.numKvHeads(), dtype);
        this.layerWeights = layers.layerWeights();
    }

    /** Whether steps are captured CUDA graphs (else one {@code decode_step} call each). */
    boolean capturesGraphs() {
        return graphs;
    }

    /** Whether a step of this cache, watched by this observer, can run here. */
    boolean accepts(KvCache cache, ForwardObserver observer) {
        return cache.nextPosition() > 0 && (observer == null || observer.attentionInputsOnly());
    }

    /**
     * Feeds token {@code id} at the cache's next position through every layer, appending its keys/values in place.
     * Returns the logits [1, vocab] (float32) attached to {@code scope}; hands the attention inputs to the observer.
     */
    NDArray step(NDManager scope, KvCache cache, int id, ForwardObserver observer) {
        int layers = config.numLayers(), p = cache.nextPosition();
        NDArray[] tables = rope.tables(p + 1);
        long[] meta = new long[2 + layers];
        meta[0] = id;
        meta[1] = p;
        NDArray[] bound = new NDArray[3 * layers + 2];
        LayerKv.DecodeSlot[] slots = new LayerKv.DecodeSlot[layers];
        cache.reserve(1); // any growth of all layers in one staged re-layout, before the slots are taken
        for (int l = 0; l < layers; l++) {
            slots[l] = cache.layer(l).decodeSlot();
            meta[2 + l] = slots[l].writeIndex();
            bound[3 * l] = slots[l].keys();
            bound[3 * l + 1] = slots[l].values();
            bound[3 * l + 2] = slots[l].ownership();
        }
        bound[3 * layers] = tables[0];
        bound[3 * layers + 1] = tables[1];
        PtNDManager out = (PtNDManager) scope;
        NDList result;
        try (NDArray metaNow = scope.create(meta)) {
            Captured c = graphs ? captured.get(cache) : null;
            if (c != null && c.fits(bound, slots)) {
                replays++;
                result = invoke("decode_replay", out, IValue.from(c.key), tensor(c.meta), tensor(metaNow),
                        IValue.listFrom((PtNDArray) c.logits, (PtNDArray) c.hidden));
            } else if (graphs) {
                result = capture(out, cache, c, metaNow, slots, tables, bound);
            } else {
                result = invoke("decode_step", out, arguments(tensor(metaNow), slots, exactLimits(slots), tables));
            }
        }
        for (int l = 0; l < layers; l++) cache.layer(l).appendedInPlace(p);
        cache.advance(1);
        NDArray hidden = result.get(1);
        if (observer != null) observer.attentionInputs(hidden, new int[] {p});
        return result.get(0);
    }

    /** Runs this step and records it as a new graph for {@code cache} (replacing its stale one). */
    private NDList capture(PtNDManager out, KvCache cache, Captured stale, NDArray metaNow, LayerKv.DecodeSlot[] slots,
                           NDArray[] tables, NDArray[] bound) {
        long key;
        if (stale != null) {
            key = stale.key;
            captured.remove(cache);
            stale.free();
        } else {
            key = nextKey++;
            if (captured.size() >= MAX_GRAPHS) {
                Iterator<Map.Entry<KvCache, Captured>> eldest = captured.entrySet().iterator();
                Captured old = eldest.next().getValue();
                eldest.remove();
                old.free();
                reset(old.key);
            }
        }
        NDArray staticMeta = metaNow.duplicate(); // the graph reads this tensor: replays copy each step's meta into it
        staticMeta.attach(manager);
        long[] limits = graphLimits(slots);
        IValue[] rest = arguments(tensor(staticMeta), slots, limits, tables);
        IValue[] args = new IValue[rest.length + 1];
        args[0] = IValue.from(key);
        System.arraycopy(rest, 0, args, 1, rest.length);
        NDList r;
        try {
            r = invoke("decode_capture", out, args);
        } catch (RuntimeException e) {
            staticMeta.close();
            reset(key);
            throw new KvgateException("capturing the decode step as a CUDA graph failed (" + e.getMessage()
                    + "); " + ENV + "=0 decodes layer by layer", e);
        }
        captures++;
        NDArray staticLogits = r.get(2), staticHidden = r.get(3);
        staticLogits.attach(manager);
        staticHidden.attach(manager);
        captured.put(cache, new Captured(key, bound, limits, staticMeta, staticLogits, staticHidden));
        return new NDList(r.get(0), r.get(1));
    }

    /**
     * Columns a captured step attends per shared layer: past the write index by an eighth of it (at least 256), in
     * multiples of 256, so one capture serves that many steps while reading at most ~1/8 more than the entries (the
     * storage's doubling capacity would make it read up to 2×); ragged layers: the longest segment (their FlashAttention
     * bound on keys per head; the plain-op path reads every row).
     */
    static long[] graphLimits(LayerKv.DecodeSlot[] slots) {
        long[] limits = new long[slots.length];
        for (int l = 0; l < slots.length; l++) {
            LayerKv.DecodeSlot s = slots[l];
            int filled = s.writeIndex() + 1;
            // multiples of 256 let decode_step split p @ v into pieces (make_fused_attention.py, _splits)
            long want = roundUp(filled + Math.max(256, filled / 8), 256), fitting = s.capacity() / 256 * 256L;
            limits[l] = s.ownership() != null ? s.capacity() : want <= s.capacity() ? want : fitting >= filled ? fitting : s.capacity();
        }
        return limits;
    }

    private static long roundUp(long n, long multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    /** One uncaptured step attends exactly the filled columns. */
    private static long[] exactLimits(LayerKv.DecodeSlot[] slots) {
        long[] limits = new long[slots.length];
        for (int l = 0; l < slots.length; l++)
            limits[l] = slots[l].ownership() != null ? slots[l].capacity() : slots[l].writeIndex() + 1;
        return limits;
    }

    /** decode_step's arguments after {@code meta}; the shared weight list is kept, the rest are closed by the call. */
    private IValue[] arguments(IValue meta, LayerKv.DecodeSlot[] slots, long[] limits, NDArray[] tables) {
        int layers = slots.length;
        PtNDArray[] ks = new PtNDArray[layers], vs = new PtNDArray[layers], owns = new PtNDArray[layers];
        PtNDArray[] segments = new PtNDArray[2 * layers]; // per layer: segment table, tail rows (ragged; else empty)
        for (int l = 0; l < layers; l++) {
            LayerKv.DecodeSlot s = slots[l];
            ks[l] = (PtNDArray) s.keys();
            vs[l] = (PtNDArray) s.values();
            boolean ragged = s.ownership() != null;
            owns[l] = (PtNDArray) (ragged ? s.ownership() : none);
            segments[2 * l] = (PtNDArray) (ragged ? s.segmentTable() : none);
            segments[2 * l + 1] = (PtNDArray) (ragged ? s.tailRows() : none);
        }
        return new IValue[] {meta, tensor(w.embedTokens), layerWeights, IValue.listFrom(ks), IValue.listFrom(vs),
                IValue.listFrom(owns), IValue.listFrom(segments), IValue.listFrom(limits), tensor(diagonal), tensor(tables[0]), tensor(tables[1]), tensor(w.finalNorm),
                tensor(w.lmHeadT), IValue.from((long) config.numHeads()), IValue.from((long) config.numKvHeads()),
                IValue.from(config.rmsNormEps()), IValue.from(config.attentionScale())};
    }

    /** Runs a module method; closes every argument but the shared weight list. */
    private NDList invoke(String method, PtNDManager out, IValue... args) {
        return module.runKeeping(method, out, java.util.List.of(layerWeights), args);
    }

    /** Frees graph {@code key} and its memory pool. */
    private void reset(long key) {
        module.callForEffect("graph_reset", IValue.from(key));
    }

    private static boolean sameArrays(NDArray[] a, NDArray[] b) {
        if (a.length != b.length) return false;
        for (int i = 0; i < a.length; i++) if (a[i] != b[i]) return false;
        return true;
    }

    /** Graphs captured and replayed so far (bench profile reports them). */
    long captures() {
        return captures;
    }

    long replays() {
        return replays;
    }

    void close() {
        for (Captured c : captured.values()) {
            c.free();
            reset(c.key);
        }
        captured.clear();
        manager.close();
    }
}
