package io.kvgate.datasets.corpus;

import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * One readable corpus file (or the embedded corpus). A path on the command line expands to these: a
 * directory to every .txt/.md/.jsonl/.parquet file under it (sorted), a file by its extension.
 */
public record CorpusSource(Kind kind, String location) {
    public enum Kind { TEXT, JSONL, PARQUET, EMBEDDED }

    /** The name that selects the corpus shipped inside kvgate. */
    public static final String EMBEDDED_NAME = "embedded";

    public static List<CorpusSource> expand(String spec) {
        if (EMBEDDED_NAME.equals(spec)) return List.of(new CorpusSource(Kind.EMBEDDED, EMBEDDED_NAME));
        Path p = Path.of(spec);
        if (!Files.exists(p)) throw new KvgateException("corpus " + spec + ": no such file or directory");
        if (Files.isRegularFile(p)) return List.of(new CorpusSource(kindOf(p, true), p.toString()));
        List<CorpusSource> out = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(p)) {
            walk.filter(Files::isRegularFile).sorted().forEach(f -> {
                Kind k = kindOf(f, false);
                if (k != null) out.add(new CorpusSource(k, f.toString()));
            });
        } catch (IOException e) {
            throw new KvgateException("corpus " + spec + ": cannot list directory (" + e.getMessage() + ")", e);
        }
        if (out.isEmpty()) throw new KvgateException("corpus " + spec + ": directory holds no .txt, .md, .jsonl or .parquet files");
        return out;
    }

    /** File kind by extension; a file named explicitly with another extension is read as text. */
    private static Kind kindOf(Path f, boolean explicit) {
        String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".jsonl") || n.endsWith(".ndjson")) return Kind.JSONL;
        if (n.endsWith(".parquet")) return Kind.PARQUET;
        if (n.endsWith(".txt") || n.endsWith(".md") || explicit) return Kind.TEXT;
        return null;
    }

    @Override
    public String toString() {
        return location;
    }
}
