package io.kvgate.gates;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.FusedSinkGates;
import io.kvgate.models.KvgateException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The gates of one model, one per gated layer (Gemma3: global layers only), all of one {@link GateType}.
 * Closing it frees every gate's device copies and the stacked copies {@link #scoreLayers} made.
 */
public final class GateSet implements AutoCloseable {
    private final GateType type;
    private final TreeMap<Integer, Gate> byLayer = new TreeMap<>();
    private final Map<String, List<NDArray>> stacks = new java.util.HashMap<>(); // "device layers" -> stacked params
    private final Map<Device, NDManager> stackManagers = new java.util.HashMap<>();
    private final Map<String, FusedSinkGates.Bound> bindings = new java.util.HashMap<>(); // key of bindFused -> binding (or null)

    public GateSet(GateType type, Collection<? extends Gate> gates) {
        this.type = type;
        for (Gate g : gates) {
            if (g.type() != type) throw new IllegalArgumentException("layer " + g.layer() + " gate is " + g.type() + ", set is " + type);
            if (byLayer.put(g.layer(), g) != null) throw new IllegalArgumentException("two gates for layer " + g.layer());
        }
        if (byLayer.isEmpty()) throw new IllegalArgumentException("a gate set needs at least one gate");
    }

    public GateType type() {
        return type;
    }

    /** Gated layers, ascending. */
    public int[] layers() {
        return byLayer.keySet().stream().mapToInt(Integer::intValue).toArray();
    }

    public boolean has(int layer) {
        return byLayer.containsKey(layer);
    }

    /** The gate of {@code layer}; an ungated layer is a {@link KvgateException}. */
    public Gate gate(int layer) {
        Gate g = byLayer.get(layer);
        if (g == null) throw new KvgateException("no gate for layer " + layer + " (gated layers: " + byLayer.keySet() + ")");
        return g;
    }

    /** Scores [kvHeads, T] for {@code layer}'s attention input x [T, D] (see {@link Gate#score}). */
    public NDArray score(int layer, NDArray x) {
        return gate(layer).score(x);
    }

    /**
     * Scores [n, kvHeads, T] (float32) of the n {@code layers}' attention inputs {@code xs} [n, T, D] (row i is layer
     * layers[i]'s) in one batched computation on xs's device: the gates' parameters are stacked once per device and
     * layer list. Gates of unequal shapes are scored one by one and stacked. The result belongs to xs's manager.
     */
    public NDArray scoreLayers(int[] layers, NDArray xs) {
        return scoreLayers(layers, xs, null);
    }

    /**
     * As {@link #scoreLayers(int[], NDArray)}; sink gates go through {@code fused} (the model's fused module: one call, one
     * kernel after the projections on a GPU) when it is not null. The same function either way (tools/make_fused_attention.py
     * checks the module against a float64 reference; FusedSinkGatesTest the module against {@link SinkGate#scoreBatch}).
     */
    public NDArray scoreLayers(int[] layers, NDArray xs, FusedSinkGates fused) {
        if (xs.getShape().dimension() != 3 || xs.getShape().get(0) != layers.length || xs.getShape().get(2) != hiddenSize())
            throw new IllegalArgumentException("scoreLayers expects [" + layers.length + ", T, " + hiddenSize() + "], got " + xs.getShape());
        List<NDArray> w = stacked(layers, xs.getDevice(), projectionType(xs.getDataType()));
        if (w == null) return scoreEach(layers, xs, this::score);
        Gate first = gate(layers[0]);
        return fused != null && first instanceof SinkGate sink ? sink.scoreFused(xs, w, fused) : first.scoreBatch(xs, w);
    }

    /**
     * The {@code layers}' sink gates bound for a whole-model chunk call of {@code fused} (its {@code prefill},
     * {@code prefill_more} or {@code prefill_segments} then scores the attention inputs itself: one call, the same function as
     * {@link #scoreLayers} with {@code fused}), on {@code device} for inputs of {@code inputType}, of a model with
     * {@code numLayers}; made once per key and owned here (closed with the set). Null for gates that are not sink
     * gates of one shape.
     */
    public synchronized FusedSinkGates.Bound bindFused(int[] layers, int numLayers, Device device, DataType inputType,
                                                      FusedSinkGates fused) {
        String key = device + " " + projectionType(inputType) + " " + Arrays.toString(layers) + " of " + numLayers;
        if (bindings.containsKey(key)) return bindings.get(key);
        List<NDArray> w = stacked(layers, device, projectionType(inputType));
        FusedSinkGates.Bound b = w != null && gate(layers[0]) instanceof SinkGate sink ? sink.bindFused(layers, numLayers, w, fused) : null;
        bindings.put(key, b);
        return b;
    }

