package io.kvgate.evaluator;

/**
 * One task item answered under one policy at one ratio.
 *
 * @param charMatch     per-character match (repeat tasks; also computed for the others)
 * @param kl            KL(full ‖ evicted) over query + answer, teacher-forced, nats per position
 * @param kvBytes       KV bytes held after the context was compressed (measured)
 * @param kvBytesFull   KV bytes of the same context with the full cache (measured)
 * @param prefillMillis chunked prefill + scoring + eviction
 * @param decodeMillisPerToken query prefill and decoding, per generated token
 */
public record ItemResult(String id, String task, String policy, double ratio, boolean solved, double charMatch,
                         double kl, long kvBytes, long kvBytesFull, double prefillMillis,
                         double decodeMillisPerToken, String output) {}
