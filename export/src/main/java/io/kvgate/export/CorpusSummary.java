package io.kvgate.export;

/**
 * What the gates were fitted on.
 *
 * @param source        where the features came from (a directory, or a description)
 * @param tokens        token rows per layer
 * @param heldOutTokens of which held out (never fitted on; the metrics are measured on them)
 */
public record CorpusSummary(String source, long tokens, long heldOutTokens) {}
