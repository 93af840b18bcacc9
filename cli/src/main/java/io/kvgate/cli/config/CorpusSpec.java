package io.kvgate.cli.config;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code corpus:} the documents features are collected from.
 *
 * @param embedded       true when the sources include the corpus shipped inside kvgate
 * @param paths          files or directories (resolved against the config file's directory)
 * @param textField      JSONL field / Parquet column holding the text (the format follows the file extension)
 * @param splitParagraphs plain text: one document per blank-line-separated paragraph instead of per file
 * @param minTokens      documents shorter than this are skipped (counted in the manifest)
 * @param maxTokens      longer documents are cut into pieces of this length; null: what the model can score, at most 30000
 * @param concatTo       0 = off; otherwise consecutive documents are concatenated up to this many tokens
 * @param maxDocuments   0 = all
 * @param sampleFraction fraction of token positions stored per document, (0, 1]
 * @param hiddenDtype    float32 or float16 storage for hidden states
 * @param documentsPerShard documents per Parquet shard (the unit an interrupted collection resumes from)
 * @param contextTemplate how a document becomes the model's context ("{text}" with the model's markers around it),
 *                        or null for the checkpoint's default (chat template / the tiny model's markers / BOS)
 */
public record CorpusSpec(boolean embedded, List<Path> paths, String textField, boolean splitParagraphs, int minTokens,
                         Integer maxTokens, int concatTo, int maxDocuments, double sampleFraction, String hiddenDtype,
                         int documentsPerShard, String contextTemplate) {
    static final List<String> KEYS = List.of("sources", "text_field", "split_paragraphs", "min_tokens", "max_tokens",
            "concat_to", "max_documents", "sample_fraction", "hidden_dtype", "documents_per_shard", "context_template");
    public static final String EMBEDDED = "embedded";
    public static final String TEXT_SLOT = "{text}";
    public static final List<String> HIDDEN_DTYPES = List.of("float32", "float16");

    static CorpusSpec read(Section s) {
        if (!s.has("sources")) throw s.missing("sources");
        boolean embedded = false;
        List<Path> paths = new ArrayList<>();
        for (Section.Item it : s.items("sources")) {
            if (it.text().equals(EMBEDDED)) {
                embedded = true;
                continue;
            }
            Path p = s.resolve(it.text());
            if (!Files.exists(p)) {
                throw s.fail(it.node(), it.name(), it.text() + " does not exist (resolved to " + p + ")");
            }
            if (!Files.isReadable(p)) throw s.fail(it.node(), it.name(), p + " is not readable");
            paths.add(p);
        }
        String textField = s.string("text_field", "text");
        if (textField.isBlank()) throw s.fail("text_field", "must not be empty");
        boolean split = s.bool("split_paragraphs", false);
        int minTokens = s.integer("min_tokens", 200, Range.atLeast(1));
        Integer maxTokens = s.optionalInteger("max_tokens", Range.atLeast(1));
        if (maxTokens != null && maxTokens < minTokens) {
            throw s.fail("max_tokens", maxTokens + " is below min_tokens (" + minTokens + ")");
        }
        int concatTo = s.integer("concat_to", 0, Range.atLeast(0));
        if (concatTo != 0 && concatTo < minTokens) {
            throw s.fail("concat_to", concatTo + " is below min_tokens (" + minTokens + "); use 0 to turn it off");
        }
        int maxDocuments = s.integer("max_documents", 0, Range.atLeast(0));
        double fraction = s.number("sample_fraction", 0.25, Range.RATIO);
        String hiddenDtype = s.choice("hidden_dtype", "float16", HIDDEN_DTYPES);
        int perShard = s.integer("documents_per_shard", 16, Range.atLeast(1));
        String template = s.string("context_template", null);
        if (template != null && !template.contains(TEXT_SLOT)) throw s.fail("context_template", "'" + template + "' has no " + TEXT_SLOT + " slot");
        return new CorpusSpec(embedded, List.copyOf(paths), textField, split, minTokens, maxTokens, concatTo,
                maxDocuments, fraction, hiddenDtype, perShard, template);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        List<String> sources = new ArrayList<>();
        if (embedded) sources.add(EMBEDDED);
        for (Path p : paths) sources.add(p.toString());
        m.put("sources", sources);
        m.put("text_field", textField);
        m.put("split_paragraphs", splitParagraphs);
        m.put("min_tokens", minTokens);
        m.put("max_tokens", maxTokens);
        m.put("concat_to", concatTo);
        m.put("max_documents", maxDocuments);
        m.put("sample_fraction", sampleFraction);
        m.put("hidden_dtype", hiddenDtype);
        m.put("documents_per_shard", documentsPerShard);
        m.put("context_template", contextTemplate);
        return m;
    }
}
