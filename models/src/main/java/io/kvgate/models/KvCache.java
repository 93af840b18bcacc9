package io.kvgate.models;

import ai.djl.ndarray.NDArray;

/**
 * The per-sequence key/value cache. Each (layer, KV head) holds its own compacted, variable-length set of
 * entries: keys (RoPE already applied) and values of shape [n, headDim], plus each entry's original token
 * position. {@link #retain} really frees the evicted entries' memory (the buffers are re-allocated at the
 * kept size), unlike masking.
 *
 * <p>Owns native memory: close it.
 */
public final class KvCache implements AutoCloseable {
    // TODO(models helper): implementation.

    public int numLayers() { throw new UnsupportedOperationException(); }
    public int numKvHeads() { throw new UnsupportedOperationException(); }
    /** Entries held by one head. */
    public int length(int layer, int head) { throw new UnsupportedOperationException(); }
    /** Original token positions of the head's entries, in storage order (ascending). A copy. */
    public int[] positions(int layer, int head) { throw new UnsupportedOperationException(); }
    /** Position the next appended token gets: the number of tokens ever fed, evicted or not. */
    public int nextPosition() { throw new UnsupportedOperationException(); }
    /** Keys [n, headDim] of one head, a view valid until the cache changes. */
    public NDArray keys(int layer, int head) { throw new UnsupportedOperationException(); }
    /** Values [n, headDim] of one head, a view valid until the cache changes. */
    public NDArray values(int layer, int head) { throw new UnsupportedOperationException(); }
    /** Keep only the entries at these storage indices (ascending, distinct) and free the rest. */
    public void retain(int layer, int head, int[] keepIndices) { throw new UnsupportedOperationException(); }
    /** A new cache holding copies of only the entries whose position satisfies the filter (KVzip's restricted key set). */
    public KvCache subset(java.util.function.IntPredicate keepPosition) { throw new UnsupportedOperationException(); }
    /** Bytes of key and value storage held right now (allocated capacity, not a computed estimate). */
    public long bytes() { throw new UnsupportedOperationException(); }
    /** Total entries over all layers and heads. */
    public long totalEntries() { throw new UnsupportedOperationException(); }

    @Override
    public void close() {}
}
