package io.kvgate.datasets;

import io.kvgate.models.KvgateException;

import java.util.Arrays;

/**
 * The shape of every row in a feature directory: hidden size D (the {@code x} column), KV heads H (the
 * {@code target} column), the gated layers that get a file per shard, and how {@code x} is stored.
 */
public record ShardLayout(int hiddenSize, int kvHeads, int[] layers, HiddenDtype hiddenDtype) {
    public ShardLayout {
        if (hiddenSize < 1 || kvHeads < 1) throw new KvgateException("shard layout: hidden size and KV heads must be >= 1");
        if (layers.length == 0) throw new KvgateException("shard layout: no gated layers");
        layers = layers.clone();
    }

    public boolean hasLayer(int layer) {
        return Arrays.stream(layers).anyMatch(l -> l == layer);
    }

    /** Bytes of one row's {@code x} value. */
    public int xBytes() {
        return hiddenSize * hiddenDtype.bytes();
    }

    /** Bytes of one row's {@code target} value (float32 per KV head). */
    public int targetBytes() {
        return kvHeads * 4;
    }
}
