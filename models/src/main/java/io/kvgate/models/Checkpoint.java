package io.kvgate.models;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A checkpoint directory: config.json, model.safetensors or sharded model-0000x-of-0000y.safetensors
 * (+ model.safetensors.index.json), optional generation_config.json, tokenizer.json, tokenizer_config.json.
 * Opening it validates the config and the safetensors headers; tensors are memory-mapped, not read.
 */
public final class Checkpoint implements AutoCloseable {
    // TODO(models helper): implementation.

    public static Checkpoint open(Path dir) { throw new UnsupportedOperationException(); }
    public Path dir() { throw new UnsupportedOperationException(); }
    public ModelConfig config() { throw new UnsupportedOperationException(); }
    /**
     * Stable identity of the weights and architecture (hex string): a hash of config.json's normalised
     * numbers and the safetensors headers (names, dtypes, shapes, data hashes of a few tensors).
     * Gate artifacts and feature shards record it and refuse another model's.
     */
    public String fingerprint() { throw new UnsupportedOperationException(); }
    /** tokenizer.json, if present. */
    public Optional<Path> tokenizerFile() { throw new UnsupportedOperationException(); }
    /** tokenizer_config.json, if present. */
    public Optional<Path> tokenizerConfigFile() { throw new UnsupportedOperationException(); }

    @Override
    public void close() {}
}
