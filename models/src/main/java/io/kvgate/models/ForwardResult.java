package io.kvgate.models;

import ai.djl.ndarray.NDArray;

/**
 * Output of one forward pass, attached to the caller's scope manager.
 *
 * @param logits     float32 [T, vocab] (Logits.ALL), [1, vocab] (LAST) or null (NONE)
 * @param hiddenLast float32 [T, hidden] after the final norm, or null unless asked for
 */
public record ForwardResult(NDArray logits, NDArray hiddenLast) {}
