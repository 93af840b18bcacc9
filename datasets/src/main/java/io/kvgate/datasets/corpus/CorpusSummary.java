package io.kvgate.datasets.corpus;

import java.util.List;
import java.util.Map;

/**
 * What a corpus gave after shaping: recorded in the feature manifest so a reader can tell what the gates saw.
 *
 * @param spec           the corpus settings
 * @param files          the files read (directories expanded)
 * @param documentsRead  raw documents read (paragraphs, lines, rows)
 * @param documentsUsed  shaped documents produced
 * @param skipped        counts per reason ({@link #EMPTY}, {@link #TOO_SHORT}, ...)
 * @param problems       the first few problem locations ({@code file:line: reason})
 * @param tokens         tokens in all shaped documents
 * @param minLength      shortest shaped document, tokens
 * @param maxLength      longest shaped document, tokens
 */
public record CorpusSummary(CorpusSpec spec, List<String> files, long documentsRead, long documentsUsed,
                            Map<String, Long> skipped, List<String> problems, long tokens, int minLength, int maxLength) {
    public static final String EMPTY = "empty";
    public static final String TOO_SHORT = "shorter_than_min_tokens";
    public static final String TAIL_TOO_SHORT = "cut_tail_shorter_than_min_tokens";
    public static final String INCOMPLETE_CONCATENATION = "incomplete_concatenation";
    /** Pieces cut short so a concatenation fits the longest context the model can score (not dropped). */
    public static final String TRIMMED_TO_CONTEXT_LIMIT = "piece_trimmed_to_context_limit";
    public static final String MALFORMED_LINE = "malformed_jsonl_line";
    public static final String NULL_CELL = "null_parquet_cell";

    public long skippedTotal() {
        return skipped.values().stream().mapToLong(Long::longValue).sum();
    }
}
