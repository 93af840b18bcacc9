package io.kvgate.evaluator.policy;

/** When the evictor asks for scores. */
public enum Stage {
    /** After a prefill chunk; the context is not complete yet. */
    PREFILL_CHUNK,
    /** After the context's last chunk. */
    CONTEXT_DONE,
    /** Every decode interval (128 tokens) while the query and answer are appended. */
    DECODE
}
