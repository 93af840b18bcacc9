package io.kvgate.datasets.corpus;

import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/** Plain text: one document per file, or one per blank-line-separated paragraph. */
final class TextDocuments {
    private static final Pattern BLANK_LINE = Pattern.compile("\\r?\\n[ \\t]*\\r?\\n");

    private TextDocuments() {}

    static boolean read(Path file, boolean splitParagraphs, Predicate<RawDocument> sink) {
        String text;
        try {
            text = Files.readString(file);
        } catch (CharacterCodingException e) {
            throw new KvgateException(file + ": not UTF-8 text");
        } catch (IOException e) {
            throw new KvgateException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        return split(file.toString(), text, splitParagraphs, sink);
    }

    /** Feeds the text (or its paragraphs) to {@code sink}; false once the sink wants no more. */
    static boolean split(String origin, String text, boolean splitParagraphs, Predicate<RawDocument> sink) {
        if (!splitParagraphs) return sink.test(new RawDocument(origin, text.strip()));
        int k = 0;
        for (String para : BLANK_LINE.split(text)) {
            String p = para.strip();
            if (p.isEmpty()) continue;
            if (!sink.test(new RawDocument(origin + "#" + (++k), p))) return false;
        }
        return true;
    }
}
