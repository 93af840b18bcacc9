package io.kvgate.datasets.corpus;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Reads every source of a {@link CorpusSpec} in order, feeding raw documents to a sink until it has
 * enough. Lines or rows that cannot be documents (malformed JSONL, null Parquet cells) are counted and a
 * few are kept with their locations for the report; wrong configuration (missing field or column) throws.
 */
public final class CorpusReader {
    /** Problem locations kept for messages; the count is always complete. */
    private static final int MAX_REPORTED = 20;

    private final CorpusSpec spec;
    private final List<CorpusSource> sources = new ArrayList<>();
    private final List<String> problems = new ArrayList<>();
    private long malformedLines;
    private long nullCells;

    public CorpusReader(CorpusSpec spec) {
        this.spec = spec;
        for (String s : spec.sources()) sources.addAll(CorpusSource.expand(s));
    }

    public List<CorpusSource> sources() {
        return List.copyOf(sources);
    }

    /** Feeds documents to {@code sink} until it returns false or the corpus ends. */
    public void read(Predicate<RawDocument> sink) {
        for (CorpusSource s : sources) {
            Path p = Path.of(s.location());
            boolean more = switch (s.kind()) {
                case TEXT -> TextDocuments.read(p, spec.splitParagraphs(), sink);
                case JSONL -> JsonlDocuments.read(p, spec.textField(), sink, this::malformed);
                case PARQUET -> ParquetDocuments.read(p, spec.textField(), sink, () -> nullCells++);
                case EMBEDDED -> EmbeddedCorpus.read(sink);
            };
            if (!more) return;
        }
    }

    private void malformed(String where) {
        malformedLines++;
        if (problems.size() < MAX_REPORTED) problems.add(where);
    }

    public long malformedLines() {
        return malformedLines;
    }

    public long nullCells() {
        return nullCells;
    }

    /** The first few problems, as {@code file:line: reason}. */
    public List<String> problems() {
        return List.copyOf(problems);
    }
}
