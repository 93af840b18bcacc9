package io.kvgate.models;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * kvgate's optional fused TorchScript module (written by {@code tools/make_fused_attention.py}, version
 * {@link #REQUIRED_VERSION}): attention over either cache layout, the two halves of a Qwen2/Qwen3 decoder layer and a
 * whole-model decode step, each one call instead of dozens of NDArray ops. On a GPU every op is a JNI call of
 * ~10 µs; the module keeps a layer's work in few calls and the scores out of device memory. Enabled by {@code KVGATE_FUSED_ATTENTION=<file.pt>} (or system property {@code kvgate.fusedAttention});
 * without it, and where the function cannot serve (attention probabilities requested, logit soft-capping), Model
 * uses its own path, which is what the CPU tests check.
 */
final class FusedAttention implements AutoCloseable {
    static final String ENV = "KVGATE_FUSED_ATTENTION";
    /** Prefill chunk with the module: one chunk up to this size (flash attention never materialises its scores). */
    static final int LAYER_PREFILL_CHUNK = 32768;

    private final ai.djl.Model module;
    private final Block block;
    private final NDArray noMask;
    private final int version;

    private FusedAttention(ai.djl.Model module, NDManager manager) {
        this.module = module;
        this.block = module.getBlock();
        this.noMask = manager.zeros(new Shape(1, 1), DataType.FLOAT32);
        this.version = moduleVersion();
    }

    /**
     * 1: forward only (files written before the decoder-layer functions); 2: attend, decoder_in, decoder_out; 3: decode_step;
     * 4: decoder_in_gated (gates in the layer call, measured slower than kvgate's batched gates and gone in 6);
     * 5: attend_packed; 6: decode_step over per-head segments (LayerKv's ragged layout since then); 7: decoder_in takes
     * the chunk's cos/sin rows and rotate_half as a matrix; 8: prefill (a first chunk through the whole model in one call);
     * 9: sink_gate_scores ({@link FusedSinkGates}); 10: gpu_trace_start/stop ({@link GpuTrace}); 11: attend_segments
     * (the ragged storage read in place) instead of attend_packed (a gathered copy); 12: prefill_more (a later chunk over an unevicted cache in one call); 13: gather_rows (a re-layout's gathers of
     * all layers in one call, {@link RowGatherBatch}); 14: prefill/prefill_more score the inputs with bound sink gates
     * ({@link FusedSinkGates#bind}); 15: prefill_segments (a later chunk over an evicted cache in one call).
     * Only {@link #REQUIRED_VERSION} is accepted.
     */
    private int moduleVersion() {
        try (IValue v = IValueUtils.runMethod((PtSymbolBlock) block, "version")) { // a module without it throws
            return (int) v.toLong();
        } catch (RuntimeException e) {
            return 1;
        }
    }

    /** Whether the module was written with kvgate's CUDA-graph operators (decode_capture / decode_replay). */
    boolean hasGraphs() {
        if (graphs == null) {
            try (IValue v = call("has_graphs")) {
                graphs = v.toBoolean();
            }
        }
        return graphs;
    }

    private Boolean graphs;

    /** The function named by the environment, loaded for {@code device}, or null when none is configured. */
    static FusedAttention fromEnvironment(NDManager manager, Device device) {
        String file = System.getProperty("kvgate.fusedAttention", System.getenv(ENV));
        if (file == null || file.isBlank()) return null;
        Path path = Path.of(file).toAbsolutePath();
        if (!Files.isRegularFile(path)) throw new KvgateException(ENV + "=" + file + ": no such file (write it with tools/make_fused_attention.py)");
        // the profiling graph executor would re-specialise on every new key length (each decode step)
        System.setProperty("ai.djl.pytorch.graph_optimizer", "false");
        ai.djl.Model module = ai.djl.Model.newInstance("fused-attention", device, "PyTorch");
        loadGraphOperators(); // after the engine loaded libtorch, before a module that calls the operators is read
        try {
            module.load(path.getParent(), path.getFileName().toString(), Map.of("mapLocation", "true"));
        } catch (IOException | MalformedModelException | RuntimeException e) {
            module.close();
            throw new KvgateException(ENV + "=" + file + ": not a loadable TorchScript module (" + e.getMessage() + ")", e);
        }
        FusedAttention fused = new FusedAttention(module, manager);
        if (fused.version != REQUIRED_VERSION) {
            module.close();
            throw new KvgateException(ENV + "=" + file + ": module version " + fused.version + ", this kvgate needs "
                    + REQUIRED_VERSION + " (rewrite it with tools/make_fused_attention.py)");
        }
        return fused;
    }

    /** The module version (tools/make_fused_attention.py VERSION) whose function signatures this kvgate calls. */
    static final int REQUIRED_VERSION = 15;

    /** {allocated, peak allocated} bytes of torch's caching allocator (kvgate's operators), or null without them. */
    long[] memoryStats(int device) {
        if (!hasGraphs()) return null;
        try (IValue d = IValue.from((long) device); IValue r = call("memory_stats", d)) {
            return r.toLongArray();
        }
    }

    void resetPeakMemory(int device) {
        if (hasGraphs()) callForEffect("memory_reset_peak", IValue.from((long) device));
    }

    /** Runs a method that returns None; its arguments are closed. */
    void callForEffect(String method, IValue... args) {
        try (IValue r = call(method, args)) {
            // None
        } finally {
            for (IValue a : args) a.close();
        }
    }

    /** {@code KVGATE_CUDA_GRAPH_OPS}: kvgate's CUDA-graph operators (tools/build_cuda_graph_ops.sh), if named. */
    static final String GRAPH_OPS_ENV = "KVGATE_CUDA_GRAPH_OPS";
    private static boolean graphOperatorsLoaded;

    private static synchronized void loadGraphOperators() {
        String lib = System.getProperty("kvgate.cudaGraphOps", System.getenv(GRAPH_OPS_ENV));
        if (lib == null || lib.isBlank() || graphOperatorsLoaded) return;
        Path path = Path.of(lib).toAbsolutePath();
        if (!Files.isRegularFile(path)) throw new KvgateException(GRAPH_OPS_ENV + "=" + lib + ": no such file (build it with tools/build_cuda_graph_ops.sh)");
        try {
            System.load(path.toString());
        } catch (UnsatisfiedLinkError e) {
            throw new KvgateException(GRAPH_OPS_ENV + "=" + lib + ": cannot load it (" + e.getMessage()
                    + "); build it against the torch that kvgate loads (KVGATE_TORCH_LIB)", e);
        }
        graphOperatorsLoaded = true;
    }

    /**
     * The module's {@code attend}: softmax(q kᵀ · scale + mask) v with q [nh, G*T, D] for T = {@code t} queries, k/v
     * [nh, nk, D]; {@code causal} means the queries are the last T of nk consecutive key positions (bottom-right causal,
     * flash attention in half precision; {@code mask} is then ignored), with a sliding window of {@code window} keys
     * when > 0. {@code mask}: additive float32 [T, nk] or per KV head [nh, 1, T, nk], or null. Returns [nh*G, T, D]
     * attached to q's manager.
     */
    NDArray attend(NDArray q, NDArray k, NDArray v, NDArray mask, double scale, int t, boolean causal, int window) {
        if (mask != null && mask.getShape().dimension() == 4) { // per KV head [nh, 1, T, nk] → [nh, T, nk]
            Shape s = mask.getShape();
            try (NDArray perHead = mask.reshape(s.get(0), s.get(2), s.get(3))) {
                return attend(q, k, v, perHead, scale, t, causal, window);
            }
        }
        return run("attend", (PtNDManager) q.getManager(), tensor(q), tensor(k), tensor(v), tensor(mask == null ? noMask : mask),
                IValue.from(scale), IValue.from((long) t), IValue.from(causal), IValue.from((long) window)).get(0);
    }

    /**
     * The module's {@code attend_segments}: a chunk of T = {@code t} queries q [nh, G*T, D] over a layer whose KV heads
     * hold different entries, read in place: each head's segment of rows one sequence of a variable-length attention
     * (bottom-right causal: the chunk is every head's last T entries), with no mask. Returns [nh*G, T, D] attached to
     * q's manager.
     */
    NDArray attendSegments(NDArray q, LayerKv.Segments s, double scale, int t) {
        return run("attend_segments", (PtNDManager) q.getManager(), tensor(q), tensor(s.keyRows()), tensor(s.valueRows()),
                tensor(s.starts()), tensor(s.used()), IValue.from((long) s.longest()), IValue.from(scale),
                IValue.from((long) t)).get(0);
    }

    /**
     * The module's {@code gather_rows}: for every layer i, rows {@code index[offsets[i] .. offsets[i] + counts[i])} of
     * its storage ks[i]/vs[i] read as [·, 1, D] rows, in one call. Returns [k0, v0, k1, v1, ...], each [counts[i], 1, D],
     * attached to {@code manager}.
     */
    NDList gatherRows(NDArray[] ks, NDArray[] vs, NDArray index, int[] offsets, int[] counts, int headDim, PtNDManager manager) {
        return runWritable("gather_rows", manager, List.of(), tensorList(ks), tensorList(vs), tensor(index),
                IValue.listFrom(java.util.Arrays.stream(offsets).asLongStream().toArray()),
                IValue.listFrom(java.util.Arrays.stream(counts).asLongStream().toArray()), IValue.from((long) headDim));
    }

    /** A list IValue of the arrays (closing it leaves the arrays as they are). */
    static IValue tensorList(NDArray[] arrays) {
        ai.djl.pytorch.engine.PtNDArray[] pt = new ai.djl.pytorch.engine.PtNDArray[arrays.length];
        for (int i = 0; i < arrays.length; i++) pt[i] = (ai.djl.pytorch.engine.PtNDArray) arrays[i];
        return IValue.listFrom(pt);
    }

    /** Threads that switched libtorch's graph executor to plain interpretation (a thread-local setting). */
    private static final ThreadLocal<Boolean> PLAIN_EXECUTOR = ThreadLocal.withInitial(() -> false);

    /** Runs one of the module's methods; every argument IValue is closed afterwards. Outputs go to {@code manager}. */
    NDList run(String method, PtNDManager manager, IValue... args) {
        return runKeeping(method, manager, List.of(), args);
    }

    /** As {@link #run}, but leaves the arguments in {@code kept} open (lists made once and passed to every call). */
    NDList runKeeping(String method, PtNDManager manager, List<IValue> kept, IValue... args) {
        try (IValue out = call(method, args)) {
            return out.toNDList(manager);
        } finally {
            closeArguments(args, kept);
        }
    }

    private static void closeArguments(IValue[] args, List<IValue> kept) {
        for (IValue a : args) {
            boolean keep = false;
            for (IValue k : kept) keep |= a == k;
            if (!keep) a.close();
        }
    }

    /** Runs one of the module's methods and returns its raw result (to close); the arguments are left open. */
    IValue call(String method, IValue... args) {
        usePlainExecutor();
        return IValueUtils.runMethod((PtSymbolBlock) block, method, args);
    }

    /** As for forward (fromEnvironment): the profiling executor would re-specialise on every new key length. */
    private static void usePlainExecutor() {
        if (!PLAIN_EXECUTOR.get()) {
            JniUtils.setGraphExecutorOptimize(false);
            PLAIN_EXECUTOR.set(true);
        }
    }

    /**
     * As {@link #runKeeping}, outside libtorch's inference mode (with gradients off): DJL runs module methods inside
     * it, and an inference tensor refuses in-place updates outside it, so outputs that become a cache's storage, which
     * kvgate's own ops later write in place (an append), must be made here. DJL has no public call for this: its
     * native entry point is reached by reflection ({@link OutsideInferenceMode}).
     */
    NDList runWritable(String method, PtNDManager manager, List<IValue> kept, IValue... args) {
        usePlainExecutor();
        boolean grad = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try (IValue out = OutsideInferenceMode.runMethod((PtSymbolBlock) block, method, args)) {
            return out.toNDList(manager);
        } finally {
            JniUtils.setGradMode(grad);
            closeArguments(args, kept);
        }
    }

    static IValue tensor(NDArray a) {
        return IValue.from((PtNDArray) a);
    }

    @Override
    public void close() {
        module.close();
    }
}
