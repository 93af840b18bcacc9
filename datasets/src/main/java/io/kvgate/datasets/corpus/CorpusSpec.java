package io.kvgate.datasets.corpus;

import io.kvgate.models.KvgateException;

import java.util.List;

/**
 * Which documents to read and how to shape them (tokens counted with the model's tokenizer, before the
 * model's context wrapping is added).
 *
 * @param sources         paths (files or directories) or {@code embedded}
 * @param textField       JSONL key / Parquet column holding the text
 * @param splitParagraphs plain text files: one document per blank-line-separated paragraph instead of per file
 *                        (the embedded corpus always splits)
 * @param minTokens       documents (and cut pieces) shorter than this are skipped and counted
 * @param maxTokens       longer documents are cut into consecutive pieces of this length
 * @param concatenateTo   0 = off; else consecutive pieces are joined (blank line between) until at least this long
 * @param maxDocuments    0 = all; else stop after this many shaped documents
 * @param seed            order of the shaped documents (shuffled, so shards mix sources)
 */
public record CorpusSpec(List<String> sources, String textField, boolean splitParagraphs, int minTokens,
                         int maxTokens, int concatenateTo, int maxDocuments, long seed) {
    public CorpusSpec {
        sources = List.copyOf(sources);
        if (sources.isEmpty()) throw new KvgateException("corpus: no sources given");
        if (textField == null || textField.isBlank()) throw new KvgateException("corpus: text field must not be empty");
        if (minTokens < 1) throw new KvgateException("corpus: min tokens must be >= 1, got " + minTokens);
        if (maxTokens < minTokens)
            throw new KvgateException("corpus: max tokens (" + maxTokens + ") must be >= min tokens (" + minTokens + ")");
        if (concatenateTo < 0) throw new KvgateException("corpus: concatenate-to must be >= 0, got " + concatenateTo);
        if (maxDocuments < 0) throw new KvgateException("corpus: max documents must be >= 0, got " + maxDocuments);
    }

    /** Defaults sized for the tiny model: 200–700 tokens per document, no concatenation. */
    public static CorpusSpec of(String... sources) {
        return new CorpusSpec(List.of(sources), "text", false, 200, 700, 0, 0, 0);
    }

    public CorpusSpec withLengths(int min, int max) {
        return new CorpusSpec(sources, textField, splitParagraphs, min, max, concatenateTo, maxDocuments, seed);
    }

    public CorpusSpec withTextField(String field) {
        return new CorpusSpec(sources, field, splitParagraphs, minTokens, maxTokens, concatenateTo, maxDocuments, seed);
    }

    public CorpusSpec withSplitParagraphs(boolean split) {
        return new CorpusSpec(sources, textField, split, minTokens, maxTokens, concatenateTo, maxDocuments, seed);
    }

    public CorpusSpec withConcatenateTo(int n) {
        return new CorpusSpec(sources, textField, splitParagraphs, minTokens, maxTokens, n, maxDocuments, seed);
    }

    public CorpusSpec withMaxDocuments(int n) {
        return new CorpusSpec(sources, textField, splitParagraphs, minTokens, maxTokens, concatenateTo, n, seed);
    }

    public CorpusSpec withSeed(long s) {
        return new CorpusSpec(sources, textField, splitParagraphs, minTokens, maxTokens, concatenateTo, maxDocuments, s);
    }
}
