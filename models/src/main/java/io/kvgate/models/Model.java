package io.kvgate.models;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * A frozen checkpoint loaded onto a device: weights (loaded once) plus the per-architecture forward pass.
 * Per-sequence state lives in {@link KvCache}; one Model can serve many caches (not concurrently).
 */
public final class Model implements AutoCloseable {
    // TODO(models helper): implementation.

    /** Loads weights (bf16/f16/f32 on disk) converted to {@code dtype} (FLOAT32, or FLOAT16 on GPU). */
    public static Model load(Checkpoint checkpoint, Device device, DataType dtype) {
        throw new UnsupportedOperationException();
    }

    public Checkpoint checkpoint() { throw new UnsupportedOperationException(); }
    public ModelConfig config() { throw new UnsupportedOperationException(); }
    /** The manager that owns the weights; create per-step child managers from it. */
    public NDManager manager() { throw new UnsupportedOperationException(); }
    public Device device() { throw new UnsupportedOperationException(); }
    public DataType dtype() { throw new UnsupportedOperationException(); }

    /** An empty cache for one sequence, on this model's device. */
    public KvCache newCache() { throw new UnsupportedOperationException(); }

    /**
     * Feeds {@code ids} at positions {@code cache.nextPosition()...} (chunked internally as needed).
     * Results are attached to {@code scope}; every intermediate is freed before returning.
     */
    public ForwardResult forward(NDManager scope, KvCache cache, int[] ids, ForwardOptions options) {
        throw new UnsupportedOperationException();
    }

    @Override
    public void close() {}
}