    /**
     * {@code KVGATE_GATE_PRECISION} (or system property {@code kvgate.gatePrecision}): {@code input} (the default) projects
     * half-precision inputs in their own precision, as the reference implementation's gates do (kvpress'
     * {@code FastKVzipGate}: {@code q_proj}/{@code k_proj} in the checkpoint's dtype, norms and sink keys in float32),
     * with tensor cores and no float32 copy of the [layers, T, hidden] inputs, and computes the rest in float32;
     * {@code float32} converts the inputs and projects in float32 (0.6B float16 on an H100: an 8K prefill's gate
     * overhead 1.147× against 1.100×, BENCHMARKS.md session 10). Float32 inputs are float32 either way.
     */
    public static final String PRECISION_ENV = "KVGATE_GATE_PRECISION";

    /** The dtype the projections of {@code input}-typed inputs run in under {@link #PRECISION_ENV}. */
    static DataType projectionType(DataType input) {
        String v = System.getProperty("kvgate.gatePrecision", System.getenv(PRECISION_ENV));
        if (v != null && !v.isBlank() && !v.equals("input") && !v.equals("float32"))
            throw new KvgateException(PRECISION_ENV + "=" + v + ": expected input or float32");
        boolean inInput = v == null || v.isBlank() || v.equals("input");
        return inInput && input == DataType.FLOAT16 ? input : DataType.FLOAT32;
    }

    /** The projections' dtype for {@code input}-typed inputs, for reports. */
    public static String projectionDtypeName(DataType input) {
        return projectionType(input).toString().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Scores [n, kvHeads, T] of xs [n, T, D] one layer at a time with {@code score(layer, x [T, D])}, stacked: for gates
     * that cannot be batched, and scorers that only score one layer. The result belongs to xs's manager.
     */
    public static NDArray scoreEach(int[] layers, NDArray xs, java.util.function.BiFunction<Integer, NDArray, NDArray> score) {
        NDManager owner = xs.getManager();
        try (NDManager scope = owner.newSubManager()) {
            NDList parts = new NDList();
            for (int i = 0; i < layers.length; i++) {
                NDArray x = xs.get(i);
                x.attach(scope);
                NDArray one = score.apply(layers[i], x);
                one.attach(scope);
                parts.add(one);
            }
            NDArray all = NDArrays.stack(parts, 0);
            all.attach(owner);
            return all;
        }
    }

    /**
     * The layers' gate parameters stacked on {@code device}, made once, the projection weights in {@code projection};
     * null when their shapes differ.
     */
    private synchronized List<NDArray> stacked(int[] layers, Device device, DataType projection) {
        String key = device + " " + projection + " " + Arrays.toString(layers);
        if (stacks.containsKey(key)) return stacks.get(key);
        List<List<NDArray>> perGate = new ArrayList<>();
        for (int l : layers) perGate.add(gate(l).deviceParams(device));
        boolean same = true;
        for (List<NDArray> w : perGate)
            for (int i = 0; i < w.size() && same; i++) same = w.get(i).getShape().equals(perGate.get(0).get(i).getShape());
        List<NDArray> w = same ? gate(layers[0]).stack(perGate, stackManagers.computeIfAbsent(device, NDManager::newBaseManager)) : null;
        if (w != null && projection != DataType.FLOAT32) {
            w = new ArrayList<>(w);
            for (int i : gate(layers[0]).projectionParams()) {
                NDArray cast = w.get(i).toType(projection, false);
                w.get(i).close();
                w.set(i, cast);
            }
        }
        stacks.put(key, w);
        return w;
    }

    public Map<Integer, Gate> byLayer() {
        return Collections.unmodifiableMap(byLayer);
    }

    public int hiddenSize() {
        return byLayer.firstEntry().getValue().hiddenSize();
    }

    public int kvHeads() {
        return byLayer.firstEntry().getValue().kvHeads();
    }

    @Override
    public synchronized void close() {
        for (FusedSinkGates.Bound b : bindings.values()) if (b != null) b.close(); // before the stacks they list
        bindings.clear();
        byLayer.values().forEach(Gate::close);
        stackManagers.values().forEach(NDManager::close);
        stackManagers.clear();
        stacks.clear();
    }
}
