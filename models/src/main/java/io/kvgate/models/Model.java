package io.kvgate.models;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Activation;
import ai.djl.pytorch.engine.PtNDManager;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A frozen checkpoint loaded onto a device: weights (loaded once) plus the per-architecture forward pass.
 * Per-sequence state lives in {@link KvCache}; one Model can serve many caches (not concurrently).
 *
 * <p>The decoder layers follow transformers' modeling_qwen2/qwen3/gemma3 line by line, with their names:
 * {@link #qwenDecoderLayer} (Qwen2: q/k/v bias; Qwen3: per-head q/k RMSNorm) and {@link #gemma3DecoderLayer}
 * ((1 + w) RMSNorm in float32, pre/post attention and feed-forward norms, GELU-tanh MLP); both call the
 * shared {@link #selfAttention} over the cache.
 */
public final class Model implements AutoCloseable {
    /** Tokens per prefill chunk unless a caller asks otherwise. */
    public static final int DEFAULT_PREFILL_CHUNK = 512;

    private final Checkpoint checkpoint;
    private final ModelConfig config;
    private final NDManager manager;
    private final DataType dtype;
    private final Weights w;
    private final RotaryTables[] rope; // per layer (shared between layers with the same theta/factor)
    private final float embedScale;    // Gemma3: sqrt(hidden), rounded like transformers' embed_scale buffer
    private int prefillChunk = DEFAULT_PREFILL_CHUNK;
    /**
     * Scalar operands as device arrays, made once. DJL turns a Java scalar operand ({@code x.mul(0.5f)}) into a
     * new host tensor copied to the device on every call, and libtorch's blocking host-to-device copy waits for
     * all queued GPU work: on a GPU each such op was a full device sync (BENCHMARKS.md, GPU section).
     */
    private final Map<Float, NDArray> constants = new HashMap<>();
    /** Fused attention function when one is configured (docs/GPU.md), else null. */
    private final FusedAttention fused;
    /** Whole Qwen decoder layers in two fused calls when the fused module has them, else null (Model's own ops). */
    private final FusedDecoderLayers fusedLayers;
    /** Decode steps as one call / one CUDA-graph replay when the fused module has decode_step, else null. */
    private final DecodeGraph decodeGraph;
    /** Whether a first chunk (empty cache) runs as one call of the fused module's {@code prefill}. */
    private final boolean wholePrefill;
    /** Sink gates scored by the fused module when one is loaded, else null. */
    private final FusedSinkGates fusedSinkGates;
    /**
     * Fewest new tokens for which a layer whose heads hold different entries is attended per head (gathered into a
     * padded [Hkv, L, D]) instead of flat over the whole layer: flat costs numKvHeads× the score FLOPs, which only
     * the few queries of decode steps can afford.
     */
    static final int FLAT_MAX_QUERIES = 16;
    private long attentionChains, wholeModelChunks;

    private Model(Checkpoint checkpoint, NDManager manager, DataType dtype, Weights w, RotaryTables[] rope, float embedScale) {
        this.embedScale = embedScale;
        this.checkpoint = checkpoint;
        this.config = checkpoint.config();
        this.manager = manager;
        this.dtype = dtype;
        this.w = w;
        this.rope = rope;
        this.fused = FusedAttention.fromEnvironment(manager, manager.getDevice());
        this.fusedLayers = fused != null && config.family() != ModelConfig.Family.GEMMA3 && FusedDecoderLayers.enabled()
                ? new FusedDecoderLayers(fused, w, config, rope, manager) : null;
        // fused attention never materialises a chunk's scores, so chunks can be long (fewer JNI calls per token):
        // with bottom-right causal flash attention a whole context up to LAYER_PREFILL_CHUNK goes in one chunk
        if (fused != null) this.prefillChunk = FusedAttention.LAYER_PREFILL_CHUNK;
        this.decodeGraph = fusedLayers != null && DecodeGraph.enabled() && wholeModelStepFits()
                ? new DecodeGraph(fused, fusedLayers, w, config, rope[0], manager) : null;
        this.wholePrefill = fusedLayers != null && wholeModelStepFits()
                && FusedDecoderLayers.switchedOn("kvgate.wholePrefill", FusedDecoderLayers.WHOLE_PREFILL_ENV);
        this.fusedSinkGates = fused != null && FusedDecoderLayers.switchedOn("kvgate.fusedGates", FusedSinkGates.ENV) ? new FusedSinkGates(fused) : null;
        constant((float) config.attentionScale()); // made now: the fused path never asks for it, Model's own path does
    }

    /** decode_step's model: no sliding-window layers, one RoPE table for all layers, no logit soft-capping. */
    private boolean wholeModelStepFits() {
        for (int l = 0; l < config.numLayers(); l++)
            if (config.windowOf(l) > 0 || rope[l] != rope[0]) return false;
        return config.finalLogitSoftcap() <= 0 && config.attnLogitSoftcap() <= 0;
    }

    /**
     * Sink gates of many layers in one call of the fused module (one kernel after the projections on a GPU with kvgate's
     * operators), or null when no fused module is loaded or {@code KVGATE_FUSED_GATES=off}: gate scorers then compute
     * with their own ops.
     */
    public FusedSinkGates fusedSinkGates() {
        return fusedSinkGates;
    }

    /** Whether decode steps run as one captured CUDA graph (docs/GPU.md); for reports. */
    public String decodePath() {
        if (decodeGraph == null) return fusedLayers != null ? "fused layers" : "layer by layer";
        return decodeGraph.capturesGraphs() ? "CUDA graph (" + decodeGraph.captures() + " captures, " + decodeGraph.replays() + " replays)"
                : "one decode_step call";
    }

    /**
     * {allocated bytes now, peak allocated bytes} of torch's caching allocator on this model's GPU, or null where
     * unknown (CPU, or no fused module with kvgate's CUDA-graph operators: DJL exposes no allocator counters).
     */
    public long[] deviceMemory() {
        return fused != null && device().isGpu() ? fused.memoryStats(device().getDeviceId()) : null;
    }

    /** Starts a new peak for {@link #deviceMemory} (no-op where it is unknown). */
    public void resetPeakDeviceMemory() {
        if (fused != null && device().isGpu()) fused.resetPeakMemory(device().getDeviceId());
    }

    /**
     * Starts recording the GPU's own time by kernel (after the work queued so far), or returns null where that is not
     * available: CPU, or no fused module with kvgate's CUDA-graph operators (their Kineto profiler, {@link GpuTrace}).
     */
    public GpuTrace startGpuTrace() {
        return fused != null && fused.hasGraphs() && device().isGpu() ? GpuTrace.start(fused, this) : null;
    }

    /** Loads weights (bf16/f16/f32 on disk) converted to {@code dtype} (FLOAT32, or FLOAT16 on GPU). */
    public static Model load(Checkpoint checkpoint, Device device, DataType dtype) {
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16)
            throw new KvgateException("compute dtype " + dtype + " is not supported (use float32, or float16 on a GPU)");
        defaultIntraOpThreads();
        NDManager manager = NDManager.newBaseManager(device, "PyTorch");
        try {
            ModelConfig c = checkpoint.config();
            Weights w = Weights.load(checkpoint, manager, dtype);
            RotaryTables[] rope = new RotaryTables[c.numLayers()];
            Map<String, RotaryTables> shared = new HashMap<>();
            int initial = Math.min(c.maxPositions(), 4096);
            SafetensorsFile.Dtype freqDtype = c.checkpointDtype() != null ? c.checkpointDtype()
                    : checkpoint.tensor("embed_tokens.weight").info().dtype();
            for (int l = 0; l < c.numLayers(); l++) {
                double theta = c.ropeTheta(l), factor = c.ropeLinearFactor(l);
                rope[l] = shared.computeIfAbsent(theta + "/" + factor,
                        k -> new RotaryTables(manager, c.headDim(), theta, factor, freqDtype, dtype, initial));
            }
            float embedScale = BufferRounding.roundTo(freqDtype, (float) Math.sqrt(c.hiddenSize()));
            return new Model(checkpoint, manager, dtype, w, rope, embedScale);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * libtorch's OpenMP workers spin-wait: on a shared machine with every core busy, using all cores made a tiny
     * model's decode step ~40x slower (measured 170 ms vs 4 ms on 2 loaded cores). Unless the user set
     * {@code -Dai.djl.pytorch.num_threads}, use half the cores (1 on a 2-core machine). Must run before DJL's
     * engine starts, hence here, before the first NDManager.
     */
    static void defaultIntraOpThreads() {
        if (System.getProperty("ai.djl.pytorch.num_threads") == null)
            System.setProperty("ai.djl.pytorch.num_threads", String.valueOf(Math.max(1, Runtime.getRuntime().availableProcessors() / 2)));
    }

    /** Loads on the CPU in float32. */
    public static Model load(Checkpoint checkpoint) {
        return load(checkpoint, Device.cpu(), DataType.FLOAT32);
    }

    public Checkpoint checkpoint() { return checkpoint; }
    public ModelConfig config() { return config; }
    /**
     * Blocks until the device has finished all queued work, for timings: a forward pass returns once its ops are queued.
     * (Reading back one value of an array made after that work waits for the stream.)
     */
    public void awaitDevice() {
        if (!device().isGpu()) return;
        try (NDArray one = manager.zeros(new ai.djl.ndarray.types.Shape(1))) {
            one.toFloatArray();
        }
    }

    /** The manager that owns the weights; create per-step child managers from it. */
    public NDManager manager() { return manager; }
    public Device device() { return manager.getDevice(); }
    public DataType dtype() { return dtype; }

    /** Tokens per prefill chunk used by {@link #forward(NDManager, KvCache, int[], ForwardOptions)}. */
    public int prefillChunk() { return prefillChunk; }

    public void setPrefillChunk(int tokens) {
        if (tokens <= 0) throw new KvgateException("prefill chunk size must be positive, found " + tokens);
        prefillChunk = tokens;
    }

    /** An empty cache for one sequence, on this model's device. */
    public KvCache newCache() {
        return new KvCache(manager, config.numLayers(), config.numKvHeads(), config.headDim(), dtype, fused);
    }

    /**
     * Feeds {@code ids} at positions {@code cache.nextPosition()...} (chunked internally as needed).
     * Results are attached to {@code scope}; every intermediate is freed before returning.
     */
    public ForwardResult forward(NDManager scope, KvCache cache, int[] ids, ForwardOptions options) {
        return forward(scope, cache, ids, options, prefillChunk);
    }

    /**
     * As {@link #forward(NDManager, KvCache, int[], ForwardOptions)} with an explicit prefill chunk size.
     * With {@code extendCache == false} the tokens go in one chunk (they must see each other but are not stored).
     */
    public ForwardResult forward(NDManager scope, KvCache cache, int[] ids, ForwardOptions options, int chunkSize) {
        if (ids.length == 0) throw new KvgateException("forward: no token ids given");
        for (int i = 0; i < ids.length; i++)
            if (ids[i] < 0 || ids[i] >= config.vocabSize())
                throw new KvgateException("token id " + ids[i] + " at index " + i + " is outside the vocabulary [0, " + config.vocabSize() + ")");
        if (chunkSize <= 0) throw new KvgateException("prefill chunk size must be positive, found " + chunkSize);
        if (cache.numLayers() != config.numLayers() || cache.numKvHeads() != config.numKvHeads() || cache.headDim() != config.headDim()
                || cache.dtype() != dtype)
            throw new IllegalArgumentException("this cache was made for another model (" + cache.numLayers() + " layers, "
                    + cache.numKvHeads() + " KV heads, head_dim " + cache.headDim() + ", " + cache.dtype() + ")");
        if (ids.length == 1 && options.extendCache() && !options.keepHidden() && decodeGraph != null
                && decodeGraph.accepts(cache, options.observer())) {
            NDArray logits = decodeGraph.step(scope, cache, ids[0], options.observer());
            if (options.logits() == ForwardOptions.Logits.NONE) {
                logits.close();
                logits = null;
            }
            return new ForwardResult(logits, null);
        }
        int step = options.extendCache() ? chunkSize : ids.length;
        List<NDArray> logits = new ArrayList<>(), hidden = new ArrayList<>();
        try (NDManager acc = scope.newSubManager()) {
            for (int s = 0; s < ids.length; s += step) {
                int[] chunk = Arrays.copyOfRange(ids, s, Math.min(ids.length, s + step));
                boolean last = s + step >= ids.length;
                try (NDManager st = manager.newSubManager()) {
                    NDArray h = runChunk(st, cache, chunk, options);
                    if (options.logits() == ForwardOptions.Logits.ALL) logits.add(keep(lmHead(h), acc));
                    else if (options.logits() == ForwardOptions.Logits.LAST && last)
                        logits.add(keep(lmHead(h.get(new NDIndex("{}:", chunk.length - 1))), acc));
                    if (options.keepHidden()) hidden.add(keep(h.toType(DataType.FLOAT32, false), acc));
                }
            }
            return new ForwardResult(join(logits, scope), join(hidden, scope));
        }
    }

    private static NDArray keep(NDArray a, NDManager m) {
        a.attach(m);
        return a;
    }

    private static NDArray join(List<NDArray> parts, NDManager scope) {
        if (parts.isEmpty()) return null;
        NDArray j = parts.size() == 1 ? parts.get(0) : NDArrays.concat(new NDList(parts), 0);
        j.attach(scope);
        return j;
    }

    /** One chunk through every layer; returns the final-norm hidden states [T, hidden]. */
    private NDArray runChunk(NDManager st, KvCache cache, int[] ids, ForwardOptions opt) {
        int t = ids.length, p0 = cache.nextPosition();
        ForwardObserver obs = opt.observer();
        int[] positions = obs == null ? null : java.util.stream.IntStream.range(p0, p0 + t).toArray();
        if (wholePrefill && opt.extendCache() && (obs == null || obs.attentionInputsOnly())) {
            if (cache.totalEntries() == 0) return wholeFirstChunk((PtNDManager) st, cache, ids, p0, obs, positions);
            NDArray x = wholeLaterChunk((PtNDManager) st, cache, ids, p0, obs, positions);
            if (x != null) return x;
        }
        AttentionMasks masks = new AttentionMasks(st, p0, t);
        boolean gemma = config.family() == ModelConfig.Family.GEMMA3;
        // an evicted cache's int data for the whole chunk crosses to the device up front, not layer by layer
        if (opt.extendCache()) cache.prepareChunk(t, p0, l -> t >= FLAT_MAX_QUERIES && config.windowOf(l) == 0
                && fusedAttends(obs != null && obs.wantsAttentionProbs(l)));
        if (wholePrefill && opt.extendCache() && (obs == null || obs.attentionInputsOnly())) {
            NDArray whole = wholeEvictedChunk((PtNDManager) st, cache, ids, p0, obs, positions);
            if (whole != null) return whole;
        }

        // embed_tokens (Gemma3: scaled by sqrt(hidden))
        NDArray x = keep(w.embedTokens.get(new NDIndex("{}", st.create(Arrays.stream(ids).asLongStream().toArray()))), st);
        if (gemma) x = x.mul(constant(embedScale));

        for (int l = 0; l < config.numLayers(); l++) {
            // each layer's intermediates (and its input) live in their own scope, freed when the layer ends: a chunk's
            // peak memory is one layer's attention scores, not all layers' (results land in their first operand's manager)
            try (NDManager layerScope = st.newSubManager()) {
                x.attach(layerScope);
                Step s = new Step(layerScope, l, cache, p0, masks, opt, positions);
                NDArray out = gemma ? gemma3DecoderLayer(x, s)
                        : fusedLayers != null && !(obs != null && obs.wantsAttentionProbs(l)) ? fusedQwenDecoderLayer(x, s)
                        : qwenDecoderLayer(x, s);
                if (obs != null) obs.layerOutput(l, out);
                x = keep(out, st);
            }
        }
        // final norm
        x = gemma ? gemmaRmsNorm(x, w.finalNorm) : rmsNorm(x, w.finalNorm);

        if (opt.extendCache()) {
            cache.endChunk();
            cache.advance(t);
            for (int l = 0; l < config.numLayers(); l++)
                if (config.isSlidingLayer(l)) cache.dropInvisible(l, config.slidingWindow());
        }
        return x;
    }

    /**
     * A first chunk through every layer in one call of the fused module ({@link FusedDecoderLayers#prefill}): the same
     * functions as the layer-by-layer path, without a JNI round trip per layer. Every layer's k/v become its storage.
     */
    private NDArray wholeFirstChunk(PtNDManager st, KvCache cache, int[] ids, int p0, ForwardObserver obs, int[] positions) {
        FusedSinkGates.Bound gates = obs == null ? null : obs.wholeChunkGates();
        NDList r = fusedLayers.prefill(st, ids, p0, obs != null, gates);
        for (int l = 0; l < config.numLayers(); l++) cache.layer(l).append(r.get(2 + 2 * l), r.get(3 + 2 * l), p0, true);
        attentionChains += config.numLayers();
        wholeModelChunks++;
        handOver(obs, gates, r.get(1), positions);
        cache.advance(ids.length);
        return r.get(0);
    }

    /**
     * A later chunk over a cache in the shared layout (unevicted, or evicted alike in every head), through every layer
     * in one call of the fused module ({@link FusedDecoderLayers#prefillMore}): its k/v written into each layer's shared
     * storage in place. Null (nothing run) when some layer is ragged: {@link #wholeEvictedChunk} or layer by layer.
     */
    private NDArray wholeLaterChunk(PtNDManager st, KvCache cache, int[] ids, int p0, ForwardObserver obs, int[] positions) {
        int layers = config.numLayers(), t = ids.length, past = cache.layer(0).length(0);
        NDArray[] keys = new NDArray[layers], values = new NDArray[layers];
        int capacity = 0, growTo = 0;
        for (int l = 0; l < layers; l++) {
            LayerKv layer = cache.layer(l);
            NDArray[] storage = layer.sharedStorage(p0);
            if (storage == null || layer.length(0) != past) return null;
            keys[l] = storage[0];
            values[l] = storage[1];
            capacity = l == 0 ? (int) storage[0].getShape().get(1) : Math.min(capacity, (int) storage[0].getShape().get(1));
            growTo = Math.max(growTo, layer.grownCapacity(t));
        }
        // growth in the same call (every layer to one capacity), not a zeroed allocation and copy per K/V from here
        if (growTo <= capacity) growTo = 0;
        FusedSinkGates.Bound gates = obs == null ? null : obs.wholeChunkGates();
        NDList r = fusedLayers.prefillMore(st, ids, p0, keys, values, past, growTo, obs != null, gates);
        for (int l = 0; l < layers; l++) {
            if (growTo > 0) cache.layer(l).adoptGrown(r.get(2 + 2 * l), r.get(3 + 2 * l));
            cache.layer(l).appendedInPlace(p0, t);
        }
        attentionChains += layers;
        wholeModelChunks++;
        handOver(obs, gates, r.get(1), positions);
        cache.advance(t);
        return r.get(0);
    }

    /**
     * A later chunk over an evicted cache (every layer ragged, the chunk staged by {@link KvCache#prepareChunk}), through
     * every layer in one call of the fused module ({@link FusedDecoderLayers#prefillSegments}): each layer's storage and
     * ownership mask written in place. Null (nothing run) when some layer is not so: the chunk goes layer by layer.
     */
    private NDArray wholeEvictedChunk(PtNDManager st, KvCache cache, int[] ids, int p0, ForwardObserver obs, int[] positions) {
        int layers = config.numLayers(), t = ids.length;
        LayerKv.RaggedChunk[] chunks = new LayerKv.RaggedChunk[layers];
        for (int l = 0; l < layers; l++) if ((chunks[l] = cache.layer(l).stagedChunk(t, p0)) == null) return null;
        FusedSinkGates.Bound gates = obs == null ? null : obs.wholeChunkGates();
        NDList r = fusedLayers.prefillSegments(st, ids, p0, chunks, obs != null, gates);
        for (int l = 0; l < layers; l++) cache.layer(l).appendedStagedInPlace(p0, t);
        attentionChains += layers;
        wholeModelChunks++;
        handOver(obs, gates, r.get(1), positions);
        cache.endChunk();
        cache.advance(t);
        return r.get(0);
    }

    /** A whole-model chunk's second output to its observer: the gates' scores when it bound gates, else the attention inputs. */
    private static void handOver(ForwardObserver obs, FusedSinkGates.Bound gates, NDArray second, int[] positions) {
        if (obs == null) return;
        if (gates != null) obs.gateScores(gates.layers(), second, positions);
        else obs.attentionInputs(second, positions);
    }

    /** Everything a layer needs besides the hidden state. */
    private record Step(NDManager st, int layer, KvCache cache, int p0, AttentionMasks masks, ForwardOptions opt, int[] positions) {}

    /** Qwen2 / Qwen3 decoder layer (modeling_qwen2.py / modeling_qwen3.py, Qwen*DecoderLayer.forward). */
    private NDArray qwenDecoderLayer(NDArray x, Step s) {
        Weights.Layer lw = w.layers[s.layer];
        // input_layernorm
        NDArray h = rmsNorm(x, lw.inputNorm());
        if (s.opt.observer() != null) s.opt.observer().attentionInput(s.layer, h, s.positions);
        // self_attn, residual
        x = x.add(selfAttention(h, s));
        // post_attention_layernorm, mlp (SwiGLU: down(silu(gate(x)) * up(x))), residual
        h = rmsNorm(x, lw.postAttentionNorm());
        NDArray gateUp = h.matMul(lw.gateUpT());
        long inter = config.intermediateSize();
        NDArray gate = gateUp.get(new NDIndex(":, 0:{}", inter)), up = gateUp.get(new NDIndex(":, {}:", inter));
        NDArray act = gate.mul(Activation.sigmoid(gate)).mul(up);
        return x.add(act.matMul(lw.downT()));
    }

    /**
     * {@link #qwenDecoderLayer} with its projections, norms, RoPE, o_proj and MLP in two fused calls
     * ({@link FusedDecoderLayers}); the cache append and attention are {@link #attend}, as in the reference path.
     */
    private NDArray fusedQwenDecoderLayer(NDArray x, Step s) {
        ForwardObserver obs = s.opt.observer();
        NDList in = fusedLayers.in(s.layer, x, s.p0);
        NDArray q = in.get(1), k = in.get(2), v = in.get(3);
        if (obs != null) {
            obs.attentionInput(s.layer, in.get(0), s.positions);
            obs.queriesKeys(s.layer, q, k);
        }
        return fusedLayers.out(s.layer, x, attend(q, k, v, s, true));
    }

    /** Gemma3 decoder layer (modeling_gemma3.py, Gemma3DecoderLayer.forward). */
    private NDArray gemma3DecoderLayer(NDArray x, Step s) {
        Weights.Layer lw = w.layers[s.layer];
        // input_layernorm
        NDArray h = gemmaRmsNorm(x, lw.inputNorm());
        if (s.opt.observer() != null) s.opt.observer().attentionInput(s.layer, h, s.positions);
        // self_attn, post_attention_layernorm, residual
        x = x.add(gemmaRmsNorm(selfAttention(h, s), lw.postAttentionNorm()));
        // pre_feedforward_layernorm, mlp (down(gelu_tanh(gate(x)) * up(x))), post_feedforward_layernorm, residual
        h = gemmaRmsNorm(x, lw.preFeedforwardNorm());
        NDArray gateUp = h.matMul(lw.gateUpT());
        long inter = config.intermediateSize();
        NDArray gate = gateUp.get(new NDIndex(":, 0:{}", inter)), up = gateUp.get(new NDIndex(":, {}:", inter));
        NDArray mlp = geluTanh(gate).mul(up).matMul(lw.downT());
        return x.add(gemmaRmsNorm(mlp, lw.postFeedforwardNorm()));
    }

    /**
     * Self-attention of one layer for T new tokens (h: [T, hidden] after the input norm): q/k/v projections,
     * q/k norm, RoPE, cache append, attention over the cache's entries (one batched chain per layer, see {@link LayerKv}), o_proj.
     */
    private NDArray selfAttention(NDArray h, Step s) {
        Weights.Layer lw = w.layers[s.layer];
        int nq = config.numHeads(), nkv = config.numKvHeads(), d = config.headDim(), g = config.groupSize();
        int t = (int) h.getShape().get(0);
        ForwardObserver obs = s.opt.observer();

        // q_proj, k_proj, v_proj (fused) → [heads, T, D]
        NDArray qkv = h.matMul(lw.qkvT());
        if (lw.qkvBias() != null) qkv = qkv.add(lw.qkvBias());
        qkv = qkv.reshape(t, nq + 2L * nkv, d).transpose(1, 0, 2);
        NDArray qk = qkv.get(new NDIndex("0:{}", nq + nkv));
        NDArray v = qkv.get(new NDIndex("{}:", nq + nkv));
        // q_norm, k_norm (per head, before RoPE)
        if (lw.qkNorm() != null)
            qk = config.family() == ModelConfig.Family.GEMMA3 ? gemmaRmsNorm(qk, lw.qkNorm()) : rmsNorm(qk, lw.qkNorm());
        // RoPE
        qk = rope[s.layer].apply(qk, s.p0);
        NDArray q = qk.get(new NDIndex("0:{}", nq)), k = qk.get(new NDIndex("{}:", nq));
        if (obs != null) obs.queriesKeys(s.layer, q, k);
        NDArray attn = attend(q, k, v, s, false);
        // o_proj over [T, H*D]
        NDArray o = attn.transpose(1, 0, 2).reshape(t, (long) nq * d).matMul(lw.oT());
        if (lw.oBias() != null) o = o.add(lw.oBias());
        return o;
    }

    /**
     * Cache append and attention of one layer for the new tokens' q [H, T, D], k/v [Hkv, T, D] over the cache's
     * entries (per storage block of KV heads). {@code ownKv}: k and v are contiguous arrays of their own that the cache
     * may adopt as its storage (the fused decoder_in's). Returns [H, T, D].
     */
    private NDArray attend(NDArray q, NDArray k, NDArray v, Step s, boolean ownKv) {
        int nkv = config.numKvHeads(), d = config.headDim(), g = config.groupSize();
        int t = (int) q.getShape().get(1);
        ForwardObserver obs = s.opt.observer();
        boolean extend = s.opt.extendCache();
        LayerKv kv = s.cache.layer(s.layer);
        if (extend) kv.append(k, v, s.p0, ownKv);
        int window = config.windowOf(s.layer);
        boolean wantProbs = obs != null && obs.wantsAttentionProbs(s.layer);
        NDArray attn; // [H, T, D]
        if (!kv.isRagged()) {
            // every head holds the same positions: [Hkv, n, D] against [Hkv, G*T, D]
            LayerKv.Shared sh = kv.shared(s.st);
            NDArray keys = sh.keys(), values = sh.values();
            int[] keyPos = sh.positions();
            int nk = sh.length();
            if (!extend) { // the new tokens are attended to but not stored
                keyPos = java.util.Arrays.copyOf(keyPos, nk + t);
                for (int i = 0; i < t; i++) keyPos[nk + i] = s.p0 + i;
                keys = nk == 0 ? k : keys.concat(k, 1);
                values = nk == 0 ? v : values.concat(v, 1);
                nk += t;
            }
            // the chunk's own keys after a consecutive run of cached ones (an unevicted cache): the fused module's
            // bottom-right causal attention (flash / cuDNN in half precision) needs no mask
            boolean causal = fusedAttends(wantProbs) && extend && t > 1 && consecutive(keyPos, nk, s.p0 + t - 1);
            NDArray mask = causal ? null : s.masks.get(keyPos, nk, nk == 0 ? 0 : keyPos[0], nk == 0 ? 0 : keyPos[nk - 1], window);
            attn = batchedAttention(groups(q, t), keys, values, mask, null, wantProbs, causal, window, s);
        } else if (extend && t < FLAT_MAX_QUERIES && !wantProbs) {
            // heads hold different entries: every head's queries against the whole layer, kept to its own rows by a mask
            LayerKv.Flat f = kv.flat();
            NDArray mask = s.masks.get(f.rowPositions(), f.rows(), f.minPosition(), s.p0 + t - 1, window);
            attn = flatAttention(q, f, mask);
        } else if (extend && window == 0 && fusedAttends(wantProbs)) {
            // long chunks on the fused module: every head's segment of rows one sequence of a variable-length attention
            // read in place (the chunk is each head's last T entries: bottom-right causal), no gather, padding or mask
            attentionChains++;
            attn = fused.attendSegments(groups(q, t), kv.segments(s.st), config.attentionScale(), t);
        } else {
            // long chunks (or probabilities wanted): heads gathered into [Hkv, L, D], left-padded to a common length
            LayerKv.Padded p = kv.padded(s.st);
            NDArray keys = p.keys(), values = p.values();
            int[][] keyPos = p.keyPositions();
            if (!extend) {
                keys = keys.concat(k, 1);
                values = values.concat(v, 1);
                for (int head = 0; head < nkv; head++) {
                    keyPos[head] = java.util.Arrays.copyOf(keyPos[head], p.length() + t);
                    for (int i = 0; i < t; i++) keyPos[head][p.length() + i] = s.p0 + i;
                }
            }
            attn = batchedAttention(groups(q, t), keys, values, s.masks.perHead(keyPos, window), p.pad(), wantProbs, false, window, s);
        }
        return attn;
    }

    /** Whether attention goes through the fused module (it gives no probabilities and has no soft-capping). */
    private boolean fusedAttends(boolean wantProbs) {
        return fused != null && !wantProbs && config.attnLogitSoftcap() <= 0;
    }

    /** Whether positions[0..n) are consecutive and end at {@code last}. */
    private static boolean consecutive(int[] positions, int n, int last) {
        if (n == 0 || positions[n - 1] != last || positions[0] != last - n + 1) return false;
        for (int i = 1; i < n; i++) if (positions[i] != positions[i - 1] + 1) return false;
        return true;
    }

    /**
     * Softmax attention of [nh, G*T, D] queries against [nh, nk, D] keys/values (one matmul chain for all heads);
     * {@code mask} is [T, nk] or per head [nh, 1, T, nk] (additive float32, or null). {@code pad[h]}: leading key
     * columns of head h that are padding, left out of the probabilities handed to the observer. {@code causal}: the T
     * queries are the last T of nk consecutive key positions and {@code mask} is null (fused module only; sliding
     * window {@code window}). Returns [nh*G, T, D].
     */
    private NDArray batchedAttention(NDArray qb, NDArray keys, NDArray values, NDArray mask, int[] pad, boolean wantProbs,
                                     boolean causal, int window, Step s) {
        int nh = (int) qb.getShape().get(0), g = config.groupSize(), d = config.headDim();
        int t = (int) qb.getShape().get(1) / g, nk = (int) keys.getShape().get(1);
        attentionChains++;
        // the module: one call at every chunk size (decode steps use its matmul path, not sdpa)
        if (fusedAttends(wantProbs)) return fused.attend(qb, keys, values, mask, config.attentionScale(), t, causal, window);
        // [nh, G*T, nk] score matrices are the big intermediates of long contexts: free each as soon as it is used
        NDArray scores = scaledScores(qb.matMul(keys.transpose(0, 2, 1)));
        if (mask != null) scores = then(then(scores, a -> a.reshape(nh, g, t, nk)), a -> a.add(mask)); // views pin storage: close them too
        NDArray probs = then(scores, a -> a.softmax(-1));
        if (wantProbs) {
            try (NDArray p4 = probs.reshape(nh, g, t, nk)) {
                for (int i = 0; i < nh; i++) {
                    try (NDArray head = p4.get(new NDIndex("{}, :, :, {}:", i, pad == null ? 0 : pad[i]))) {
                        s.opt.observer().attentionProbs(s.layer, i, head);
                    }
                }
            }
        }
        if (dtype != DataType.FLOAT32) probs = then(probs, a -> a.toType(dtype, false));
        return then(then(probs, a -> a.reshape(nh, (long) g * t, nk)), a -> a.matMul(values)).reshape((long) nh * g, t, d);
    }

    /**
     * Attention of a few queries over a layer whose heads hold different entries: each KV head's [G*T, D] queries
     * against all stored keys [D, rows] in one matmul, kept to the head's own rows by the layout's ownership mask
     * (plus {@code positionMask} [T, rows] when causality or the window hide some keys). Reads the K/V bytes once,
     * like per-head attention, and issues no more ops than the shared layout; the scores cost numKvHeads× the
     * FLOPs, which is why long chunks go through {@link #batchedAttention} over padded heads instead. Returns [H, T, D].
     */
    private NDArray flatAttention(NDArray q, LayerKv.Flat f, NDArray positionMask) {
        int nq = config.numHeads(), nkv = config.numKvHeads(), g = config.groupSize(), d = config.headDim();
        int t = (int) q.getShape().get(1), rows = f.rows();
        attentionChains++;
        NDArray scores = then(scaledScores(groups(q, t).matMul(f.keysT())), a -> a.add(f.ownership())); // [Hkv, G*T, rows]
        if (positionMask != null) scores = then(then(scores, a -> a.reshape(nkv, g, t, rows)), a -> a.add(positionMask));
        NDArray probs = then(scores, a -> a.softmax(-1));
        if (dtype != DataType.FLOAT32) probs = then(probs, a -> a.toType(dtype, false));
        return then(probs, a -> a.matMul(f.values())).reshape(nq, t, d);
    }

    /** Queries [H, T, D] as [Hkv, G*T, D]: the G query heads of each KV head flattened, so one matmul covers the group. */
    private NDArray groups(NDArray q, int t) {
        return q.reshape(config.numKvHeads(), (long) config.groupSize() * t, config.headDim());
    }

    /** Raw scores q·kᵀ → scaled (and soft-capped where configured), in float32 for the softmax. */
    private NDArray scaledScores(NDArray raw) {
        NDArray scores = then(raw, a -> a.mul(constant((float) config.attentionScale())));
        if (config.attnLogitSoftcap() > 0) {
            float cap = (float) config.attnLogitSoftcap();
            scores = then(then(then(scores, a -> a.div(constant(cap))), NDArray::tanh), a -> a.mul(constant(cap)));
        }
        if (dtype != DataType.FLOAT32) scores = then(scores, a -> a.toType(DataType.FLOAT32, false));
        return scores;
    }

    /** Attention chains run so far (one per layer per chunk, whatever was evicted); for tests. */
    long attentionChains() {
        return attentionChains;
    }

    /** Prefill chunks run through every layer in one module call (prefill, prefill_more, prefill_segments); for tests. */
    long wholeModelChunks() {
        return wholeModelChunks;
    }

    /** Applies {@code op} and frees its input (unless the op returned it unchanged). */
    private static NDArray then(NDArray in, java.util.function.UnaryOperator<NDArray> op) {
        NDArray out = op.apply(in);
        if (out != in) in.close();
        return out;
    }

    /** A float32 scalar on the model's device (0-d, so it never changes the dtype of the array it meets). */
    private NDArray constant(float v) {
        return constants.computeIfAbsent(v, k -> manager.create(k.floatValue()));
    }

    /** Qwen RMSNorm: x / sqrt(mean(x²) + eps) in float32, cast back, times w. */
    private NDArray rmsNorm(NDArray x, NDArray weight) {
        NDArray xf = dtype == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
        NDArray n = xf.mul(xf.square().mean(new int[] {-1}, true).add(constant((float) config.rmsNormEps())).pow(constant(-0.5f)));
        if (dtype != DataType.FLOAT32) n = n.toType(dtype, false);
        return n.mul(weight);
    }

    /** Gemma3 RMSNorm: computed entirely in float32 with (1 + w) (precomputed), then cast back. */
    private NDArray gemmaRmsNorm(NDArray x, NDArray onePlusWeight) {
        NDArray xf = dtype == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
        NDArray n = xf.mul(xf.square().mean(new int[] {-1}, true).add(constant((float) config.rmsNormEps())).pow(constant(-0.5f))).mul(onePlusWeight);
        return dtype == DataType.FLOAT32 ? n : n.toType(dtype, false);
    }

    /** gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³))). */
    private NDArray geluTanh(NDArray x) {
        float beta = (float) Math.sqrt(2 / Math.PI);
        NDArray inner = x.mul(x).mul(x).mul(constant(0.044715f)).add(x).mul(constant(beta));
        return x.mul(inner.tanh().add(constant(1f))).mul(constant(0.5f));
    }

    /** lm_head (tied or not) in float32, with Gemma's final logit soft-capping when configured. */
    private NDArray lmHead(NDArray h) {
        NDArray logits = h.matMul(w.lmHeadT).toType(DataType.FLOAT32, false);
        if (config.finalLogitSoftcap() > 0) {
            float cap = (float) config.finalLogitSoftcap();
            logits = logits.div(constant(cap)).tanh().mul(constant(cap));
        }
        return logits;
    }

    @Override
    public void close() {
        if (decodeGraph != null) decodeGraph.close();
        if (fusedLayers != null) fusedLayers.close();
        if (fused != null) fused.close();
        manager.close();
    }
}
