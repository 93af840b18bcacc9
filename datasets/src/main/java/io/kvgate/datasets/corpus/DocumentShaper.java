package io.kvgate.datasets.corpus;

import io.kvgate.models.KvgateException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Tokenises documents and brings them to the configured lengths: documents longer than {@code maxTokens}
 * are cut into consecutive pieces, pieces shorter than {@code minTokens} are skipped (and counted), and with
 * {@code concatenateTo} > 0 consecutive pieces are joined with a blank line until at least that long (the
 * paper's ≥100K-token concatenations). The result is shuffled with the spec's seed so shards mix sources.
 * A concatenation never exceeds the longest context the model can score ({@link #withLongestContext}): the
 * piece that would overflow it is trimmed to fit (and counted). An empty result is an error, never a silent
 * empty dataset.
 */
public final class DocumentShaper {
    private final CorpusSpec spec;
    private final Function<String, int[]> encoder;
    private final int longestContext;

    /** @param encoder text → token ids, without special tokens (the model's tokenizer) */
    public DocumentShaper(CorpusSpec spec, Function<String, int[]> encoder) {
        this(spec, encoder, Integer.MAX_VALUE);
    }

    private DocumentShaper(CorpusSpec spec, Function<String, int[]> encoder, int longestContext) {
        this.spec = spec;
        this.encoder = encoder;
        this.longestContext = longestContext;
    }

    /**
     * The same shaper, with concatenations capped at {@code tokens} (what the model can score). Refuses a
     * {@code concatenateTo} above it, which could never be reached.
     */
    public DocumentShaper withLongestContext(int tokens) {
        if (spec.concatenateTo() > tokens)
            throw new KvgateException("concatenate-to " + spec.concatenateTo() + ": the model scores contexts of at most "
                    + tokens + " document tokens; lower it to at most " + tokens);
        return new DocumentShaper(spec, encoder, tokens);
    }

    public ShapedCorpus shape(CorpusReader reader) {
        Map<String, Long> skipped = new TreeMap<>();
        List<Piece> shaped = new ArrayList<>();
        long[] read = {0};
        int[] separator = encoder.apply("\n\n");
        List<Piece> pending = new ArrayList<>(); // concatenation in progress
        int[] pendingLength = {0};

        reader.read(doc -> {
            read[0]++;
            int[] ids = encoder.apply(doc.text());
            if (ids.length == 0) {
                count(skipped, CorpusSummary.EMPTY, 1);
                return true;
            }
            if (ids.length < spec.minTokens()) {
                count(skipped, CorpusSummary.TOO_SHORT, 1);
                return true;
            }
            for (int from = 0; from < ids.length; from += spec.maxTokens()) {
                int to = Math.min(ids.length, from + spec.maxTokens());
                if (to - from < spec.minTokens()) {
                    count(skipped, CorpusSummary.TAIL_TOO_SHORT, 1);
                    continue;
                }
                Piece piece = new Piece(doc.origin(), Arrays.copyOfRange(ids, from, to));
                if (spec.concatenateTo() == 0) {
                    shaped.add(piece);
                } else {
                    if (!pending.isEmpty()) pendingLength[0] += separator.length;
                    int room = longestContext - pendingLength[0];
                    if (room < 1) { // not even one more token fits: close the join short of the target by < a separator
                        pendingLength[0] -= separator.length;
                        shaped.add(join(pending, separator, pendingLength[0]));
                        pending.clear();
                        pendingLength[0] = 0;
                        room = longestContext;
                    }
                    if (piece.tokens.length > room) {
                        piece = new Piece(piece.origin, Arrays.copyOf(piece.tokens, room));
                        count(skipped, CorpusSummary.TRIMMED_TO_CONTEXT_LIMIT, 1);
                    }
                    pending.add(piece);
                    pendingLength[0] += piece.tokens.length;
                    if (pendingLength[0] >= spec.concatenateTo()) {
                        shaped.add(join(pending, separator, pendingLength[0]));
                        pending.clear();
                        pendingLength[0] = 0;
                    }
                }
                if (spec.maxDocuments() > 0 && shaped.size() >= spec.maxDocuments()) return false;
            }
            return true;
        });
        if (!pending.isEmpty()) count(skipped, CorpusSummary.INCOMPLETE_CONCATENATION, pending.size());
        if (reader.malformedLines() > 0) count(skipped, CorpusSummary.MALFORMED_LINE, reader.malformedLines());
        if (reader.nullCells() > 0) count(skipped, CorpusSummary.NULL_CELL, reader.nullCells());

        String where = String.join(", ", spec.sources());
        if (read[0] == 0 && reader.malformedLines() == 0 && reader.nullCells() == 0)
            throw new KvgateException("corpus " + where + ": empty (no documents found)");
        if (shaped.isEmpty())
            throw new KvgateException("corpus " + where + ": no usable documents (" + read[0] + " read; skipped: "
                    + describe(skipped) + "; min tokens " + spec.minTokens()
                    + (spec.concatenateTo() > 0 ? ", concatenate to " + spec.concatenateTo() : "") + ")");

        Collections.shuffle(shaped, new Random(spec.seed()));
        List<ShapedDocument> docs = new ArrayList<>(shaped.size());
        long tokens = 0;
        int min = Integer.MAX_VALUE, max = 0;
        for (Piece p : shaped) {
            docs.add(new ShapedDocument(docs.size(), p.origin, p.tokens));
            tokens += p.tokens.length;
            min = Math.min(min, p.tokens.length);
            max = Math.max(max, p.tokens.length);
        }
        List<String> files = reader.sources().stream().map(CorpusSource::location).toList();
        CorpusSummary summary = new CorpusSummary(spec, files, read[0], docs.size(), skipped, reader.problems(), tokens, min, max);
        return new ShapedCorpus(List.copyOf(docs), summary);
    }

    private static Piece join(List<Piece> pieces, int[] separator, int length) {
        int[] out = new int[length];
        int o = 0;
        for (int i = 0; i < pieces.size(); i++) {
            if (i > 0) {
                System.arraycopy(separator, 0, out, o, separator.length);
                o += separator.length;
            }
            int[] t = pieces.get(i).tokens;
            System.arraycopy(t, 0, out, o, t.length);
            o += t.length;
        }
        return new Piece(pieces.get(0).origin + (pieces.size() > 1 ? " +" + (pieces.size() - 1) : ""), out);
    }

    private static void count(Map<String, Long> m, String reason, long n) {
        m.merge(reason, n, Long::sum);
    }

    static String describe(Map<String, Long> skipped) {
        if (skipped.isEmpty()) return "none";
        StringBuilder b = new StringBuilder();
        skipped.forEach((k, v) -> b.append(b.length() == 0 ? "" : ", ").append(v).append(' ').append(k.replace('_', ' ')));
        return b.toString();
    }

    private record Piece(String origin, int[] tokens) {}
}
