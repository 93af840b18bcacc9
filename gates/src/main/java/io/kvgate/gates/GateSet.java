package io.kvgate.gates;

import ai.djl.ndarray.NDArray;
import io.kvgate.models.KvgateException;

import java.util.Collection;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The gates of one model, one per gated layer (Gemma3: global layers only), all of one {@link GateType}.
 * Closing it frees every gate's device copies.
 */
public final class GateSet implements AutoCloseable {
    private final GateType type;
    private final TreeMap<Integer, Gate> byLayer = new TreeMap<>();

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
    public void close() {
        byLayer.values().forEach(Gate::close);
    }
}
